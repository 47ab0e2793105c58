"""Training examples in the official benchmark layout: read, check, build (arrow of time), split.

Training and evaluation read one format, the official benchmark layout that
:mod:`cosmos_nb_utils.evaluation` reads (``<data>/<datasource>/<datasource>_benchmark_qa_pairs.json``
plus ``clips/``). Two course extensions, both optional and ignored by the official harness:

- a question may carry ``"reasoning": "..."``: fine-tuning then trains it as the ``<think>`` block
  before the answer (the reasoning answer type); questions without it train the letter alone;
- clips named ``<source>__<variant>.<ext>`` are variants of one source clip (a clip and its reversed
  twin): :func:`split_by_source` keeps all variants of a source on the same side.

Every row is checked before any model runs (:func:`check_examples`): a listed clip that is missing or
unreadable, or a key that is not among the options, is reported by file and position.
"""

from __future__ import annotations

import filecmp
import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .benchmark_data import BenchmarkDataError, make_fixture, qa_file, read_benchmark, write_json_atomic

SOURCE_SEPARATOR = "__"  # <source>__<variant>: variants of one source clip stay on one side of a split
ARROW_DATASOURCE = "arrow_of_time"
ARROW_QUESTION = "Is the video playing forward or backward?"
ARROW_OPTIONS = {"A": "forward", "B": "backward"}
OPTION_LETTER = re.compile(r"[A-Z]")  # what the official scorer can read back: one capital letter
CLIP_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm")  # what build_arrow_of_time takes from a folder

__all__ = ["Example", "TrainingDataError", "build_arrow_of_time", "check_examples", "load_examples",
           "make_fixture", "read_examples", "source_of", "split_by_source", "write_examples"]


class TrainingDataError(ValueError):
    """The training data cannot be used; the message lists every bad row by file and position."""


@dataclass(frozen=True)
class Example:
    """One training question: a clip, the question and its options, the key, and optional reasoning."""

    datasource: str
    video_id: str
    index: int  # position in the video's qa_pairs
    clip: Path
    question: str
    index2ans: dict[str, str]
    key: str
    reasoning: str = ""

    @property
    def name(self) -> str:
        return f"{self.datasource}/{self.video_id} question {self.index}"

    @property
    def source(self) -> str:
        return source_of(self.video_id)

    @property
    def answer_type(self) -> str:
        """``"reasoning"`` when the row carries reasoning to train, else ``"letter"``."""
        return "reasoning" if self.reasoning else "letter"


def source_of(video_id: str) -> str:
    """The source clip of ``video_id``: the part before ``__`` (``ball__reversed`` -> ``ball``), else the id."""
    return video_id.split(SOURCE_SEPARATOR, 1)[0]


def read_examples(data_dir: str | os.PathLike) -> tuple[list[Example], list[str]]:
    """Every question of ``data_dir`` as an :class:`Example`, and the problems found (not yet the clips' content).

    Raises :class:`TrainingDataError` for a missing folder or one that holds no questions.
    """
    try:
        bench = read_benchmark(data_dir)
    except BenchmarkDataError as exc:
        raise TrainingDataError(str(exc)) from None
    problems = list(bench.problems)
    for video in bench.missing:
        problems.append(f"{qa_file(data_dir, video.datasource).name}, video clips/{video.video_id}: the clip is "
                        f"not in {Path(data_dir) / video.datasource / 'clips'}; add it or remove its entry.")
    examples = []
    for video in bench.videos:
        for q in video.questions:
            key = q.correct_answer.strip()
            key = next((k for k in q.index2ans if k.upper() == key.upper()), key)  # "b" is option "B"
            examples.append(Example(q.datasource, q.video_id, q.index, video.clip, q.question, q.index2ans,
                                    key, q.reasoning))
    return examples, problems


def check_examples(examples: Sequence[Example], *, probe: bool = True) -> list[str]:
    """Problems of ``examples``, each naming the file and position: a key not among the options, and
    (``probe=True``) a clip the model's reader cannot read."""
    from .video.checks import VideoError
    from .video.probe import probe_video

    problems, probed = [], {}
    for ex in examples:
        where = f"{qa_file('', ex.datasource).name}, video {ex.video_id}, question {ex.index}"
        odd = [k for k in ex.index2ans if not OPTION_LETTER.fullmatch(k)]
        if odd:
            problems.append(f"{where}: option keys must be single capital letters A-Z (the benchmark's scorer reads "
                            f"the first capital letter of the answer), got {odd}; rename them.")
        elif ex.key not in ex.index2ans:
            problems.append(f"{where}: the answer {ex.key!r} is not among the options {sorted(ex.index2ans)}.")
        if probe and ex.clip not in probed:
            try:
                probe_video(ex.clip)
                probed[ex.clip] = None
            except VideoError as exc:
                probed[ex.clip] = str(exc).splitlines()[0]
        if probed.get(ex.clip):
            problems.append(f"{where}: unreadable clip {ex.clip.name}: {probed[ex.clip]}")
    return problems


def load_examples(data_dir: str | os.PathLike, *, probe: bool = True) -> list[Example]:
    """Read and check every example of ``data_dir``; raise :class:`TrainingDataError` listing all bad rows.

    Nothing is skipped silently: a training set with a bad row is refused, so what is trained is what
    the folder says.
    """
    examples, problems = read_examples(data_dir)
    problems += check_examples(examples, probe=probe)
    if problems:
        raise TrainingDataError(f"{data_dir}: {len(problems)} problem(s); fix them before training:\n  "
                                + "\n  ".join(problems))
    if not examples:
        raise TrainingDataError(f"{data_dir} holds no question with a clip to train on.")
    return examples


# ---------------------------------------------------------------- a self-supervised set: the arrow of time


def build_arrow_of_time(src_dir: str | os.PathLike, dest_dir: str | os.PathLike, *,
                        segment_seconds: float | None = None, max_clips: int | None = None,
                        datasource: str = ARROW_DATASOURCE) -> Path:
    """Write an arrow-of-time set in the official layout from any folder of clips; returns ``dest_dir``.

    Each clip (or each ``segment_seconds`` piece of it, when given) becomes two questions,
    "Is the video playing forward or backward?": the clip itself (key A, forward) and its reversed
    twin (key B, backward), made by :func:`cosmos_nb_utils.video.reverse_video`. The labels come for
    free, assuming the source clips play forward. Clips are named ``<source>__<variant>`` so that
    :func:`split_by_source` never puts a clip and its twin on different sides. Existing files are kept.
    """
    from .video.checks import VideoError
    from .video.probe import probe_video

    src_dir, dest_dir = Path(src_dir), Path(dest_dir)
    if not src_dir.is_dir():
        raise TrainingDataError(f"No folder of clips at {src_dir}: pass a folder holding .mp4 (or .mov, ...) files.")
    sources = sorted(p for p in src_dir.iterdir() if p.is_file() and p.suffix.lower() in CLIP_EXTENSIONS)
    if not sources:
        raise TrainingDataError(f"{src_dir} holds no clip ({', '.join(CLIP_EXTENSIONS)}).")
    if segment_seconds is not None and not segment_seconds >= 1.0:
        raise ValueError(f"segment_seconds must be at least 1 s (or None: whole clips), got {segment_seconds!r}.")
    if max_clips is not None and not (isinstance(max_clips, int) and max_clips >= 1):
        raise ValueError(f"max_clips must be a whole number >= 1 (or None: all), got {max_clips!r}.")
    sources = sources[:max_clips]
    stems, problems, durations = {}, [], {}
    for src in sources:  # every source checked before anything is written
        stem = src.stem.replace(SOURCE_SEPARATOR, "_")
        if stem in stems:
            problems.append(f"{src.name}: its twins would be named like those of {stems[stem].name} "
                            f"({stem}{SOURCE_SEPARATOR}forward.mp4); rename one of them.")
        stems.setdefault(stem, src)
        try:
            info = probe_video(src)
        except VideoError as exc:
            problems.append(f"{src.name}: {str(exc).splitlines()[0]}")
            continue
        if info.num_frames < 2:
            problems.append(f"{src.name}: {info.num_frames} frame(s); a clip needs at least 2 to have a direction.")
        durations[src] = info.duration
    if problems:
        raise TrainingDataError(f"{src_dir}: {len(problems)} clip(s) cannot be used; fix or move them:\n  "
                                + "\n  ".join(problems))
    clips = dest_dir / datasource / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    entries = []
    for src in sources:
        stem = src.stem.replace(SOURCE_SEPARATOR, "_")
        duration = durations[src]
        pieces = [(None, None)]
        if segment_seconds:
            count = max(1, int(duration // segment_seconds))
            pieces = [(i * segment_seconds, (i + 1) * segment_seconds) for i in range(count)]
        for i, (start, end) in enumerate(pieces):
            part = f"{stem}{SOURCE_SEPARATOR}s{i}" if segment_seconds else stem
            forward = clips / f"{part}{SOURCE_SEPARATOR}forward.mp4"
            backward = clips / f"{part}{SOURCE_SEPARATOR}backward.mp4"
            if not (forward.exists() and backward.exists()):
                _write_twins(src, forward, backward, start, None if end is None else min(end, duration))
            for path, key in ((forward, "A"), (backward, "B")):
                entries.append({"video": f"clips/{path.name}",
                                "qa_pairs": [{"question": ARROW_QUESTION, "index2ans": dict(ARROW_OPTIONS),
                                              "answer": key}]})
    write_json_atomic(qa_file(dest_dir, datasource), entries)
    return dest_dir


def _write_twins(src: Path, forward: Path, backward: Path, start: float | None, end: float | None) -> None:
    """Write a clip (or its ``start``-``end`` piece) and its reversal through the same encoder.

    Both twins are encoded the same number of times from the same frames: a forward clip copied as it
    came (another codec, size or quality) beside a re-encoded backward one would let a model tell them
    apart by their encoding instead of by the direction of time.
    """
    from .video.edits import reverse_video, trim_video

    if start is None:
        trim_video(src, forward, 0.0)
        reverse_video(src, backward)
        return
    with tempfile.TemporaryDirectory(dir=forward.parent) as tmp:
        piece = trim_video(src, Path(tmp) / "piece.mp4", start, end)
        trim_video(piece, forward, 0.0)
        reverse_video(piece, backward)


# ---------------------------------------------------------------- train / held-out, by source clip


def split_by_source(data_dir: str | os.PathLike, train_dir: str | os.PathLike, heldout_dir: str | os.PathLike,
                    *, heldout_fraction: float = 0.25, seed: int = 0) -> tuple[Path, Path]:
    """Split ``data_dir`` into two folders of the same layout, by source clip; returns (train, held-out).

    Source clips (:func:`source_of`) are shuffled with ``seed`` (the same seed gives the same split)
    and about ``heldout_fraction`` of them, at least one, are held out; every variant of a source and
    every question of a clip go to the same side. Clips are hard-linked where possible, else copied.
    """
    if not 0 < heldout_fraction < 1:
        raise ValueError(f"heldout_fraction must be between 0 and 1, got {heldout_fraction!r}.")
    examples = load_examples(data_dir, probe=False)
    sources = sorted({(ex.datasource, ex.source) for ex in examples})
    if len(sources) < 2:
        raise TrainingDataError(f"{data_dir} has {len(sources)} source clip(s): a split by source needs at least 2.")
    order = np.random.default_rng(seed).permutation(len(sources))
    n_heldout = min(len(sources) - 1, max(1, round(heldout_fraction * len(sources))))
    heldout = {sources[i] for i in order[:n_heldout]}
    train_dir, heldout_dir = Path(train_dir), Path(heldout_dir)
    if train_dir.resolve() == heldout_dir.resolve():
        raise ValueError(f"train_dir and heldout_dir are the same folder ({train_dir}): pass two folders.")
    ours = {ds for ds, _ in sources}
    for folder in (train_dir, heldout_dir):  # an earlier split's files would mix with this one's
        if folder.is_dir():
            foreign = sorted(d.name for d in folder.iterdir() if d.is_dir() and qa_file(folder, d.name).is_file()
                             and d.name not in ours)
            if foreign:
                raise TrainingDataError(f"{folder} already holds other datasources {foreign}: split into empty "
                                        "folders (or ones an earlier split of this data made).")
    for folder, keep in ((train_dir, lambda ex: (ex.datasource, ex.source) not in heldout),
                         (heldout_dir, lambda ex: (ex.datasource, ex.source) in heldout)):
        side = [ex for ex in examples if keep(ex)]
        for ds in ours - {ex.datasource for ex in side}:  # left by an earlier split with another seed
            qa_file(folder, ds).unlink(missing_ok=True)
        write_examples(folder, side)
    return train_dir, heldout_dir


def write_examples(dest: str | os.PathLike, examples: Sequence[Example]) -> Path:
    """Write ``examples`` into ``dest`` in the official layout (one entry per video, clips linked); returns ``dest``.

    Use it to train or evaluate on a chosen subset (a handful of clips, one datasource).
    """
    dest = Path(dest)
    by_source: dict[str, dict[str, list[Example]]] = {}
    for ex in examples:
        by_source.setdefault(ex.datasource, {}).setdefault(ex.video_id, []).append(ex)
        if ex.clip.resolve().parent == (dest / ex.datasource / "clips").resolve():
            raise ValueError(f"{dest} is where {ex.name} comes from: writing a subset there would replace its "
                             "question file. Pass another folder.")
    for datasource, videos in by_source.items():
        clips = dest / datasource / "clips"
        clips.mkdir(parents=True, exist_ok=True)
        entries = []
        for _, rows in sorted(videos.items()):
            clip = rows[0].clip
            target = clips / clip.name
            if target.exists() and not (os.path.samefile(clip, target) or filecmp.cmp(clip, target, shallow=False)):
                target.unlink()  # another clip of the same name, from an earlier subset
            if not target.exists():
                try:
                    os.link(clip, target)
                except OSError:
                    shutil.copyfile(clip, target)
            pairs = [{"question": r.question, "index2ans": r.index2ans, "answer": r.key,
                      **({"reasoning": r.reasoning} if r.reasoning else {})}
                     for r in sorted(rows, key=lambda r: r.index)]
            entries.append({"video": f"clips/{clip.name}", "qa_pairs": pairs})
        write_json_atomic(qa_file(dest, datasource), entries)
    return dest

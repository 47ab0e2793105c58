"""The benchmark's files: the data folder it reads, the result files it writes, the course's fixture, a hub slice.

The layout is the official harness's (nvidia-cosmos/cosmos-reason1 at commit
3e7f1cb11128bb424e2a8e85a4aafc7ee9b8bb34, ``examples/benchmark/tools/eval/evaluate.py``,
``utils/input.py``, ``utils/output.py``):

- data: ``<data_dir>/<datasource>/<datasource>_benchmark_qa_pairs.json`` (a list of
  ``{"video": "clips/<id>.<ext>", "qa_pairs": [...] or {...}}``) and the clips in
  ``<data_dir>/<datasource>/clips/``. ``data_dir`` is the folder that holds the
  datasource folders: the official ``data/benchmark`` (the official script takes
  ``data`` and appends ``/benchmark`` itself).
- results: ``<results_dir>/<model>/<answer_type>/<datasource>/<video_id>.json``, a list
  with one object per question holding exactly :data:`RESULT_KEYS`.

Differences from the official harness, on purpose: a clip listed in the JSON but missing is
reported by name (the official code silently leaves it out); malformed entries are reported with
their position. Nothing here touches a model: running one is :mod:`cosmos_nb_utils.evaluation`,
reading results back is :mod:`cosmos_nb_utils.scoring`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

BENCHMARK_REPO = "nvidia/Cosmos-Reason1-Benchmark"
# A commit of the dataset repository ("Update README.md"), from the hub's commit page
# https://huggingface.co/datasets/nvidia/Cosmos-Reason1-Benchmark/commit/299f918539820c2be6844ae7cd15bd7da47587ae
# (the newest commit seen on the hub's file page was dc73eea, "Update license terms"; its full hash
# could not be found from here). `download_slice` lists the files at this revision before downloading.
BENCHMARK_REVISION = "299f918539820c2be6844ae7cd15bd7da47587ae"
RESULT_KEYS = ("datasource", "video_id", "prompt", "correct_answer", "reasoning", "answer", "full_response",
               "is_correct")
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov")  # the extensions evaluate.py lists
AV_SUFFIX = ".camera_front_wide_120fov"  # input.py adds it to the av_meta_actions clips
TIMINGS_FILE = "course_timings.jsonl"  # not *.json, so calculate_accuracy.py's glob never reads it


class BenchmarkDataError(ValueError):
    """The benchmark folder is missing or holds no questions; the message says what to pass instead."""


class HubUnavailable(BenchmarkDataError):
    """The Hugging Face hub cannot be reached (no network, or ``HF_HUB_OFFLINE=1``); the message says what to do."""


def whole_number(value, name: str, *, minimum: int = 0, allow_none: bool = False, hint: str = "") -> int | None:
    """``value`` as an int of at least ``minimum`` (no bool, float or text), or a ValueError naming ``name``."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number of at least {minimum}"
                         f"{' (or None)' if allow_none else ''}, got {value!r}.{hint}")
    return value


# ---------------------------------------------------------------- reading the official layout


@dataclass
class Question:
    datasource: str
    video_id: str
    index: int  # position in the video's qa_pairs (and in its result file)
    question: str
    index2ans: dict[str, str]
    correct_answer: str
    reasoning: str = ""  # the optional "reasoning" field (the course's extension: trained as the <think> block)


@dataclass
class Video:
    datasource: str
    video_id: str
    clip: Path | None  # None: listed in the JSON, not in clips/
    questions: list[Question]

    @property
    def name(self) -> str:
        return f"{self.datasource}/{self.video_id}"


@dataclass
class Benchmark:
    """What a benchmark folder holds: the videos to answer, the listed-but-missing ones, and the problems found."""

    data_dir: Path
    videos: list[Video]
    missing: list[Video]
    problems: list[str]

    @property
    def num_questions(self) -> int:
        return sum(len(v.questions) for v in self.videos)

    def describe(self) -> str:
        lines = [f"{self.data_dir}: {len(self.videos)} videos, {self.num_questions} questions"]
        lines += [f"  missing clip (skipped): {v.name} ({len(v.questions)} questions)" for v in self.missing]
        lines += [f"  problem: {p}" for p in self.problems]
        return "\n".join(lines)


def qa_file(data_dir: str | os.PathLike, datasource: str) -> Path:
    return Path(data_dir) / datasource / f"{datasource}_benchmark_qa_pairs.json"


def find_datasources(data_dir: str | os.PathLike) -> list[str]:
    """The datasource folders of ``data_dir``; raises :class:`BenchmarkDataError` saying what to pass instead."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise BenchmarkDataError(
            f"No benchmark folder at {data_dir}. Pass the folder that holds the datasource folders "
            "(e.g. data/benchmark, with robovqa/robovqa_benchmark_qa_pairs.json inside); download a slice with "
            "download_slice(), or build the course's small fixture with make_fixture()."
        )
    found = sorted(d.name for d in data_dir.iterdir() if d.is_dir() and qa_file(data_dir, d.name).is_file())
    if found:
        return found
    hint = ""
    if (data_dir / "benchmark").is_dir():
        hint = (f" It holds a 'benchmark' folder: pass {data_dir / 'benchmark'} (the official script takes "
                f"the parent and adds /benchmark itself; this one takes the benchmark folder).")
    raise BenchmarkDataError(
        f"{data_dir} holds no questions: no <datasource>/<datasource>_benchmark_qa_pairs.json in it.{hint}"
    )


def _clip_index(clips_dir: Path) -> dict[str, Path]:
    """video_id -> clip, as evaluate.py lists them (the name without its last extension)."""
    if not clips_dir.is_dir():
        return {}
    return {f.name.rsplit(".", 1)[0]: f for f in sorted(clips_dir.iterdir())
            if f.is_file() and f.name.endswith(VIDEO_EXTENSIONS)}


def _parse_pair(qa, where: str, problems: list[str]) -> tuple[str, dict, str, str] | None:
    if not isinstance(qa, dict):
        problems.append(f"{where}: a question must be an object, got {type(qa).__name__}; skipped.")
        return None
    question, options = qa.get("question"), qa.get("index2ans")
    answer = qa.get("answer", qa.get("correct_answer"))  # input.py's order
    letters = sorted(str(k) for k in options) if isinstance(options, dict) else []
    if not isinstance(question, str) or not question.strip():
        problems.append(f"{where}: no 'question' text; skipped.")
    elif not isinstance(options, dict) or not options:
        problems.append(f"{where}: no 'index2ans' options ({{'A': ..., 'B': ...}}); skipped.")
    elif not all(isinstance(k, str) and len(k) == 1 and "A" <= k <= "Z" for k in options):
        problems.append(f"{where}: 'index2ans' keys must be capital letters like 'A', got {letters}; skipped.")
    elif not isinstance(answer, str) or not answer.strip():
        problems.append(f"{where}: no 'answer' (or 'correct_answer') letter; skipped.")
    elif answer.upper() not in options:  # the scorer compares one letter with the key: anything else never scores
        problems.append(f"{where}: the answer key {answer!r} is not one of its option letters {letters}, so no reply "
                        "could ever score; skipped.")
    elif qa.get("reasoning") is not None and not isinstance(qa.get("reasoning"), str):
        problems.append(f"{where}: 'reasoning' must be text (the <think> block to train), got "
                        f"{type(qa['reasoning']).__name__}; skipped.")
    else:
        reasoning = qa.get("reasoning")
        return question, {k: str(v) for k, v in options.items()}, answer, \
            reasoning.strip() if isinstance(reasoning, str) else ""
    return None


def read_datasource(data_dir: Path, datasource: str, problems: list[str]) -> list[Video]:
    """Every well-formed video entry of one datasource, in the order of its video ids (evaluate.py sorts clips)."""
    path = qa_file(data_dir, datasource)
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        problems.append(f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}); save it as UTF-8 JSON. "
                        "Datasource skipped.")
        return []
    except json.JSONDecodeError as exc:
        problems.append(f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
                        "datasource skipped.")
        return []
    except (OSError, RecursionError) as exc:
        problems.append(f"{path}: {_unreadable(exc)}; datasource skipped.")
        return []
    if not isinstance(entries, list):
        problems.append(f"{path}: the top level must be a list of entries, got {type(entries).__name__}; skipped.")
        return []
    clips = _clip_index(data_dir / datasource / "clips")
    by_id: dict[str, Video] = {}
    first_seen: dict[str, int] = {}
    for pos, entry in enumerate(entries):
        where = f"{path.name} entry {pos}"
        video = entry.get("video") if isinstance(entry, dict) else None
        if not isinstance(video, str) or not video.startswith("clips/") or "." not in video:
            problems.append(f"{where}: 'video' must look like \"clips/<id>.mp4\", got {video!r}; skipped.")
            continue
        video_id = video.split("/")[-1].rsplit(".", 1)[0]
        pairs = entry.get("qa_pairs")
        pairs = [pairs] if isinstance(pairs, dict) else pairs
        if not isinstance(pairs, list) or not pairs:
            problems.append(f"{where} ({video}): 'qa_pairs' must be a list or one object; skipped.")
            continue
        questions = []
        for idx, qa in enumerate(pairs):
            parsed = _parse_pair(qa, f"{where} ({video}) question {idx}", problems)
            if parsed:
                questions.append(Question(datasource, video_id, len(questions), *parsed))
        if not questions:
            continue
        if video_id in by_id:
            problems.append(f"{where}: repeats {video} of entry {first_seen[video_id]}; the later one is used, "
                            "as the official harness does.")
        first_seen[video_id] = pos
        clip = clips.get(video_id) or clips.get(video_id + AV_SUFFIX)
        by_id[video_id] = Video(datasource, video_id, clip, questions)
    return [by_id[k] for k in sorted(by_id)]


def _unreadable(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start}); save it as UTF-8 JSON"
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply to read"
    return f"cannot be read ({type(exc).__name__}: {exc})"


def check_limit(limit) -> int | None:
    """``limit`` (questions per datasource) as given, or a ValueError naming it; ``None``: every question."""
    return whole_number(limit, "limit", minimum=1, allow_none=True,
                        hint=" It counts questions per datasource; leave it out (None) for all of them.")


def check_datasources(datasources) -> list[str] | None:
    if datasources is None:
        return None
    if isinstance(datasources, str) or not all(isinstance(d, str) for d in datasources):
        raise ValueError(f"datasources must be a list of datasource folder names, e.g. ['robovqa'], "
                         f"got {datasources!r}.")
    return list(datasources)


def read_benchmark(data_dir: str | os.PathLike, datasources: Sequence[str] | None = None,
                   limit: int | None = None) -> Benchmark:
    """Read a benchmark folder (see the module docstring) without touching any model.

    ``limit``: as the official code does it, per datasource: whole videos are taken in
    order until at least ``limit`` questions are gathered. Missing clips do not count.
    """
    limit = check_limit(limit)
    datasources = check_datasources(datasources)
    if not isinstance(data_dir, str | os.PathLike):
        raise ValueError(f"data_dir must be a folder path, got {data_dir!r}.")
    data_dir = Path(data_dir)
    found = find_datasources(data_dir)
    if datasources:
        unknown = sorted(set(datasources) - set(found))
        if unknown:
            raise BenchmarkDataError(f"{data_dir} has no datasource {unknown}; it has {found}.")
        found = [d for d in found if d in datasources]
    videos, missing, problems = [], [], []
    for datasource in found:
        gathered = 0
        for video in read_datasource(data_dir, datasource, problems):
            if limit is not None and gathered >= limit:
                break
            if video.clip is None:
                missing.append(video)
                continue
            videos.append(video)
            gathered += len(video.questions)
    return Benchmark(data_dir, videos, missing, problems)


# ---------------------------------------------------------------- the result files


def model_label(model_id: str | os.PathLike) -> str:
    """The results folder name of a model, as evaluate.py makes it: the base name of its id or path.

    Always one plain folder name: an id whose base name is empty, ``.`` or ``..`` (``"/"``, ``"a/../.."``)
    raises a ValueError, so that results never land outside the results folder.
    """
    if not isinstance(model_id, str | os.PathLike):
        raise ValueError(f"model_name must be a model id or folder, got {model_id!r}.")
    text = os.fspath(model_id)
    label = os.path.basename(text.rstrip("/"))
    if label in ("", ".", "..") or "\0" in label:
        raise ValueError(f"model_name={text!r} names no results folder (its base name is {label!r}). Pass a plain "
                         "name, e.g. model_name='cosmos-reason1-7b'.")
    return label


def adapter_label(adapter: str | os.PathLike) -> str:
    """A results-folder name for an adapter: its fine-tuning --out-dir's name (not the inner ``adapter``)."""
    from .loading import find_adapter

    folder = find_adapter(adapter).resolve()
    return folder.parent.name if folder.name == "adapter" else folder.name


def results_folder(results_dir: str | os.PathLike, model_name: str, answer_type: str) -> Path:
    """``<results_dir>/<basename(model_name)>/<answer_type>``, the official layout; always inside ``results_dir``."""
    from .official import ANSWER_TYPES

    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"answer_type must be one of {ANSWER_TYPES}, not {answer_type!r}.")
    if not isinstance(results_dir, str | os.PathLike) or not os.fspath(results_dir):
        raise ValueError(f"results_dir must be a folder path, got {results_dir!r}.")
    root = Path(results_dir)
    folder = root / model_label(model_name) / answer_type
    if not folder.resolve().is_relative_to(root.resolve()):  # a symlinked model folder pointing elsewhere
        raise ValueError(f"{folder} leads outside the results folder {root} (a link?). Pass another results_dir "
                         "or model_name.")
    return folder


def write_json_atomic(path: Path, data) -> None:
    """Write ``data`` as JSON (indent 4, as output.py) to a temporary file in the same folder, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=4)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


# ---------------------------------------------------------------- a fixture from the course clips

# Two datasources, questions about the course's own clips, plus what real folders contain:
# a listed-but-missing clip, a malformed entry, both answer keys, qa_pairs as a list and as one object.
_FIXTURE = {
    "toy_driving": {
        "clips": {"road_turn": "road_turn.mp4"},
        "entries": [
            {"video": "clips/road_turn.mp4", "qa_pairs": [
                {"question": "What should the driver do next?",
                 "index2ans": {"A": "Stop and wait at the crossing", "B": "Turn right without stopping",
                               "C": "Speed up"}, "answer": "A"},
                {"question": "Is someone on the crosswalk?", "index2ans": {"A": "Yes", "B": "No"},
                 "correct_answer": "A"}]},
            {"video": "clips/night_drive.mp4", "qa_pairs": {
                "question": "Is the road wet?", "index2ans": {"A": "Yes", "B": "No"}, "answer": "B"}},
            {"qa_pairs": {"question": "An entry without a video.", "index2ans": {"A": "x", "B": "y"},
                          "answer": "A"}},
        ],
    },
    "toy_robot": {
        "clips": {"agent_pick": "agent_pick.mp4", "ball_bounce": "ball_bounce.mp4"},
        "entries": [
            {"video": "clips/agent_pick.mp4", "qa_pairs": {
                "question": "What is the most plausible next immediate subtask?",
                "index2ans": {"A": "Place the green package into the shopping cart",
                              "B": "Put the package back on the shelf", "C": "Drop the package on the floor",
                              "D": "Push the shopping cart away"}, "answer": "A"}},
            {"video": "clips/ball_bounce.mp4", "qa_pairs": [
                {"question": "Is the video playing forward or backward?",
                 "index2ans": {"A": "forward", "B": "backward"}, "answer": "A"},
                {"question": "Is each bounce higher or lower than the one before?",
                 "index2ans": {"A": "higher", "B": "lower"}, "answer": "B"}]},
        ],
    },
}


def make_fixture(dest: str | os.PathLike, assets: str | os.PathLike | None = None, seconds: float = 3.0) -> Path:
    """Write a tiny benchmark folder in the official layout into ``dest`` and return ``dest``.

    Two datasources (``toy_driving``, ``toy_robot``) built from the course's own clips,
    trimmed to ``seconds``; 5 answerable questions, one listed clip that is missing
    (``toy_driving/night_drive``) and one malformed entry (no ``video``). The questions
    are the course's; none comes from the real benchmark.
    """
    from .video import find_assets, trim_video

    dest, assets = Path(dest), Path(assets) if assets else find_assets()
    for datasource, spec in _FIXTURE.items():
        clips = dest / datasource / "clips"
        clips.mkdir(parents=True, exist_ok=True)
        for video_id, source in spec["clips"].items():
            target = clips / f"{video_id}.mp4"
            if not target.exists():
                trim_video(assets / source, target, 0, seconds)
        write_json_atomic(qa_file(dest, datasource), spec["entries"])
    return dest


# ---------------------------------------------------------------- a real slice from the hub


def _network_failure(exc: BaseException) -> BaseException | None:
    """The network failure behind ``exc`` (no connection, name resolution, offline mode), if that is what it is."""
    import httpx
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    kinds: tuple[type[BaseException], ...] = (httpx.TransportError, OfflineModeIsEnabled, LocalEntryNotFoundError,
                                              ConnectionError, TimeoutError, socket.gaierror)
    try:
        import requests

        kinds += (requests.ConnectionError, requests.Timeout)
    except ImportError:
        pass
    seen = set()
    while exc is not None and id(exc) not in seen:
        if isinstance(exc, kinds):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None


def _from_hub(what: str, call, *args, **kwargs):
    """``call(*args, **kwargs)``; a network failure becomes one :class:`HubUnavailable` line saying what to do."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:
        failure = _network_failure(exc)
        if failure is None:
            raise
        detail = (str(failure).strip().splitlines() or [""])[0][:120]
        raise HubUnavailable(
            f"Cannot reach the Hugging Face hub to {what} ({type(failure).__name__}: {detail}). Offline, use the "
            "course fixture (make_fixture), or a slice prepared on a machine with internet (the instructor guide, "
            "notebook 07), passing its folder."
        ) from None


def slice_files(datasource: str, revision: str = BENCHMARK_REVISION, api=None) -> dict[str, int]:
    """The files of one datasource at ``revision`` with their sizes in bytes (one metadata call, no download)."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi()
    info = _from_hub("list the benchmark's files", api.dataset_info, BENCHMARK_REPO, revision=revision,
                     files_metadata=True)
    files = {s.rfilename: int(s.size or 0) for s in info.siblings if s.rfilename.startswith(f"{datasource}/")}
    if f"{datasource}/{datasource}_benchmark_qa_pairs.json" not in files:
        raise BenchmarkDataError(
            f"{BENCHMARK_REPO} at revision {revision[:12]} has no {datasource}/{datasource}_benchmark_qa_pairs.json. "
            f"Its folders: {sorted({s.rfilename.split('/')[0] for s in info.siblings if '/' in s.rfilename})}."
        )
    return files


def extract_clips(archive: str | os.PathLike, names: Sequence[str], dest: str | os.PathLike) -> list[Path]:
    """Unpack only the clips called ``names`` (file names) from a .tar.gz into ``dest``; returns what was written.

    Each clip is written under its own file name, so no path in the archive can escape ``dest``.
    """
    dest, wanted, written = Path(dest), set(names), []
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        for member in tar:
            base = os.path.basename(member.name)
            if member.isfile() and base in wanted:
                with tar.extractfile(member) as src, open(dest / base, "wb") as out:
                    shutil.copyfileobj(src, out)
                written.append(dest / base)
                wanted.discard(base)
                if not wanted:
                    break
    return written


def choose_entries(entries: list, n_videos: int) -> list[dict]:
    """The first ``n_videos`` well-formed entries in video order (deterministic, so the slice is repeatable)."""
    good = [e for e in entries if isinstance(e, dict) and isinstance(e.get("video"), str)
            and e["video"].startswith("clips/")]
    return sorted(good, key=lambda e: e["video"])[:n_videos]


def download_slice(dest: str | os.PathLike, datasource: str = "robovqa", n_videos: int = 10, *,
                   revision: str = BENCHMARK_REVISION, confirm: bool = True, api=None) -> Path:
    """Download a small slice of the official benchmark into ``dest`` (official layout); return ``dest``.

    Lists the files and their sizes first (and asks before downloading when ``confirm``),
    downloads the datasource's question file, keeps its first ``n_videos`` videos, then
    fetches only their clips (``allow_patterns``) or, where the clips come as one archive,
    that archive, unpacking only the chosen clips. Needs internet access (and, for some
    datasources, accepted terms on the hub).
    """
    from huggingface_hub import snapshot_download

    files = slice_files(datasource, revision, api)
    qa_name = f"{datasource}/{datasource}_benchmark_qa_pairs.json"
    loose = {f: s for f, s in files.items() if f.startswith(f"{datasource}/clips/")}
    archives = {f: s for f, s in files.items() if f.startswith(f"{datasource}/clips") and f.endswith(".tar.gz")}
    print(f"{BENCHMARK_REPO} @ {revision[:12]}, {datasource}: question file {files[qa_name] / 1e6:.2f} MB; "
          f"clips: {len(loose)} loose files ({sum(loose.values()) / 1e6:.0f} MB), "
          f"{len(archives)} archive(s) ({sum(archives.values()) / 1e6:.0f} MB)")
    common = {"repo_id": BENCHMARK_REPO, "repo_type": "dataset", "revision": revision}
    local = Path(_from_hub("download the question file", snapshot_download, allow_patterns=[qa_name], **common))
    chosen = choose_entries(json.loads((local / qa_name).read_text(encoding="utf-8")), n_videos)
    wanted = [f"{datasource}/{e['video']}" for e in chosen]
    if loose:
        patterns = [w for w in wanted if w in loose]
        size = sum(loose[w] for w in patterns)
    else:
        patterns = sorted(archives)
        size = sum(archives.values())
    print(f"{len(chosen)} videos chosen; about to download {size / 1e6:.1f} MB ({len(patterns)} file(s)).")
    if confirm and input("Download? [y/N] ").strip().lower() not in ("y", "yes"):
        raise SystemExit("Nothing downloaded.")
    local = Path(_from_hub("download the clips", snapshot_download, allow_patterns=[qa_name, *patterns], **common))
    clips = Path(dest) / datasource / "clips"
    clips.mkdir(parents=True, exist_ok=True)
    names = [os.path.basename(e["video"]) for e in chosen]
    if loose:
        for name in names:
            src = local / datasource / "clips" / name
            if src.exists():
                shutil.copy2(src, clips / name)
    else:
        for archive in patterns:
            extract_clips(local / archive, names, clips)
    write_json_atomic(qa_file(dest, datasource), chosen)
    return Path(dest)



"""What the notebooks show: banners, frame strips, the video, answers, and small plots (benchmark comparison too)."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from IPython.display import HTML, Markdown, Video, display

from .benchmark_data import model_label
from .facts import model_facts
from .scoring import pair_results, select
from .stats import paired_difference, wilson_interval
from .video import DEFAULT_FPS, DEFAULT_TOTAL_PIXELS, plan_sampling, sampled_frames

TINY_BANNER = (
    "<div style='border:2px solid #c0392b;background:#fdecea;padding:8px 12px;border-radius:6px'>"
    "<b>Tiny random model.</b> No GPU (or <code>COSMOS_NB_MODEL=tiny</code>): every cell runs the real "
    "loading, video and generation code, but on a model of two small layers with <b>random weights</b>. "
    "<b>Its answers are noise</b>, not Cosmos-Reason1's. Run on a GPU to see the real model.</div>"
)


def model_banner(model) -> None:
    """Say which model answers, and warn loudly when it is the tiny random one."""
    facts = model_facts(model)
    if facts.tiny:
        display(HTML(TINY_BANNER))
    else:
        dtype = str(facts.compute_dtype).replace("torch.", "")
        display(Markdown(f"**Model:** `{facts.name}` ({facts.quantization}, {dtype} compute), "
                         f"footprint {model.get_memory_footprint() / 2**30:.2f} GiB"))


def play_video(video: str | os.PathLike, width: int = 480) -> None:
    """Show the clip as a player in the notebook (embedded, so it survives export to HTML)."""
    display(Video(str(video), embed=True, width=width, html_attributes="controls loop muted"))


def show_frames(
    video: str | os.PathLike,
    fps: float = DEFAULT_FPS,
    total_pixels: int = DEFAULT_TOTAL_PIXELS,
    *,
    max_frames: int = 16,
    columns: int = 8,
    title: str | None = None,
    timestamps: bool = False,
):
    """Draw the frames the model is given, each labelled with its time in the source.

    Long samples are thinned to ``max_frames`` evenly spaced ones for the figure
    (the title says so); the model still sees all of them. ``timestamps=True`` shows
    them with the official overlay, as ``ask(..., timestamps=True)`` gives them.
    """
    frames, times = sampled_frames(video, fps, total_pixels)
    plan = plan_sampling(video, fps, total_pixels, max_visual_tokens=None)
    if timestamps:
        from .overlay import overlay_timestamps

        frames = overlay_timestamps(frames, plan.sampled_fps)
    keep = np.linspace(0, len(frames) - 1, min(max_frames, len(frames))).round().astype(int)
    rows = int(np.ceil(len(keep) / columns))
    aspect = frames.shape[1] / frames.shape[2]
    fig, axes = plt.subplots(rows, columns, figsize=(2 * columns, (2 * aspect + 0.45) * rows + 0.5), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, keep):
        ax.imshow(frames[i])
        ax.set_title(f"{times[i]:.2f} s", fontsize=9)
    shown = "" if len(keep) == len(frames) else f" (showing {len(keep)})"
    fig.suptitle(title or f"{plan.summary()}{shown}", fontsize=10)
    fig.tight_layout()
    plt.show()
    return fig


def show_fused_labels(video: str | os.PathLike, fps: float = DEFAULT_FPS, total_pixels: int = DEFAULT_TOTAL_PIXELS):
    """The timestamp band of the first two sampled frames, averaged (roughly what one temporal patch mixes),
    with the official alternating label positions and with one position for both."""
    from .official import OVERLAY
    from .overlay import overlay_timestamps

    frames, _ = sampled_frames(video, fps, total_pixels)
    sampled = plan_sampling(video, fps, total_pixels, max_visual_tokens=None).sampled_fps
    band = OVERLAY["band_height"]
    fig, axes = plt.subplots(2, 1, figsize=(7, 1.8))
    for ax, positions, name in zip(axes, (OVERLAY["positions"], 1), ("official: two positions", "one position")):
        pair = overlay_timestamps(frames[:2], sampled, positions=positions)[:, -band:].astype(np.float32)
        ax.imshow(pair.mean(axis=0).astype(np.uint8))
        ax.set_title(f"{name}: frames 0 and 1 averaged", fontsize=9)
        ax.axis("off")
    fig.tight_layout()
    plt.show()
    return fig


def show_answer(answer) -> None:
    """The answer prominent, the reasoning folded away, and what it cost."""
    tiny = " <i>(tiny random model: noise)</i>" if answer.is_tiny else ""
    think = html.escape(answer.think) or "<i>(no &lt;think&gt; block)</i>"
    body = html.escape(answer.answer) or "<i>(empty answer)</i>"
    display(HTML(
        f"<div style='font-size:1.1em;border-left:4px solid #2e86c1;padding:4px 10px'>"
        f"<b>Answer{tiny}:</b> {body}</div>"
        f"<details><summary>Reasoning ({len(answer.think.split())} words)</summary>"
        f"<pre style='white-space:pre-wrap'>{think}</pre></details>"
        f"<p style='color:#555'>{html.escape(answer.stats())}</p>"
    ))


def plot_token_budget(video: str | os.PathLike, fps_values: Sequence[float] = (0.5, 1, 2, 4, 8),
                      budgets: Sequence[int] = (2048, 4096, 8192, 16384), limit: int | None = None):
    """Visual tokens a clip costs, versus fps, one line per ``total_pixels`` budget (in tokens).

    Budgets that do not bind give the same tokens: such lines lie on top of each other, so
    each has its own marker and dash pattern, and its label names the line it coincides with.
    """
    fig, ax = plt.subplots(figsize=(6, 3.5))
    info_fps = plan_sampling(video, 1, max_visual_tokens=None).info.fps
    xs = [f for f in fps_values if f <= info_fps]
    drawn: dict[tuple, str] = {}
    styles = [("o", "-", 9), ("s", "--", 7), ("^", "-.", 5.5), ("D", ":", 4), ("v", "-", 3)]
    for i, budget in enumerate(budgets):
        ys = tuple(plan_sampling(video, f, budget * 28 * 28, max_visual_tokens=None).visual_tokens for f in xs)
        label = f"total_pixels = {budget} x 28 x 28"
        if ys in drawn:
            label += f" (same as {drawn[ys]})"
        drawn.setdefault(ys, str(budget))
        marker, dash, size = styles[i % len(styles)]
        ax.plot(xs, ys, marker=marker, ls=dash, ms=size, mfc="none" if i else None, label=label)
    if limit:
        ax.axhline(limit, color="red", ls="--", label=f"refused above {limit:,}")
    ax.set(xlabel="frames per second sampled", ylabel="visual tokens", xscale="log", title="Cost of one clip")
    ax.set_xticks(list(fps_values), [f"{f:g}" for f in fps_values])
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
    return fig


def show_table(rows: list[dict], caption: str | None = None) -> None:
    """A small HTML table from a list of dicts; ``None`` shows as "n/a" (e.g. GPU memory on a CPU).

    The columns are every key of any row, in the order first seen (a key only later rows have, such as the
    attention of a vision block, is not dropped); a row without a key leaves its cell empty.
    """
    if not rows:
        display(Markdown("*(empty)*"))
        return
    keys = list(dict.fromkeys(k for r in rows for k in r))
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in keys)

    def cell(v):
        if v is None:
            return "n/a"
        return f"{v:.3f}" if isinstance(v, float) else html.escape(str(v))

    body = "".join("<tr>" + "".join(f"<td>{cell(r.get(k, ''))}</td>" for k in keys) + "</tr>" for r in rows)
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    display(HTML(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"))


def plot_advantages(rewards: Sequence[float], advantages: Sequence[float], ax=None, title: str = ""):
    """Bars of each answer's reward and advantage within one group."""
    own = ax is None
    if own:
        fig, ax = plt.subplots(figsize=(6, 3))
    x = np.arange(len(rewards))
    ax.bar(x - 0.2, rewards, width=0.4, label="reward")
    ax.bar(x + 0.2, advantages, width=0.4, label="advantage")
    ax.axhline(0, color="black", lw=0.8)
    ax.set(xlabel="answer in the group", xticks=x, title=title)
    ax.legend(fontsize=8)
    if own:
        fig.tight_layout()
        plt.show()
    return ax


def question_widget(model, processor, video, question: str, *, fps: float = DEFAULT_FPS,
                    temperature: float = 0.6, **ask_kwargs):
    """Controls to change the question, fps and temperature and ask again; returns the widget box.

    ``box.run_button.click()`` asks programmatically (tests use it).
    """
    import ipywidgets as w

    from .generation import ask

    info_fps = plan_sampling(video, 1, max_visual_tokens=None).info.fps
    text = w.Textarea(value=question, description="question", layout=w.Layout(width="95%"))
    fps_slider = w.FloatLogSlider(value=fps, base=2, min=-1, max=min(3, np.log2(info_fps)), step=1,
                                  description="fps", readout_format=".2g")
    temp_slider = w.FloatSlider(value=temperature, min=0.0, max=1.2, step=0.1, description="temperature")
    button = w.Button(description="Ask", button_style="primary", icon="play")
    cost = w.HTML()
    out = w.Output()

    def update_cost(*_):
        try:
            cost.value = f"<code>{html.escape(plan_sampling(video, fps_slider.value).summary())}</code>"
        except ValueError as exc:
            cost.value = f"<b style='color:#c0392b'>{html.escape(str(exc))}</b>"

    def run(_=None):
        out.clear_output()
        with out:
            try:
                result = ask(model, processor, text.value, video, fps=fps_slider.value,
                             temperature=temp_slider.value, **ask_kwargs)
            except ValueError as exc:  # bad video or budget: show the message, keep the widget alive
                print(exc)
                return
            show_answer(result)
        box.last_answer = result

    fps_slider.observe(update_cost, names="value")
    button.on_click(run)
    update_cost()
    box = w.VBox([text, w.HBox([fps_slider, temp_slider, button]), cost, out])
    box.run_button, box.fps_slider, box.output, box.last_answer = button, fps_slider, out, None
    return box


def advantage_explorer(rewards: Sequence[float] = (2, 2, 1, 0, 0, 1), eps: float | None = None):
    """Sliders for one group's rewards; the advantages and the bar plot follow them.

    ``std`` toggles cosmos-rl's population std (the default) and TRL's sample std; ``eps`` is
    each convention's own (:data:`~cosmos_nb_utils.official.COSMOS_RL_ADVANTAGE`,
    ``TRL_ADVANTAGE``) unless given. ``scale="none"`` centres only (Dr. GRPO).
    """
    import ipywidgets as w

    from .official import COSMOS_RL_ADVANTAGE, TRL_ADVANTAGE
    from .rewards import group_advantages

    eps_of = {c["std"]: (c["eps"] if eps is None else eps) for c in (COSMOS_RL_ADVANTAGE, TRL_ADVANTAGE)}
    sliders = [w.FloatSlider(value=float(r), min=0, max=2, step=0.5, description=f"answer {i}",
                             continuous_update=False) for i, r in enumerate(rewards)]
    std_choice = w.ToggleButtons(options=[("population (cosmos-rl)", "population"), ("sample (TRL)", "sample")],
                                 value="population", description="std")
    scale_choice = w.ToggleButtons(options=["group", "none"], description="scale")
    out = w.Output()

    def redraw(*_):
        r = [s.value for s in sliders]
        adv = group_advantages(r, std=std_choice.value, scale=scale_choice.value, eps=eps_of[std_choice.value])
        out.clear_output(wait=True)
        with out:
            note = " (all equal: zero advantage, no learning signal)" if max(r) == min(r) else ""
            plot_advantages(r, adv, title=f"std={std_choice.value}, eps={eps_of[std_choice.value]:g}, "
                                               f"scale={scale_choice.value}{note}")
            print("advantages:", np.round(adv, 3).tolist(), " sum:", round(float(adv.sum()), 6))
        box.advantages = adv

    for control in (*sliders, std_choice, scale_choice):
        control.observe(redraw, names="value")
    box = w.VBox([w.HBox([w.VBox(sliders), w.VBox([std_choice, scale_choice])]), out])
    box.sliders, box.output, box.advantages = sliders, out, None
    redraw()
    return box


def show_cited_frames(video: str | os.PathLike, citations: list[tuple[float, str]], max_rows: int = 6):
    """Each cited time's frame next to the sentence that cites it."""
    from .video import frames_at

    if not citations:
        display(Markdown("*No timestamps were cited in this text.*"))
        return None
    rows = citations[:max_rows]
    frames, info = frames_at(video, [t for t, _ in rows])  # only the cited frames, read as the model reads the clip
    duration = info.duration
    fig, axes = plt.subplots(len(rows), 2, figsize=(10, 2.2 * len(rows)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1.6]})
    for (t, sentence), frame, (ax_img, ax_txt) in zip(rows, frames, axes):
        ax_img.axis("off")
        ax_txt.axis("off")
        if frame is not None:
            ax_img.imshow(frame)
            ax_img.set_title(f"{t:.2f} s", fontsize=9)
        else:
            ax_img.set_title(f"{t:.2f} s is outside the clip ({duration:.1f} s)", fontsize=9, color="red")
        ax_txt.text(0, 0.5, "\n".join(_wrap(sentence, 60)), va="center", fontsize=9)
    fig.tight_layout()
    plt.show()
    return fig


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def plot_footprints(footprints: dict[str, float], measured: dict[str, float] | None = None, title: str = ""):
    """Bars of weight memory (GiB) per loading mode, with optional measured values beside them."""
    fig, ax = plt.subplots(figsize=(6.5, 3.2))
    names = list(footprints)
    x = np.arange(len(names))
    ax.bar(x - 0.2 if measured else x, list(footprints.values()), width=0.4, label="computed from the architecture")
    if measured:
        ax.bar(x + 0.2, [measured.get(n, np.nan) for n in names], width=0.4, label="measured")
    for gib in (6, 8, 12, 16):  # cards sold as "8 GB" hold 8 GiB
        ax.axhline(gib, color="grey", lw=0.6, ls=":")
        ax.text(len(names) - 0.5, gib, f"{gib} GiB card", fontsize=7, va="bottom", ha="right", color="grey")
    ax.set_xticks(x, names, fontsize=8)
    ax.set(ylabel="GiB of weights", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    plt.show()
    return fig


def plot_training(history) -> None:
    """Mean reward and the probability of a well-formatted correct answer, step by step."""
    steps = [h.step for h in history]
    fig, ax = plt.subplots(1, 2, figsize=(9, 3))
    ax[0].plot(steps, [h.mean_reward for h in history], marker=".")
    ax[0].set(xlabel="GRPO step", ylabel="expected reward (max 2)", title="Mean reward")
    ax[1].plot(steps, [h.p_good for h in history], marker=".", color="tab:green")
    ax[1].set(xlabel="GRPO step", ylabel="probability", ylim=(0, 1), title="P(an answer earning both rewards)")
    fig.tight_layout()
    plt.show()


def _refresh(handle, fig):
    """Show ``fig`` in place of the figure under ``handle`` (a new display the first time); the handle to keep."""
    fig.tight_layout()
    if handle is None:
        handle = display(fig, display_id=True)
    else:
        handle.update(fig)
    plt.close(fig)
    return handle


class LossPlot:
    """A live plot of the training loss: pass ``plot.update`` as ``on_step`` to the training loop.

    Redraws one figure in place (every ``every`` steps and at ``done``), so the notebook shows one plot
    that grows, not one per step. ``rows`` are ``train_log.jsonl`` lines (``step``, ``loss``).
    """

    def __init__(self, title: str = "training loss", every: int = 1):
        self.title, self.every, self.rows, self.handle = title, max(1, every), [], None

    def _draw(self):
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.plot([r["step"] for r in self.rows], [r["loss"] for r in self.rows], marker=".")
        ax.set(xlabel="optimizer step", ylabel="loss (nats per answer token)", title=self.title)
        self.handle = _refresh(self.handle, fig)

    def update(self, row: dict) -> None:
        self.rows.append(row)
        if len(self.rows) % self.every == 0:
            self._draw()

    def done(self, rows: list[dict] | None = None) -> None:
        """Draw the whole curve (``rows``: the full log, resumed steps included)."""
        if rows is not None:
            self.rows = list(rows)
        if self.rows:
            self._draw()


def plot_comparison(rows: list[dict], model_a: str, model_b: str, answer_type: str = "reasoning"):
    """Accuracy per datasource of two models (bars, 95% Wilson intervals) and their paired difference."""
    import matplotlib.pyplot as plt

    a, b = select(rows, model_a, answer_type), select(rows, model_b, answer_type)
    model_a, model_b = model_label(model_a), model_label(model_b)
    datasources = sorted({r["datasource"] for r in a + b})
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6), gridspec_kw={"width_ratios": [3, 1.3]})
    width = 0.38
    for shift, (label, group) in zip((-width / 2, width / 2), ((model_a, a), (model_b, b))):
        xs, ys, errs = [], [], [[], []]
        for i, ds in enumerate(datasources):
            mine = [r for r in group if r["datasource"] == ds]
            if not mine:
                continue
            k, n = sum(bool(r["is_correct"]) for r in mine), len(mine)
            low, high = wilson_interval(k, n)
            xs.append(i + shift)
            ys.append(100 * k / n)
            errs[0].append(100 * (k / n - low))
            errs[1].append(100 * (high - k / n))
        ax1.bar(xs, ys, width, yerr=errs, capsize=4, label=label)
    ax1.set_xticks(range(len(datasources)), datasources)
    ax1.set_ylabel("accuracy (% of questions)")
    ax1.set_ylim(0, 100)
    ax1.set_title(f"{answer_type} mode, 95% Wilson intervals")
    ax1.legend(fontsize=8)
    pa, pb = pair_results(a, b)
    if len(pa) >= 2:
        diff = paired_difference(pa, pb)
        ax2.errorbar([0], [100 * diff.difference], yerr=[[100 * (diff.difference - diff.low)],
                                                         [100 * (diff.high - diff.difference)]],
                     fmt="o", capsize=6)
        ax2.set_title(f"paired difference, n = {diff.n}")
    ax2.axhline(0, color="grey", lw=1)
    ax2.set_xticks([0], [f"{model_a}\nminus {model_b}"], fontsize=8)
    ax2.set_ylabel("difference (percentage points)")
    fig.tight_layout()
    plt.show()
    return fig




class GRPOPlot(LossPlot):
    """A live plot of ``grpo_log.jsonl``: rewards and rates (left), KL to the base model (right)."""

    RATES = ("reward_mean", "format_rate", "accuracy_rate", "zero_signal_groups", "truncated")

    def _draw(self):
        steps = [r["step"] for r in self.rows]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3))
        for key in self.RATES:
            left.plot(steps, [r[key] for r in self.rows], marker=".", label=key)
        left.set(xlabel="GRPO step", ylabel="reward (0-2) or fraction (0-1)", title=self.title)
        left.legend(fontsize=7)
        kl = [np.nan if r["kl_to_reference"] is None else r["kl_to_reference"] for r in self.rows]  # unmeasured: no dot
        right.plot(steps, kl, marker=".", color="k")
        right.set(xlabel="GRPO step", ylabel="KL to the base (nats per token)", title="k3 estimate, beta = 0")
        self.handle = _refresh(self.handle, fig)

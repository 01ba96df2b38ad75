"""The report's figures as small PNG files (matplotlib, Agg back end, no pyplot state).

`curve_figure` draws the perplexity-substitution curve (explanations and surrogates against
the controls); `front_figure` a head's size/fidelity front with its explanation and surrogate
marked; `head_figure` a head's real attention beside its program's matrix on one sequence.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
from matplotlib.colors import PowerNorm  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, LogLocator, NullFormatter  # noqa: E402

from ..synth.front import Point  # noqa: E402

LABELLED = 32  # sequences up to this many tokens get token labels on their axes
EXPLANATION_COLOR = "#1f5fa8"
SURROGATE_COLOR = "#d35400"
CONTROL_STYLE = {
    "program": dict(color=EXPLANATION_COLOR, linewidth=2.2, marker="o"),
    "surrogate": dict(color=SURROGATE_COLOR, linewidth=1.8, marker="*", markersize=7),
    "uniform": dict(color="#c0392b", linestyle="--", marker="s"),
    "mean": dict(color="#7d3c98", linestyle="--", marker="^"),
    "random": dict(color="#7f8c8d", linestyle=":", marker="D"),
}


def _save(fig: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():  # tokens in scripts DejaVu Sans lacks
        warnings.filterwarnings("ignore", message="Glyph .* missing")
        fig.savefig(path, format="png")
    return path


def token_label(text: str, width: int = 10) -> str:
    """A token's text readable on an axis: newlines and tabs shown, `$` not read as math."""
    shown = text.replace("\n", "\\n").replace("\t", "\\t").replace("$", r"\$")
    return shown if len(shown) <= width else shown[: width - 1] + "…"


def source_label(name: str) -> str:
    """How a curve source is named in a legend or table: the programs by what they are."""
    return {"program": "explanations", "surrogate": "surrogates"}.get(name, name)


def curve_figure(curve: dict, path: Path) -> Path:
    """Perplexity against the fraction of heads replaced: explanations, surrogates and each
    control."""
    points = sorted(curve["points"], key=lambda p: p["fraction"])
    fig = Figure(figsize=(6.4, 3.6), dpi=90, layout="constrained")
    ax = fig.add_subplot()
    names = [c for c in CONTROL_STYLE if any(c in p["ppl"] for p in points)]
    names += sorted({c for p in points for c in p["ppl"]} - set(names))
    values = []
    for name in names:
        xs = [p["fraction"] for p in points if name in p["ppl"]]
        ys = [p["ppl"][name] for p in points if name in p["ppl"]]
        values += ys
        label = source_label(name) if name in ("program", "surrogate") else f"{name} (control)"
        ax.plot(xs, ys, label=label, **{"markersize": 4, **CONTROL_STYLE.get(name, {})})
    baseline = curve.get("baseline_ppl")
    if baseline is not None:
        ax.axhline(baseline, color="black", linewidth=0.8, linestyle=(0, (1, 2)),
                   label=f"model ({baseline:.2f})")
        values.append(baseline)
    positive = [v for v in values if v > 0]
    if positive and max(positive) / min(positive) > 10:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("fraction of heads replaced (best held-out IoU first)")
    ax.set_ylabel("perplexity")
    ax.set_xticks([p["fraction"] for p in points])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, path)


def front_figure(front: Sequence[Point], explanation: Point, surrogate: Point, title: str,
                 path: Path) -> Path:
    """A head's front, held-out IoU against size, its explanation and surrogate marked."""
    fig = Figure(figsize=(4.4, 2.6), dpi=90, layout="constrained")
    ax = fig.add_subplot()
    points = sorted(front, key=lambda p: p.size)
    ax.step([p.size for p in points], [p.heldout_iou for p in points], where="post",
            color="#555555", linewidth=1.0, marker=".", markersize=5, label="front")
    ax.plot([surrogate.size], [surrogate.heldout_iou], linestyle="none", marker="*",
            markersize=13, color=SURROGATE_COLOR, label=f"surrogate (size {surrogate.size})")
    ax.plot([explanation.size], [explanation.heldout_iou], linestyle="none", marker="o",
            markersize=8, markerfacecolor="none", markeredgewidth=2, color=EXPLANATION_COLOR,
            label=f"explanation (size {explanation.size})")
    if points[-1].size > 20 * points[0].size:  # a few small programs and some very large
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.set_xlabel("size (syntax nodes)", fontsize=8)
    ax.set_ylabel("held-out IoU", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False, loc="best")
    ax.set_title(title, fontsize=9)
    return _save(fig, path)


def head_figure(real: np.ndarray, program: np.ndarray, texts: list[str], title: str,
                path: Path) -> Path:
    """The real attention (left) and the program's matrix (right), n x n, one colour scale."""
    n = real.shape[0]
    fig = Figure(figsize=(8.0, 4.0), dpi=80, layout="constrained")
    axes = fig.subplots(1, 2)
    norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=1.0)
    labels = [token_label(t) for t in texts] if n <= LABELLED else None
    panels = ((axes[0], real, "real attention"), (axes[1], program, "explanation"))
    for ax, matrix, name in panels:
        image = ax.imshow(np.asarray(matrix, dtype=np.float32), cmap="magma", norm=norm,
                          interpolation="nearest")
        ax.set_title(name, fontsize=9)
        if labels is not None:
            ax.set_xticks(range(n), labels, rotation=90, fontsize=5)
            ax.set_yticks(range(n), labels, fontsize=5)
        else:
            ax.tick_params(labelsize=6)
        ax.set_xlabel("key", fontsize=7)
    axes[0].set_ylabel("query", fontsize=7)
    fig.colorbar(image, ax=axes, shrink=0.8, pad=0.02).ax.tick_params(labelsize=6)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path)

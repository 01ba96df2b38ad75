"""The report's figures: heatmaps of each head beside its explanation, fronts, the curve."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...dsl.errors import EvaluationError
from ...dsl.interpreter import run as run_program
from ...models.dump import Dump, DumpError
from .. import figures
from .run import MAX_TOKENS, Example, HeadEntry, ReportError
from .text import short


def pick_example(dump: Dump, settings: dict, chosen: int | None) -> Example:
    first_heldout = settings.get("synth_sequences")
    if not (isinstance(first_heldout, int) and 0 <= first_heldout < len(dump)):
        first_heldout = None
    if chosen is None:
        chosen = 0 if first_heldout is None else first_heldout
    elif not 0 <= chosen < len(dump):
        raise ReportError(f"example sequence {chosen} is not in the dump "
                          f"(it has {len(dump)} sequences)")
    length = dump.length(chosen)
    shown = min(length, MAX_TOKENS)
    return Example(chosen, shown, length, dump.texts(chosen)[:shown], chosen == first_heldout)


def head_figures(heads: list[HeadEntry], dump: Dump, example: Example, folder: Path,
                  progress: Callable[[int, int], None] | None) -> None:
    tokens = dump.tokens(example.index)
    k = example.shown
    for done, entry in enumerate(heads, 1):
        try:
            real = dump.head(example.index, entry.layer, entry.head)[:k, :k]
            matrix = run_program(entry.program, tokens.texts, tokens.ids, tokens.special)[:k, :k]
        except (DumpError, EvaluationError) as e:
            entry.note = f"no heatmap: {e}"
        else:
            title = short(f"head {entry.name}: {entry.text}", 90)
            entry.figure = figures.head_figure(real, matrix, example.texts, title,
                                               folder / f"{entry.anchor}.png")
        if progress is not None:
            progress(done, len(heads))


def front_figures(heads: list[HeadEntry], folder: Path) -> None:
    for entry in heads:
        r = entry.result
        if r is not None:
            entry.front_figure = figures.front_figure(
                r.front, r.explanation, r.surrogate, f"head {entry.name}: size and fidelity",
                folder / f"front-{entry.layer}-{entry.head}.png")


def clear_figures(folder: Path) -> None:
    """Remove the figures an earlier report wrote (only the names this module writes)."""
    if folder.is_dir():
        for old in [*folder.glob("head-*.png"), *folder.glob("front-*.png"),
                    folder / "curve.png"]:
            old.unlink(missing_ok=True)



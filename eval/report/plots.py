"""The report's figures: heatmaps of each head beside its explanation, fronts, the curve."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ...dsl.errors import EvaluationError
from ...dsl.interpreter import run as run_program
from ...models.dump import Dump, DumpError
from .. import figures
from .run import MAX_TOKENS, Example, HeadEntry, ReportError
from .text import short

PARALLEL_FROM = 64  # fewer figures are drawn in this process (starting workers costs seconds)
MAX_WORKERS = 8


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


@dataclass(frozen=True)
class FigureJob:
    """One figure to draw: `draw(*args)` writes it; its path goes to `entry.<field>`."""

    entry: HeadEntry
    field: str
    draw: Callable[..., Path]
    args: tuple


def head_jobs(heads: list[HeadEntry], dump: Dump, example: Example, folder: Path
              ) -> list[FigureJob]:
    """Each head's heatmap of the example: its real attention beside its explanation's."""
    tokens = dump.tokens(example.index)
    k = example.shown
    jobs = []
    for entry in heads:
        try:
            real = dump.head(example.index, entry.layer, entry.head)[:k, :k]
            matrix = run_program(entry.program, tokens.texts, tokens.ids, tokens.special)[:k, :k]
        except (DumpError, EvaluationError) as e:
            entry.note = f"no heatmap: {e}"
            continue
        title = short(f"head {entry.name}: {entry.text}", 90)
        jobs.append(FigureJob(entry, "figure", figures.head_figure,
                              (real, matrix, example.texts, title, folder / f"{entry.anchor}.png")))
    return jobs


def front_jobs(heads: list[HeadEntry], folder: Path) -> list[FigureJob]:
    """Each head's front, when the run recorded one."""
    return [FigureJob(entry, "front_figure", figures.front_figure,
                      (entry.result.front, entry.result.explanation, entry.result.surrogate,
                       f"head {entry.name}: size and fidelity",
                       folder / f"front-{entry.layer}-{entry.head}.png"))
            for entry in heads if entry.result is not None]


def draw(jobs: list[FigureJob], progress: Callable[[int, int], None] | None = None,
         workers: int | None = None, parallel_from: int = PARALLEL_FROM) -> None:
    """Draw every figure, in `workers` processes (default: one per core, at most
    `MAX_WORKERS`) when there are at least `parallel_from`; `progress(done, total)` after
    each."""
    workers = min(os.cpu_count() or 1, MAX_WORKERS) if workers is None else workers
    if workers > 1 and len(jobs) >= parallel_from:
        # spawn, not fork: the report may be drawn by a process whose torch threads have started
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            paths = pool.map(_draw_one, [(job.draw, job.args) for job in jobs], chunksize=4)
            _collect(jobs, paths, progress)
    else:
        _collect(jobs, (job.draw(*job.args) for job in jobs), progress)


def _draw_one(job: tuple[Callable[..., Path], tuple]) -> Path:
    return job[0](*job[1])


def _collect(jobs: list[FigureJob], paths: Iterable[Path],
             progress: Callable[[int, int], None] | None) -> None:
    for done, (job, path) in enumerate(zip(jobs, paths), 1):
        setattr(job.entry, job.field, path)
        if progress is not None:
            progress(done, len(jobs))


def clear_figures(folder: Path) -> None:
    """Remove the figures an earlier report wrote (only the names this module writes)."""
    if folder.is_dir():
        for old in [*folder.glob("head-*.png"), *folder.glob("front-*.png"),
                    folder / "curve.png"]:
            old.unlink(missing_ok=True)



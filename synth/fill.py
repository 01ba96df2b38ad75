"""Filling a candidate's holes by search: coordinate ascent over a grid per hole, scored by
soft IoU on the synthesis sequences of one head."""

from __future__ import annotations

from headcode.dsl import nodes as n
from headcode.dsl.checker import HoleSpec, Type, hole_specs
from headcode.dsl.holes import fill
from headcode.errors import HeadcodeError

from ..scoring import ScoringCorpus, score_corpus


def grid(spec: HoleSpec) -> list[float]:
    """The values tried for one hole, within its bounds."""
    if spec.kind is Type.INT:
        low = int(spec.low) if spec.low is not None else -2
        return list(range(low, low + 8))
    if spec.high is not None and spec.high <= 1:
        return [0.3, 0.5, 0.7, 0.85, 0.95, 1.0]
    if spec.low is not None and spec.low >= 0:
        return [0.1, 0.25, 0.5, 1.0, 2.0, 4.0]
    return [-4.0, -2.0, -1.0, 0.0, 1.0, 2.0, 4.0, 8.0]


def fit_holes(expr: n.Node, corpus: ScoringCorpus, head: int, sweeps: int = 2
              ) -> tuple[n.Node, float] | None:
    """The best filling found for `expr`'s holes against column `head` of `corpus`, with its
    IoU; None if no filling is valid (e.g. window(?, ?) never gets a <= b on the grid)."""
    specs = hole_specs(expr)
    grids = [grid(s) for s in specs]
    values = [g[len(g) // 2] for g in grids]
    best: tuple[n.Node, float] | None = None
    for _ in range(sweeps):
        for k, options in enumerate(grids):
            trials = []
            for option in options:
                candidate = [*values[:k], option, *values[k + 1:]]
                try:
                    trials.append((candidate, fill(expr, candidate)))
                except HeadcodeError:
                    continue
            if not trials:
                continue
            scores = score_corpus([filled for _, filled in trials], corpus)[:, head]
            pick = int(scores.argmax())
            values = trials[pick][0]
            if best is None or scores[pick] > best[1]:
                best = (trials[pick][1], float(scores[pick]))
    return best

"""The program library of a run: kept programs deduplicated up to equivalence, and how well
the heads are explained when each may use only the best of N library programs."""

from __future__ import annotations

import hashlib

import numpy as np

from headcode.dsl import nodes as n
from headcode.dsl.printer import show

from .enumerate import size
from .packed import Packed, evaluate_packed


def deduplicate(exprs: list[n.Node], packed: Packed) -> list[n.Node]:
    """One program per distinct behaviour on the synthesis sequences (the smallest kept)."""
    by_size = sorted(dict.fromkeys(exprs), key=lambda e: (size(e), show(e)))
    kept, seen = [], set()
    for expr, weights in zip(by_size, evaluate_packed(by_size, packed)):
        digest = hashlib.blake2b(np.round(weights.numpy(), 6).tobytes(), digest_size=16).digest()
        if digest not in seen:
            seen.add(digest)
            kept.append(expr)
    return kept


def constrained_curve(scores: np.ndarray, budgets: list[int]) -> list[dict]:
    """Mean IoU over heads when every head takes the best of at most N library programs.

    `scores` is (programs, heads). The N programs are chosen greedily, each adding the most to
    the mean; returns [{"n": N, "mean_iou": x, "programs": [indices]}] per budget.
    """
    chosen: list[int] = []
    best = np.zeros(scores.shape[1])
    curve = []
    for budget in sorted(set(min(b, len(scores)) for b in budgets)):
        while len(chosen) < budget:
            gains = np.maximum(scores, best[None]).mean(1)
            gains[chosen] = -1
            pick = int(gains.argmax())
            chosen.append(pick)
            best = np.maximum(best, scores[pick])
        curve.append({"n": budget, "mean_iou": float(best.mean()), "programs": list(chosen)})
    return curve

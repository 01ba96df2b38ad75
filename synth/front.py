"""The size/fidelity front of a head's candidates, and the two programs chosen from it.

A point is a program with its size (syntax nodes) and its soft IoU on synthesis and held-out
text. The front keeps, at each size, the best held-out IoU that no smaller program reaches:
reading it left to right says what every extra node buys. From the front come the head's
*explanation* (the smallest program within `tolerance` of the best at most `max_size` nodes)
and its *surrogate* (the best-fitting program of any size, the smallest within `margin`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    """One program on a head's front."""

    program: str
    size: int
    synthesis_iou: float
    heldout_iou: float
    origin: str

    def comment(self) -> str:
        return (f"held-out IoU {self.heldout_iou:.3f}, synthesis IoU {self.synthesis_iou:.3f}, "
                f"size {self.size}, {self.origin}")


@dataclass(frozen=True)
class Choice:
    """How the explanation and the surrogate are picked from a front (one set of defaults)."""

    tolerance: float = 0.03  # explanation: within this much of the best at <= max_size nodes
    max_size: int = 24
    margin: float = 0.005  # surrogate: the smallest within this much of the best of any size


def pareto_front(points: Iterable[Point]) -> list[Point]:
    """The points no smaller-or-equal point matches on held-out IoU, smallest first."""
    front: list[Point] = []
    for point in sorted(points, key=lambda p: (p.size, -p.heldout_iou, p.program)):
        if not front or point.heldout_iou > front[-1].heldout_iou:
            front.append(point)
    return front


def smallest_near_best(front: list[Point], tolerance: float, max_size: int | None = None
                       ) -> Point:
    """The smallest point within `tolerance` of the best held-out IoU among points of at most
    `max_size` nodes (all points when None; the smallest point when none is that small)."""
    if not front:
        raise ValueError("an empty front has no programs to choose from")
    within = [p for p in front if max_size is None or p.size <= max_size] or front[:1]
    best = max(p.heldout_iou for p in within)
    return min((p for p in within if p.heldout_iou >= best - tolerance),
               key=lambda p: (p.size, -p.heldout_iou))


def explanation(front: list[Point], choice: Choice) -> Point:
    """The head's explanation: short first, as faithful as that size allows."""
    return smallest_near_best(front, choice.tolerance, choice.max_size)


def surrogate(front: list[Point], choice: Choice) -> Point:
    """The head's best-fitting program of any size."""
    return smallest_near_best(front, choice.margin)


def best_within(front: list[Point], budget: int | None) -> float:
    """The best held-out IoU among points of at most `budget` nodes (0 when there is none)."""
    return max((p.heldout_iou for p in front if budget is None or p.size <= budget), default=0.0)

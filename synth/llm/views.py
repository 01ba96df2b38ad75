"""What the proposer is shown: a head's attention on the synthesis sequences (`HeadView`) and
the programs scored so far (`Scored`), with the query rows each one misses most (`RowMiss`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ...dsl.program import Program
from ...scoring.iou import soft_iou


@dataclass(frozen=True, eq=False)
class HeadView:
    """One head on k sequences: `texts[s]` are the tokens of sequence s (the `text` feature)
    and `attention[s]` its (n, n) causal attention matrix, rows summing to 1."""

    texts: tuple[tuple[str, ...], ...]
    attention: tuple[np.ndarray, ...]
    layer: int | None = None
    head: int | None = None
    model: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "texts", tuple(tuple(t) for t in self.texts))
        object.__setattr__(self, "attention",
                           tuple(np.asarray(a, dtype=np.float64) for a in self.attention))
        if len(self.texts) != len(self.attention) or not self.texts:
            raise ValueError("a HeadView needs one attention matrix per sequence, at least one")
        for s, (tokens, matrix) in enumerate(zip(self.texts, self.attention)):
            if matrix.shape != (len(tokens), len(tokens)):
                raise ValueError(f"sequence {s}: {len(tokens)} tokens but attention of shape "
                                 f"{matrix.shape}")

    @property
    def name(self) -> str:
        """`head L2.H5 of MODEL`, or the parts of it that are known (at least `the head`)."""
        known = self.layer is not None and self.head is not None
        name = f"head L{self.layer}.H{self.head}" if known else "the head"
        return name + (f" of {self.model}" if self.model else "")


@dataclass(frozen=True, eq=False)
class RowMiss:
    """Query row `row` of sequence `sequence`: the head's weights and the program's over the
    keys 0..row."""

    sequence: int
    row: int
    real: np.ndarray
    program: np.ndarray


@dataclass(frozen=True, eq=False)
class Scored:
    """A program tried on the head: its soft IoU and the rows it misses most, worst first."""

    program: Program
    iou: float
    worst_rows: tuple[RowMiss, ...] = field(default_factory=tuple)


def row_iou(real: np.ndarray, predicted: np.ndarray) -> float:
    """Soft IoU of two weight vectors (`scoring.iou.soft_iou`)."""
    return soft_iou(predicted, real)


def worst_rows(head: HeadView, predicted: Sequence[np.ndarray], k: int = 3,
               skip_first: bool = True) -> tuple[RowMiss, ...]:
    """The `k` query rows (over all sequences) where `predicted` matrices differ most from the
    head's, by per-row soft IoU; row 0 (always key 0) is skipped unless `skip_first` is off."""
    if len(predicted) != len(head.attention):
        raise ValueError("one predicted matrix per sequence of the head view")
    scored = []
    for s, (real, guess) in enumerate(zip(head.attention, predicted)):
        for i in range(1 if skip_first else 0, real.shape[0]):
            scored.append((row_iou(real[i, :i + 1], guess[i, :i + 1]), s, i))
    scored.sort(key=lambda item: item[0])
    return tuple(
        RowMiss(s, i, head.attention[s][i, :i + 1].copy(), np.asarray(predicted[s])[i, :i + 1])
        for _, s, i in scored[:k]
    )

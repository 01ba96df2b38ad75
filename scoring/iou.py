"""Soft IoU, the one reference definition (docs/measures.md).

The soft IoU of a program's weights P with a head's attention A is sum(min(P, A)) /
sum(max(P, A)). For row-stochastic causal matrices of n rows, sum(max) = 2n - sum(min), so with
S = sum(min) it is S / (2n - S) (`overlap_iou`): the form the fitting in `synth/fit.py` and the
compiled kernel (`scoring/kernel.py`, which sums the minima) use; tests hold both to `soft_iou`.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np

Number = TypeVar("Number")  # a float, a NumPy array or a torch tensor, elementwise


def soft_iou(predicted: np.ndarray, real: np.ndarray) -> float:
    """sum(min) / sum(max) of two weight arrays of one shape (1.0 when both are all zero)."""
    top = np.maximum(predicted, real).sum()
    return float(np.minimum(predicted, real).sum() / top) if top > 0 else 1.0


def overlap_iou(overlap: Number, rows: Number) -> Number:
    """The soft IoU of row-stochastic matrices of `rows` rows whose minima sum to `overlap`."""
    return overlap / (2 * rows - overlap)

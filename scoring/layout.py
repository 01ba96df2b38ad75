"""Attention laid out for the kernel: packed (heads, entries) in, (entries, heads) float32 out.

A float16 dump converts through a table of all 65,536 half-precision values, in the same pass
that transposes the block and sums each head (NumPy's own float16 conversion is ~5x slower).
"""

from __future__ import annotations

import numpy as np
from numba import njit

HALF_AS_SINGLE = np.arange(1 << 16, dtype=np.uint16).view(np.float16).astype(np.float32)


@njit(cache=True, nogil=True)
def _put_half(out, row0, bits, table, sums):
    for h in range(bits.shape[0]):
        total = 0.0
        for t in range(bits.shape[1]):
            value = table[bits[h, t]]
            out[row0 + t, h] = value
            total += value
        sums[h] = total


@njit(cache=True, nogil=True)
def _put_single(out, row0, values, sums):
    for h in range(values.shape[0]):
        total = 0.0
        for t in range(values.shape[1]):
            out[row0 + t, h] = values[h, t]
            total += values[h, t]
        sums[h] = total


def put_attention(out: np.ndarray, row0: int, packed: np.ndarray, sums: np.ndarray) -> None:
    """Write packed (H, T) attention to out[row0 : row0 + T] (H columns, float32) and each
    head's total, in float64, to sums[h] (the total of the float32 values written)."""
    if packed.dtype == np.float16:
        bits = np.ascontiguousarray(packed).view(np.uint16)
        _put_half(out, row0, bits, HALF_AS_SINGLE, sums)
    else:
        _put_single(out, row0, np.ascontiguousarray(packed, dtype=np.float32), sums)

"""The scoring kernel: programs against every head, on blocks of sequences.

For each program and sequence, `execute.run_program` gives the program's sparse rows; each
entry (i, j, w) then adds min(w, A[h, i, j]) for all heads h at once (attention stored with the
heads innermost). Rows of P and A are distributions, so sum(max) = sum(P) + sum(A) - sum(min):
the IoU needs P's non-zero entries only.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .execute import run_program


@njit(cache=True)
def sum_min(starts, keys, weights, r, n, attention, entry0, mins, row_mins):
    """Add sum over P's entries of min(P[i, j], A[h, i, j]) to mins[h] for every head h, with
    P in slot row r; returns sum(P). Attention rows: entry0 + i(i+1)/2 + j, heads innermost.

    A row's sums are taken in float32 (a row sums to 1), then added up in float64.
    """
    n_heads = attention.shape[1]
    program_sum = 0.0
    for i in range(n):
        row = entry0 + i * (i + 1) // 2
        first, end = starts[r, i], starts[r, i + 1]
        if end - first == 1:  # one key: straight into the float64 sums
            program_sum += weights[r, first]
            w = np.float32(weights[r, first])
            entry = row + keys[r, first]
            for h in range(n_heads):
                mins[h] += min(w, attention[entry, h])
            continue
        for h in range(n_heads):
            row_mins[h] = 0.0
        for t in range(first, end):
            program_sum += weights[r, t]
            w = np.float32(weights[r, t])
            entry = row + keys[r, t]
            for h in range(n_heads):
                row_mins[h] += min(w, attention[entry, h])
        for h in range(n_heads):
            mins[h] += row_mins[h]
    return program_sum


@njit(cache=True)
def buffers(n_slots, width):
    """Slot buffers for sequences of up to `width` tokens."""
    size = max(width * (width + 1) // 2, 2 * width)
    return (np.zeros((n_slots, width + 1), np.int64), np.zeros((n_slots, size), np.int32),
            np.zeros((n_slots, size), np.float64), np.zeros((n_slots, size), np.uint8),
            np.zeros((n_slots, width), np.bool_), np.arange(n_slots))


@njit(cache=True)
def program_matrix(code, lo, hi, reals, options, n_slots, columns, previous, base, n):
    """One program's dense n x n matrix on one sequence (for tests and baselines)."""
    starts, keys, weights, flags, has, phys = buffers(n_slots, n)
    run_program(code, lo, hi, reals, options, columns, previous, base, n, starts, keys,
                weights, flags, has, phys)
    r = phys[0]
    dense = np.zeros((n, n), np.float64)
    for i in range(n):
        for t in range(starts[r, i], starts[r, i + 1]):
            dense[i, keys[r, t]] = weights[r, t]
    return dense


@njit(cache=True, nogil=True)
def score_block(code, program_starts, reals, options, n_slots, columns, previous, token_starts,
                attention, entry_starts, attention_sums, first, last, out):
    """IoU of every program with every head on sequences first..last-1: out[p, h, s - first].

    Every program in turn on the same few sequences, so their attention stays in the core's
    cache. Releases the GIL: blocks run in parallel on threads.
    """
    n_heads = attention.shape[1]
    width = 1
    for s in range(first, last):
        width = max(width, token_starts[s + 1] - token_starts[s])
    starts, keys, weights, flags, has, phys = buffers(n_slots, width)
    mins = np.empty(n_heads, np.float64)
    row_mins = np.empty(n_heads, np.float32)
    for p in range(len(program_starts) - 1):
        for s in range(first, last):
            base = token_starts[s]
            n = token_starts[s + 1] - base
            run_program(code, program_starts[p], program_starts[p + 1], reals, options, columns,
                        previous, base, n, starts, keys, weights, flags, has, phys)
            mins[:] = 0.0
            program_sum = sum_min(starts, keys, weights, phys[0], n, attention,
                                  entry_starts[s], mins, row_mins)
            for h in range(n_heads):
                union = program_sum + attention_sums[s, h] - mins[h]
                out[p, h, s - first] = mins[h] / union

"""The scoring kernel: programs against every head, on blocks of sequences.

Each non-zero entry (i, j, w) of a program's pattern P adds min(w, A[h, i, j]) for all heads h
at once (attention stored with the heads innermost). Rows of P and A are distributions, so
sum(max) = sum(P) + sum(A) - sum(min): the IoU needs P's non-zero entries only. A program's
entries come three ways: mixtures of one or two shared selectors from their parts' sums
(`part_sum_min`, `add_overlap`), soft scores over shared selectors row by row
(`soft_sum_min`), and any other program from the sparse rows that `execute.run_program`
builds (`sum_min`).
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.numpy_support import carray

from .execute import run_program, softmax_row


def head_marker(n_heads: int) -> tuple:
    """A tuple of `n_heads` zeros: its length is part of its Numba type, so the kernels that
    take it are compiled for that head count, with `len(heads)` a compile-time constant."""
    return (0,) * n_heads


@intrinsic
def _stack(typingctx, heads, dtype):
    """A buffer of len(heads) numbers of `dtype` on the stack: its size is a compile-time
    constant, so, indexed by constants, LLVM keeps it in vector registers, where a heap
    array's running sums would be a chain of stores and loads (several times slower)."""
    item, count = dtype.dtype, heads.count

    def codegen(context, builder, signature, args):
        size = context.get_constant(types.intp, count)
        return cgutils.alloca_once(builder, context.get_value_type(item), size=size)

    return types.CPointer(item)(heads, dtype), codegen


CHUNK = 16  # entries summed in float32 before they join the compensated totals


@njit(cache=True, inline="always")
def _head_sums(heads):
    """Three float32 stack buffers of len(heads): a running part, the totals and their Kahan
    compensation (these two zeroed)."""
    n_heads = len(heads)
    part = carray(_stack(heads, np.float32), n_heads)
    totals = carray(_stack(heads, np.float32), n_heads)
    lost = carray(_stack(heads, np.float32), n_heads)
    for h in range(n_heads):
        totals[h] = 0.0
        lost[h] = 0.0
    return part, totals, lost


@njit(cache=True, inline="always")
def _add_compensated(totals, lost, part, n_heads):
    """totals[h] += part[h] for every head, with Kahan's compensation kept in `lost`."""
    for h in range(n_heads):
        y = part[h] - lost[h]
        total = totals[h] + y
        lost[h] = (total - totals[h]) - y
        totals[h] = total


@njit(cache=True, inline="always")
def _put_compensated(totals, lost, mins, n_heads):
    """mins[h] = the compensated totals, in float64."""
    for h in range(n_heads):
        mins[h] = np.float64(totals[h]) - np.float64(lost[h])


@njit(cache=True)
def sum_min(starts, keys, weights, r, n, attention, entry0, mins, heads):
    """Set mins[h] to the sum over P's entries of min(P[i, j], A[h, i, j]) for every head h,
    with P in slot row r; returns sum(P). Attention rows: entry0 + i(i+1)/2 + j, heads
    innermost.

    `heads` is `head_marker(attention.shape[1])`, so the running sums live in registers:
    each row's in float32 (a row sums to 1), added up in float32 with Kahan's compensation.
    """
    n_heads = len(heads)
    row_mins, totals, lost = _head_sums(heads)
    program_sum = 0.0
    for i in range(n):
        row = entry0 + i * (i + 1) // 2
        for h in range(n_heads):
            row_mins[h] = 0.0
        for t in range(starts[r, i], starts[r, i + 1]):
            program_sum += weights[r, t]
            w = np.float32(weights[r, t])
            entry = attention[row + keys[r, t]]
            for h in range(n_heads):
                row_mins[h] += min(w, entry[h])
        _add_compensated(totals, lost, row_mins, n_heads)
    _put_compensated(totals, lost, mins, n_heads)
    return program_sum


@njit(cache=True)
def lay_flat(starts, keys, r, n, entries, inverse, f):
    """Selector row r as the uniform pattern's entries in a row of `entries` (attention
    offsets i(i+1)/2 + j) and `inverse` (1 / the row's size); an empty row is key 0 (the
    empty-row rule). Returns the number of entries."""
    m = 0
    for i in range(n):
        row = i * (i + 1) // 2
        first, end = starts[r, i], starts[r, i + 1]
        if first == end:
            entries[f, m] = row
            inverse[f, m] = 1.0
            m += 1
            continue
        inv = 1.0 / (end - first)
        for t in range(first, end):
            entries[f, m] = row + keys[r, t]
            inverse[f, m] = inv
            m += 1
    return m


@njit(cache=True)
def part_sum_min(entries, inverse, counts, f, factor, attention, entry0, mins, heads):
    """`sum_min` of a mixture's part, factor * uniform(flat selector f), fused: no pattern is
    built. Its entries are streamed without regard to rows, summed in float32 `CHUNK` at a
    time, then added up with Kahan's compensation."""
    n_heads = len(heads)
    acc, totals, lost = _head_sums(heads)
    m = counts[f]
    for start in range(0, m, CHUNK):
        for h in range(n_heads):
            acc[h] = 0.0
        for t in range(np.uint64(start), np.uint64(min(start + CHUNK, m))):
            w = np.float32(inverse[f, t] * factor)
            entry = attention[np.uint64(entry0) + np.uint64(entries[f, t])]
            for h in range(n_heads):
                acc[h] += min(w, entry[h])
        _add_compensated(totals, lost, acc, n_heads)
    _put_compensated(totals, lost, mins, n_heads)


@njit(cache=True)
def add_overlap(entries, inverse, counts, a, ca, b, cb, attention, entry0, mins, heads, dense):
    """Turn mins[h], the parts' min-sums added up, into the min-sum of their mixture: on an
    entry that both parts select, with weights wa and wb, add min(wa + wb, A) - min(wa, A) -
    min(wb, A). The smaller part's weights are scattered into `dense` (float32 zeros, one per
    entry), the other's entries look for theirs there, then they are cleared."""
    n_heads = len(heads)
    if counts[b] > counts[a]:  # the formula is symmetric: scatter the smaller part
        a, ca, b, cb = b, cb, a, ca
    acc, totals, lost = _head_sums(heads)
    for t in range(counts[b]):
        dense[entries[b, t]] = inverse[b, t] * cb
    for h in range(n_heads):
        acc[h] = 0.0
    found = 0
    for t in range(np.uint64(counts[a])):
        e = np.uint64(entries[a, t])
        wb = dense[e]
        if wb == 0.0:
            continue
        wa = np.float32(inverse[a, t] * ca)
        both = np.float32(wa + wb)
        entry = attention[np.uint64(entry0) + e]
        for h in range(n_heads):
            acc[h] += min(both, entry[h]) - min(wa, entry[h]) - min(wb, entry[h])
        found += 1
        if found == CHUNK:
            _add_compensated(totals, lost, acc, n_heads)
            for h in range(n_heads):
                acc[h] = 0.0
            found = 0
    _add_compensated(totals, lost, acc, n_heads)
    for t in range(counts[b]):
        dense[entries[b, t]] = 0.0
    for h in range(n_heads):
        mins[h] += np.float64(totals[h]) - np.float64(lost[h])


@njit(cache=True)
def soft_sum_min(starts, keys, n_slots, reals, soft_terms, lo, hi, n, attention, entry0, mins,
                 heads, scores):
    """`sum_min` of the soft score of terms soft_terms[lo:hi] over shared selectors, fused: row
    by row, the scores of keys 0..i are summed in `scores`, turned into the softmax (the
    negligible tail is 0, as in `execute`) and met with the attention at once; no pattern is
    built. Returns nothing: sum(P) is n."""
    n_heads = len(heads)
    row_mins, totals, lost = _head_sums(heads)
    for i in range(n):
        for j in range(i + 1):
            scores[j] = 0.0
        for k in range(lo, hi):
            coef, shared = reals[soft_terms[k, 0]], soft_terms[k, 1]
            if shared < 0:  # coef * dist
                for j in range(i + 1):
                    scores[j] += coef * float(i - j)
            else:
                r = n_slots + shared
                for t in range(starts[r, i], starts[r, i + 1]):
                    scores[keys[r, t]] += coef
        scale = 1.0 / softmax_row(scores[: i + 1])
        first = 0
        while scores[first] == 0.0:  # the negligible far keys
            first += 1
        row = np.uint64(entry0 + i * (i + 1) // 2)
        for h in range(n_heads):
            row_mins[h] = 0.0
        for j in range(np.uint64(first), np.uint64(i + 1)):
            w = np.float32(scores[j] * scale)
            entry = attention[row + j]
            for h in range(n_heads):
                row_mins[h] += min(w, entry[h])
        _add_compensated(totals, lost, row_mins, n_heads)
    _put_compensated(totals, lost, mins, n_heads)


@njit(cache=True)
def buffers(n_slots, n_shared, n_flat, n_parts, n_heads, width):
    """Buffers for sequences of up to `width` tokens: `n_slots` slot rows, then `n_shared`
    rows of `starts` and `keys` for the shared selectors; `n_flat` rows of flat selectors
    (entries, inverse, counts); `add_overlap`'s `dense` entries (zeros), `soft_sum_min`'s row
    of `scores` and the min-sums of `n_parts` mixture parts. What is not zeroed is written
    before it is read, and touched only as far as it is used."""
    size = max(width * (width + 1) // 2, 2 * width)
    rows = n_slots + n_shared
    return (np.zeros((rows, width + 1), np.int64), np.empty((rows, size), np.int32),
            np.zeros((n_slots, size), np.float64), np.zeros((n_slots, size), np.uint8),
            np.zeros((n_slots, width), np.bool_), np.zeros(width, np.float64),
            np.arange(n_slots), np.arange(n_slots),
            np.empty((n_flat, size + width), np.int32), np.empty((n_flat, size + width)),
            np.zeros(n_flat, np.int64), np.zeros(size, np.float32), np.zeros(width, np.float64),
            np.zeros((n_parts, n_heads), np.float64))


@njit(cache=True)
def _program_matrix(code, lo, hi, shared_lo, shared_hi, n_shared, reals, options, n_slots,
                    columns, previous, base, n):
    starts, keys, weights, flags, has, powers, phys, own = buffers(n_slots, n_shared, 0, 0, 0,
                                                                   n)[:8]
    for first, last in ((shared_lo, shared_hi), (lo, hi)):
        run_program(code, first, last, reals, options, columns, previous, base, n, starts,
                    keys, weights, flags, has, powers, phys, own)
    r = phys[0]
    dense = np.zeros((n, n), np.float64)
    for i in range(n):
        for t in range(starts[r, i], starts[r, i + 1]):
            dense[i, keys[r, t]] = weights[r, t]
    return dense


def program_matrix(compiled, corpus, p: int, s: int) -> np.ndarray:
    """Program p's dense n x n matrix on sequence s of an encoded corpus (for tests and
    baselines); `compiled` is a `CompiledPrograms` for the corpus's string table."""
    base = int(corpus.token_starts[s])
    return _program_matrix(compiled.code, compiled.starts[p], compiled.starts[p + 1],
                           *compiled.shared, compiled.n_shared, compiled.reals,
                           compiled.options, compiled.n_slots, corpus.columns,
                           corpus.previous, base, int(corpus.token_starts[s + 1]) - base)


@njit(cache=True, nogil=True)
def score_block(code, program_starts, mixes, flat, parts, softs, soft_terms, shared_lo, shared_hi,
                reals, options, columns, previous, token_starts, attention, entry_starts,
                attention_sums, first, last, out, accumulate, heads, work):
    """IoU of every program with every head on sequences first..last-1: into out[p, h,
    s - first], or, with `accumulate`, added up over the sequences in out[p, h, 0].

    Per sequence: the shared selectors once (laid flat for the fused mixtures, and the
    min-sums of the mixtures' parts), then every program, while the sequence's attention stays
    in the core's cache. Releases the GIL: blocks run in parallel on threads. `heads` is
    `head_marker(attention.shape[1])` (one compilation per head count); `work` is a thread's
    `buffers(...)` for sequences of up to the corpus's longest, reused from block to block.
    """
    n_heads = len(heads)
    (starts, keys, weights, flags, has, powers, phys, own, entries, inverse, counts, dense,
     scores, part_mins) = work
    n_slots = len(own)
    mins = np.empty(n_heads, np.float64)
    for s in range(first, last):
        base = token_starts[s]
        n = token_starts[s + 1] - base
        run_program(code, shared_lo, shared_hi, reals, options, columns, previous, base, n,
                    starts, keys, weights, flags, has, powers, phys, own)
        for f in range(len(flat)):
            counts[f] = lay_flat(starts, keys, n_slots + flat[f], n, entries, inverse, f)
        for k in range(len(parts)):
            part_sum_min(entries, inverse, counts, parts[k, 0], reals[parts[k, 1]], attention,
                         entry_starts[s], part_mins[k], heads)
        for p in range(len(program_starts) - 1):
            if mixes[p, 0] >= 0:  # a mixture of flat selectors: its parts' sums, fused
                a, b = mixes[p, 0], mixes[p, 1]
                ca = reals[parts[a, 1]]
                for h in range(n_heads):
                    mins[h] = part_mins[a, h]
                cb = 0.0
                if b >= 0:
                    cb = reals[parts[b, 1]]
                    for h in range(n_heads):
                        mins[h] += part_mins[b, h]
                    add_overlap(entries, inverse, counts, parts[a, 0], ca, parts[b, 0], cb,
                                attention, entry_starts[s], mins, heads, dense)
                program_sum = n * (ca + cb)
            elif softs[p, 0] >= 0:  # a soft score over shared selectors: fused
                soft_sum_min(starts, keys, n_slots, reals, soft_terms, softs[p, 0], softs[p, 1], n,
                             attention, entry_starts[s], mins, heads, scores)
                program_sum = float(n)
            else:
                run_program(code, program_starts[p], program_starts[p + 1], reals, options,
                            columns, previous, base, n, starts, keys, weights, flags, has,
                            powers, phys, own)
                program_sum = sum_min(starts, keys, weights, phys[0], n, attention,
                                      entry_starts[s], mins, heads)
            for h in range(n_heads):
                iou = mins[h] / (program_sum + attention_sums[s, h] - mins[h])
                if accumulate:
                    out[p, h, 0] += iou
                else:
                    out[p, h, s - first] = iou

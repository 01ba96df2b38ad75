"""The instruction interpreter: runs a compiled program on all query rows of one sequence.

One Numba function (`run_program`) runs every program: it executes the instructions of
`opcodes.py`, each over all rows of a sequence at once, so a new candidate costs no compilation
and the dispatch cost is paid once per instruction and sequence. The result is a sparse matrix:
per row, the keys in increasing order and their weights.

Slots are rows of the buffers `starts` (per row, where its keys begin), `keys`, `weights`,
`flags` (predicate values) and `has`. Each slot owns a buffer row (`own`); an instruction that
builds its result in the scratch slot's row only swaps two owners. `phys` is where a slot's
value is read: its own row, or the row where a shared selector is kept (`SEL_LOAD`, rows
`len(own)` and up of `starts` and `keys`), which is never written by a program. Helpers that
take arrays are called per instruction, never per element: each call costs reference counting
on every array argument.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import opcodes as o

# Weights below NEGLIGIBLE times their row's largest (far keys of a fast `decay`, the tail of a
# `softmax`) are left out of the sparse rows: an IoU changes by less than 1e-12 per entry.
NEGLIGIBLE = 1e-12
LOG_NEGLIGIBLE = np.log(NEGLIGIBLE)

# exp(x) on [LOG_NEGLIGIBLE, 0], the softmax's range, as 2**-k * exp(r) with |r| <= ln(2) / 2:
# a table of 2**-k, ln 2 split in two for an exact r (fdlibm's constants) and exp(r)'s Taylor
# series to r**13 / 13! (truncation below 1e-17). Plain arithmetic, so the loop vectorizes,
# where `np.exp` is a call per entry (it was two thirds of a softmax's cost).
_HALF_POWERS = 0.5 ** np.arange(int(-LOG_NEGLIGIBLE / np.log(2)) + 2)
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_INV_FACTORIALS = 1.0 / np.cumprod(np.arange(1.0, 14.0))  # 1/1!, ..., 1/13!


@njit(cache=True)
def _compare(op, x, y):
    """`x op y` for the operators of `opcodes.COMPARE_OPS`, numbered in order."""
    if op == 0:
        return x == y
    if op == 1:
        return x != y
    if op == 2:
        return x < y
    if op == 3:
        return x <= y
    if op == 4:
        return x > y
    return x >= y


@njit(cache=True)
def _predicate(code, k, options, columns, base, n, flags, pd, pa, pb):
    """Predicate instructions: flags[pd] over keys, queries or (query, key) pairs."""
    op, shape, p1, p2 = code[k, o.OP], code[k, o.P0], code[k, o.P1], code[k, o.P2]
    size = n * (n + 1) // 2 if shape == o.PAIRS else n
    if op == o.PRED_NOT:
        for e in range(size):
            flags[pd, e] = 1 - flags[pa, e]
        return
    if op == o.PRED_AND:
        for e in range(size):
            flags[pd, e] = flags[pa, e] & flags[pb, e]
        return
    if op == o.PRED_OR:
        for e in range(size):
            flags[pd, e] = flags[pa, e] | flags[pb, e]
        return
    p3, p4, p5 = code[k, o.P3], code[k, o.P4], code[k, o.P5]
    i = j = 0  # the (query, key) pair of entry e, for PAIRS
    for e in range(size):
        if shape == o.PAIRS:
            query, key = base + i, base + j
            j += 1
            if j > i:
                i, j = i + 1, 0
        else:  # one token at a time: the key (KEYS_ONLY) or the query (QUERY_ONLY)
            query = key = base + e
        if op == o.PRED_FEATURE:
            flags[pd, e] = columns[p2, key if p1 == o.KEY else query] != 0
        elif op == o.PRED_COMPARE:
            x = p3 if p2 == o.CONST else columns[p3, key if p2 == o.KEY else query]
            y = p5 if p4 == o.CONST else columns[p5, key if p4 == o.KEY else query]
            flags[pd, e] = _compare(p1, x, y)
        else:  # PRED_MEMBER
            x = columns[p2, key if p1 == o.KEY else query]
            found = False
            for t in range(p3, p3 + p4):
                if options[t] == x:
                    found = True
                    break
            flags[pd, e] = found


@njit(cache=True)
def _selector(code, k, columns, previous, base, n, starts, keys, flags, pd, pa):
    """Selector instructions other than set algebra: keys of every row into slot pd."""
    op, p0, p1 = code[k, o.OP], code[k, o.P0], code[k, o.P1]
    out = 0
    if op == o.SEL_SELF or op == o.SEL_FIRST or op == o.SEL_START:
        for i in range(n):
            starts[pd, i] = i
            if op == o.SEL_SELF:
                keys[pd, i] = i
            elif op == o.SEL_FIRST:
                keys[pd, i] = 0
            else:
                keys[pd, i] = columns[p1, base + i]
        out = n
    elif op == o.SEL_CAUSAL:
        for i in range(n):
            starts[pd, i] = out
            for j in range(i + 1):
                keys[pd, out + j] = j
            out += i + 1
    elif op == o.SEL_PREV:
        for i in range(n):
            starts[pd, i] = out
            if 0 <= i - p1 <= i:
                keys[pd, out] = i - p1
                out += 1
    elif op == o.SEL_WINDOW:
        for i in range(n):
            starts[pd, i] = out
            for j in range(max(0, i - code[k, o.P2]), min(i, i - p1) + 1):
                keys[pd, out] = j
                out += 1
    elif op == o.SEL_SAME:
        for i in range(n):
            row = out
            starts[pd, i] = row
            j = i
            while j >= 0:  # the chain of earlier tokens with the same value, nearest first
                out += 1
                j = previous[p1, base + j]
            j = i
            for t in range(out - 1, row - 1, -1):
                keys[pd, t] = j
                j = previous[p1, base + j]
    elif op == o.SEL_KEYS and p0 == o.KEYS_ONLY:
        for i in range(n):  # row i: the keys of row i - 1, then i itself if it holds
            row = out
            starts[pd, i] = row
            if i > 0:
                for t in range(starts[pd, i - 1], row):
                    keys[pd, out] = keys[pd, t]
                    out += 1
            if flags[pa, i]:
                keys[pd, out] = i
                out += 1
    elif op == o.SEL_KEYS:
        for i in range(n):
            starts[pd, i] = out
            e = i * (i + 1) // 2
            for j in range(i + 1):
                if flags[pa, e + j]:
                    keys[pd, out] = j
                    out += 1
    elif op == o.SEL_LAST and p0 == o.KEYS_ONLY:
        held = 0  # the keys where the predicate holds so far, kept after the n rows' keys
        for i in range(n):
            starts[pd, i] = out
            if flags[pa, i]:
                keys[pd, n + held] = i
                held += 1
            if held >= p1:
                keys[pd, out] = keys[pd, n + held - p1]
                out += 1
    elif op == o.SEL_LAST:
        for i in range(n):
            starts[pd, i] = out
            e = i * (i + 1) // 2
            seen = 0
            for j in range(i, -1, -1):
                if flags[pa, e + j]:
                    seen += 1
                    if seen == p1:
                        keys[pd, out] = j
                        out += 1
                        break
    else:  # SEL_SHIFT, in place (pd == pa): a row never grows
        read = 0
        for i in range(n):
            end = starts[pa, i + 1]
            starts[pd, i] = out
            for t in range(read, end):
                j = keys[pa, t] + p1
                if 0 <= j <= i:
                    keys[pd, out] = j
                    out += 1
            read = end
    starts[pd, n] = out


@njit(cache=True)
def _merge(op, n, starts, keys, pa, pb, ps):
    """Row by row: keys of pa (union | intersection | difference) keys of pb, into ps."""
    out = 0
    for i in range(n):
        starts[ps, i] = out
        x, x_end = starts[pa, i], starts[pa, i + 1]
        y, y_end = starts[pb, i], starts[pb, i + 1]
        while x < x_end or y < y_end:
            if y >= y_end or (x < x_end and keys[pa, x] < keys[pb, y]):
                if op != o.SEL_INTERSECT:
                    keys[ps, out] = keys[pa, x]
                    out += 1
                x += 1
            elif x >= x_end or keys[pb, y] < keys[pa, x]:
                if op == o.SEL_UNION:
                    keys[ps, out] = keys[pb, y]
                    out += 1
                y += 1
            else:
                if op != o.SEL_MINUS:
                    keys[ps, out] = keys[pa, x]
                    out += 1
                x += 1
                y += 1
    starts[ps, n] = out


@njit(cache=True)
def _weigh(decay, rate, factor, n, starts, keys, weights, has, powers, pa, ps):
    """A selector (pa) as a pattern (ps): uniform, or `decay` weights rate ** (nearest - j),
    normalized, times `factor` (a mix's weight); a row without keys becomes one-hot on key 0
    (the empty-row rule)."""
    if decay:  # the power table
        for d in range(n):
            powers[d] = rate ** float(d)
    out = 0
    for i in range(n):
        starts[ps, i] = out
        first, end = starts[pa, i], starts[pa, i + 1]
        has[ps, i] = first < end
        if first == end:
            keys[ps, out] = 0
            weights[ps, out] = factor
            out += 1
        elif not decay:
            w = 1.0 / (end - first) * factor
            for t in range(first, end):
                keys[ps, out] = keys[pa, t]
                weights[ps, out] = w
                out += 1
        else:
            nearest = keys[pa, end - 1]
            while powers[nearest - keys[pa, first]] < NEGLIGIBLE:
                first += 1  # far keys of a fast decay
            total = 0.0
            for t in range(first, end):
                total += powers[nearest - keys[pa, t]]
            for t in range(first, end):
                keys[ps, out] = keys[pa, t]
                weights[ps, out] = powers[nearest - keys[pa, t]] / total * factor
                out += 1
    starts[ps, n] = out


@njit(cache=True)
def _add(uniform, factor, n, starts, keys, weights, has, pa, pb, ps):
    """Row by row, into ps: pattern pa + factor * pattern pb (the next part of a mix); with
    `uniform`, pb is a selector taken as uniform over its keys (one-hot on key 0 if empty)."""
    out = 0
    for i in range(n):
        starts[ps, i] = out
        x, x_end = starts[pa, i], starts[pa, i + 1]
        y, y_end = starts[pb, i], starts[pb, i + 1]
        empty = uniform and y == y_end  # pb's row is then one-hot on key 0
        if empty:
            y_end = y + 1
        w = 1.0 / (y_end - y) * factor if uniform and not empty else factor
        while x < x_end or y < y_end:
            key = 0 if empty else keys[pb, min(y, y_end - 1)]
            if y >= y_end or (x < x_end and keys[pa, x] < key):
                keys[ps, out] = keys[pa, x]
                weights[ps, out] = weights[pa, x]
                x += 1
            else:
                part = w if uniform else factor * weights[pb, y]
                keys[ps, out] = key
                weights[ps, out] = part
                if x < x_end and keys[pa, x] == key:
                    weights[ps, out] += weights[pa, x]
                    x += 1
                y += 1
            out += 1
        has[ps, i] = has[pa, i] or (not empty if uniform else has[pb, i])
    starts[ps, n] = out


@njit(cache=True)
def _pick(by_flags, n, starts, keys, weights, flags, has, pc, pa, pb, ps):
    """Row by row, pattern pa or pb into ps: pa where flags[pc] holds (`if`), else where pa
    selected a key (`??`)."""
    out = 0
    for i in range(n):
        starts[ps, i] = out
        take_a = flags[pc, i] if by_flags else has[pa, i]
        source = pa if take_a else pb
        for t in range(starts[source, i], starts[source, i + 1]):
            keys[ps, out] = keys[source, t]
            weights[ps, out] = weights[source, t]
            out += 1
        has[ps, i] = has[source, i]
    starts[ps, n] = out


@njit(cache=True, inline="always")
def exp_nonpositive(x):
    """exp(x) for LOG_NEGLIGIBLE <= x <= 0 (see `_HALF_POWERS`), 0 below."""
    y = min(max(x, LOG_NEGLIGIBLE), 0.0)
    k = np.floor(y * (-1.0 / np.log(2.0)) + 0.5)  # y = -k ln 2 + r
    r = (y + k * _LN2_HI) + k * _LN2_LO
    series = _INV_FACTORIALS[12]
    for t in range(11, -1, -1):
        series = series * r + _INV_FACTORIALS[t]
    value = (1.0 + r * series) * _HALF_POWERS[int(k)]
    return value if x >= LOG_NEGLIGIBLE else 0.0


@njit(cache=True)
def softmax_row(scores):
    """Scores in place to exp(score - max), 0 where negligible (below LOG_NEGLIGIBLE, as
    `exp_nonpositive`); returns their sum, the softmax's denominator."""
    top = scores[0]
    for j in range(1, len(scores)):
        top = max(top, scores[j])
    for j in range(len(scores)):
        scores[j] = exp_nonpositive(scores[j] - top)
    total = 0.0
    for j in range(len(scores)):
        total += scores[j]
    return total


@njit(cache=True)
def _softmax(op, coef, n, starts, keys, weights, has, pd, pa):
    """Softmax instructions: scores of all keys j <= i in slot pd, then their softmax."""
    if op == o.PAT_SOFT_BEGIN:
        e = 0
        for i in range(n):
            starts[pd, i] = e
            for j in range(i + 1):
                keys[pd, e] = j
                weights[pd, e] = 0.0
                e += 1
            has[pd, i] = True
        starts[pd, n] = e
    elif op == o.PAT_SOFT_DIST:
        for i in range(n):
            e = i * (i + 1) // 2
            for j in range(i + 1):
                weights[pd, e + j] += coef * float(i - j)
    elif op == o.PAT_SOFT_KEYS:
        for i in range(n):
            e = i * (i + 1) // 2
            for t in range(starts[pa, i], starts[pa, i + 1]):
                weights[pd, e + keys[pa, t]] += coef
    else:  # PAT_SOFT_END
        out = 0
        for i in range(n):
            e = i * (i + 1) // 2
            total = softmax_row(weights[pd, e : e + i + 1])
            row = out
            for j in range(i + 1):  # compacts in place: out <= e + j
                w = weights[pd, e + j]
                if w > 0.0:
                    keys[pd, out] = j
                    weights[pd, out] = w
                    out += 1
            starts[pd, i] = row
            for t in range(row, out):
                weights[pd, t] /= total
        starts[pd, n] = out


@njit(cache=True)
def _keep(n, starts, keys, pa, pk):
    """Copy selector row pa into row pk (a shared selector kept for the sequence)."""
    for i in range(n + 1):
        starts[pk, i] = starts[pa, i]
    for t in range(starts[pa, n]):
        keys[pk, t] = keys[pa, t]


@njit(cache=True)
def run_program(code, lo, hi, reals, options, columns, previous, base, n,
                starts, keys, weights, flags, has, powers, phys, own):
    """Run instructions lo..hi-1 on the sequence of n tokens at columns base..base+n-1.

    The result, a pattern, is left in slot 0: row i's keys are
    keys[phys[0], starts[phys[0], i]:starts[phys[0], i + 1]].
    """
    scratch = len(own) - 1
    for k in range(lo, hi):
        op = code[k, o.OP]
        dst = code[k, o.DST]
        pa, pb = phys[code[k, o.A]], phys[code[k, o.B]]
        if op == o.SEL_LOAD:
            phys[dst] = len(own) + code[k, o.P1]
            continue
        if op == o.SEL_KEEP:
            _keep(n, starts, keys, pa, len(own) + code[k, o.P1])
            continue
        pd = phys[dst] = own[dst]  # in-place instructions write the slot's own row
        ps = own[scratch]  # the others write the scratch row, then swap owners
        if op <= o.PRED_OR:
            _predicate(code, k, options, columns, base, n, flags, pd, pa, pb)
            continue
        elif op == o.SEL_UNION or op == o.SEL_INTERSECT or op == o.SEL_MINUS:
            _merge(op, n, starts, keys, pa, pb, ps)
        elif op < o.PAT_UNIFORM:
            _selector(code, k, columns, previous, base, n, starts, keys, flags, pd, pa)
            continue
        elif op == o.PAT_UNIFORM or op == o.PAT_DECAY:
            _weigh(op == o.PAT_DECAY, reals[code[k, o.P0]], reals[code[k, o.P1]], n, starts,
                   keys, weights, has, powers, pa, ps)
        elif op == o.PAT_SCALE:
            for t in range(starts[pd, n]):
                weights[pd, t] *= reals[code[k, o.P0]]
            continue
        elif op == o.PAT_ADD or op == o.PAT_ADD_UNIFORM:
            _add(op == o.PAT_ADD_UNIFORM, reals[code[k, o.P0]], n, starts, keys, weights, has,
                 pa, pb, ps)
        elif op == o.PAT_FALLBACK or op == o.PAT_CHOOSE:
            choose = op == o.PAT_CHOOSE  # then pa is the condition, b and p1 the branches
            first, second = (pb, phys[code[k, o.P1]]) if choose else (pa, pb)
            _pick(choose, n, starts, keys, weights, flags, has, pa, first, second, ps)
        else:
            _softmax(op, reals[code[k, o.P0]], n, starts, keys, weights, has, pd, pa)
            continue
        own[dst], own[scratch] = ps, pd  # the result was built in the scratch row
        phys[dst], phys[scratch] = ps, pd

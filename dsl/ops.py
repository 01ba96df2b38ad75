"""The language's meaning, as plain NumPy: token features, selectors, predicates, patterns.

This file is self-contained (it imports only `unicodedata` and `numpy`) because the Python
emitter copies it verbatim into every emitted module: the reference interpreter and the emitted
programs share this one definition of the semantics.

Conventions, for a sequence of n tokens (query i = row, key j = column):
- a predicate is a boolean n x n matrix `P[i, j]` (true where it holds for key j and query i);
- a selector is a boolean n x n matrix, always causal (`S[i, j]` false for j > i);
- a pattern is a pair `(W, has)`: `W` is row-stochastic and causal, `has[i]` tells whether the
  pattern selected any key in row i *before* the empty-row rule (used by `??`).
"""

import unicodedata

import numpy as np

QUOTES = frozenset({'"', "'", "\u201c", "\u201d", "\u2018", "\u2019"})
PERIODS = frozenset({".", "!", "?"})


# ---------------------------------------------------------------- token features


def _is_punct(text):
    s = text.strip()
    return bool(s) and all(unicodedata.category(c).startswith("P") for c in s)


def _is_capital(text):
    for c in text:
        if c.isalpha():
            return c.isupper()
    return False


def features(texts, ids=None, special=None):
    """All token features of one sequence, as arrays keyed by feature name.

    `texts` follow the `text` rule (leading-space marker already turned into " "), `ids` are
    token ids (optional; only the `id` feature needs them), `special` marks special tokens
    such as BOS (default: none is special).
    """
    texts = [str(t) for t in texts]
    n = len(texts)
    special = [False] * n if special is None else [bool(s) for s in special]
    if len(special) != n or (ids is not None and len(ids) != n):
        raise ValueError("texts, ids and special must have the same length")
    bos = np.array(special, dtype=bool)
    newline = np.array(["\n" in t for t in texts], dtype=bool)
    period = np.array([t.strip() in PERIODS for t in texts], dtype=bool)
    word_start = np.array(
        [
            t[:1] in (" ", "\n")
            or (i > 0 and (special[i - 1] or texts[i - 1].endswith("\n")))
            for i, t in enumerate(texts)
        ],
        dtype=bool,
    )
    return {
        "text": np.array(texts, dtype=object),
        "id": None if ids is None else np.asarray(ids, dtype=np.int64),
        "pos": np.arange(n, dtype=np.int64),
        "bos": bos,
        "word_start": word_start,
        "punct": np.array([_is_punct(t) for t in texts], dtype=bool),
        "period": period,
        "comma": np.array([t.strip() == "," for t in texts], dtype=bool),
        "quote": np.array([t.strip() in QUOTES for t in texts], dtype=bool),
        "newline": newline,
        "capital": np.array([_is_capital(t) for t in texts], dtype=bool),
        "digit": np.array([t.strip().isdigit() for t in texts], dtype=bool),
        "word": np.cumsum(word_start & (np.arange(n) > 0)).astype(np.int64),
        "sentence": _running_index(period),
        "line": _running_index(newline),
    }


def _running_index(ends):
    """0 at the first token, +1 after every token where `ends` holds."""
    out = np.zeros(len(ends), dtype=np.int64)
    out[1:] = np.cumsum(ends[:-1])
    return out


def feature(f, name):
    """One feature's values, with a clear error for `id` when no ids were given."""
    values = f[name]
    if values is None:
        raise ValueError(f"this program uses the `{name}` feature: pass token ids")
    return values


# ---------------------------------------------------------------- predicates


def key(f, name):
    """`k.name` as an n x n matrix (constant down each column)."""
    v = feature(f, name)
    return np.broadcast_to(v[None, :], (len(v), len(v)))


def query(f, name):
    """`q.name` as an n x n matrix (constant along each row)."""
    v = feature(f, name)
    return np.broadcast_to(v[:, None], (len(v), len(v)))


_COMPARE = {
    "==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
    ">": np.greater, ">=": np.greater_equal,
}


def compare(left, op, right):
    """`left op right` elementwise, where either side is a feature matrix or a literal."""
    return np.asarray(_COMPARE[op](left, right), dtype=bool)


def is_in(values, options):
    """`x in {a, b, ...}` elementwise on a feature matrix."""
    options = set(options)
    return np.vectorize(lambda v: v in options, otypes=[bool])(values).reshape(values.shape)


# ---------------------------------------------------------------- selectors


def _n(f):
    return len(f["pos"])


def _distance(f):
    pos = f["pos"]
    return pos[:, None] - pos[None, :]


def causal(f):
    """All keys j <= i."""
    return np.tri(_n(f), dtype=bool)


def self_(f):
    """The query itself (j = i)."""
    return np.eye(_n(f), dtype=bool)


def prev(f, n):
    """The key n positions back (j = i - n)."""
    return _distance(f) == n


def first(f):
    """The first token (j = 0)."""
    s = np.zeros((_n(f), _n(f)), dtype=bool)
    s[:, 0] = True
    return s


def window(f, a, b):
    """Keys from b back to a back: i - b <= j <= i - a."""
    d = _distance(f)
    return (d >= a) & (d <= b)


def keys(f, pred):
    """The keys j <= i where the predicate holds."""
    return np.asarray(pred, dtype=bool) & causal(f)


def same(f, name):
    """The keys j <= i whose feature equals the query's: keys(k.name == q.name)."""
    return keys(f, compare(key(f, name), "==", query(f, name)))


def last(f, pred, n=1):
    """The n-th nearest key j <= i where the predicate holds (none if fewer than n)."""
    sel = keys(f, pred)
    from_right = np.cumsum(sel[:, ::-1], axis=1)[:, ::-1]
    return sel & (from_right == n)


def shift(f, sel, n):
    """The keys of `sel` moved n positions later (n < 0: earlier), kept where 0 <= j + n <= i."""
    size = _n(f)
    out = np.zeros_like(sel)
    if n >= 0:
        out[:, n:] = sel[:, : size - n] if n < size else out[:, n:]
    else:
        out[:, : size + n] = sel[:, -n:] if -n < size else out[:, : size + n]
    return out & causal(f)


def start(f, unit):
    """The first token of the query's word, sentence or line."""
    u = f[unit]
    first_of = np.searchsorted(u, u, side="left")  # units are non-decreasing runs
    return f["pos"][None, :] == first_of[:, None]


# ---------------------------------------------------------------- patterns


def _finish(weights, has):
    """Normalize rows and apply the empty-row rule: a row with no key becomes one-hot on key 0."""
    w = np.where(has[:, None], weights, 0.0)
    total = w.sum(axis=1, keepdims=True)
    w = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
    w[~has, 0] = 1.0
    return w, has


def uniform(f, sel):
    """A selector used as a pattern: uniform over its keys."""
    has = sel.any(axis=1)
    return _finish(sel.astype(np.float64), has)


def decay(f, sel, r):
    """Weight r ** (i - j) on the keys of `sel`, relative to the row's nearest key."""
    d = _distance(f).astype(np.float64)
    has = sel.any(axis=1)
    nearest = np.where(sel, d, np.inf).min(axis=1, initial=np.inf)
    nearest = np.where(has, nearest, 0.0)
    w = np.where(sel, np.power(float(r), np.where(sel, d - nearest[:, None], 0.0)), 0.0)
    return _finish(w, has)


def mix(f, parts):
    """Row-wise convex combination of (weight, pattern) pairs; weights normalized to sum 1."""
    total = float(sum(w for w, _ in parts))
    out = sum((w / total) * p[0] for w, p in parts)
    has = np.logical_or.reduce([p[1] for _, p in parts])
    return out, has


def matrix(pattern):
    """The attention matrix of a pattern."""
    return pattern[0]


def fallback(f, a, b):
    """`a ?? b`: rows where `a` selected a key come from `a`, the others from `b`."""
    return np.where(a[1][:, None], a[0], b[0]), a[1] | b[1]


def choose(f, pred, a, b):
    """`if pred then a else b`, with `pred` a predicate on the query token."""
    on = np.asarray(pred, dtype=bool)[:, 0]
    return np.where(on[:, None], a[0], b[0]), np.where(on, a[1], b[1])


def softmax(f, terms):
    """softmax over keys j <= i of sum(c * term): terms are indicator matrices or "dist" (i - j)."""
    d = _distance(f).astype(np.float64)
    score = np.zeros_like(d)
    for c, term in terms:
        score += float(c) * (d if isinstance(term, str) else np.asarray(term, dtype=np.float64))
    mask = causal(f)
    score = np.where(mask, score, -np.inf)
    w = np.exp(score - score.max(axis=1, keepdims=True))
    return _finish(w, np.ones(_n(f), dtype=bool))

"""Hypothesis generators for the language: well-typed programs covering every construct, and
token sequences whose texts exercise every token feature."""

from __future__ import annotations

from functools import cache

from hypothesis import strategies as st

from headcode.dsl import nodes as n

BOOL_FEATURES = ["bos", "word_start", "punct", "period", "comma", "quote", "newline", "capital",
                 "digit"]
INT_FEATURES = ["pos", "word", "sentence", "line", "id"]
SAME_FEATURES = ["text", "word", "sentence", "line", "punct", "capital", "id"]
VOCAB = [" the", " cat", " sat", ".", ",", " \"", "'", "\n", " Lily", "!", "?", "5", " 12", "a",
         " a", "\u2019", "\n\n", " ", "The", " and", " he", " she", "ing", ":", ".\n"]
STRINGS = [" the", " cat", ".", ",", " and", " he", " she", "The", "\n", "x"]


def _num(values):
    return values.map(n.Num)


def ints(low: int, high: int, holes: bool):
    base = _num(st.integers(low, high))
    return st.one_of(base, st.just(n.Hole())) if holes else base


def reals(low: float, high: float, holes: bool, exclude_low: bool = False):
    base = _num(st.one_of(
        st.floats(low, high, exclude_min=exclude_low, allow_nan=False),
        st.sampled_from([v for v in (0.25, 0.5, 1.0, 2, 3) if low <= v <= high and v != 0]),
    ))
    return st.one_of(base, st.just(n.Hole())) if holes else base


def _side(query_only: bool):
    return st.just("q") if query_only else st.sampled_from(["k", "q"])


@cache
def predicates(query_only: bool = False, depth: int = 2):
    """Well-typed predicates; with `query_only`, only `q.` features (for if-conditions)."""
    side = _side(query_only)
    feature = st.builds(n.Feature, side, st.sampled_from(BOOL_FEATURES))
    text_eq = st.builds(n.Compare, st.sampled_from(["==", "!="]),
                        st.builds(n.Feature, side, st.just("text")),
                        st.sampled_from(STRINGS).map(n.Str))
    int_cmp = st.builds(n.Compare, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                        st.builds(n.Feature, side, st.sampled_from(INT_FEATURES)),
                        st.one_of(st.builds(n.Feature, side, st.sampled_from(INT_FEATURES)),
                                  _num(st.integers(-1, 6))))
    member = st.builds(n.Member, st.builds(n.Feature, side, st.just("text")),
                       st.lists(st.sampled_from(STRINGS).map(n.Str), min_size=1, max_size=3)
                       .map(tuple))
    base = st.one_of(feature, text_eq, int_cmp, member)
    if depth <= 0:
        return base
    sub = predicates(query_only, depth - 1)
    return st.one_of(
        base,
        st.builds(n.Not, sub),
        st.builds(n.And, sub, sub),
        st.builds(n.Or, sub, sub),
    )


@cache
def selectors(depth: int = 2, holes: bool = False):
    base = st.one_of(
        st.builds(n.Self), st.builds(n.First), st.builds(n.Causal),
        st.builds(n.Prev, ints(0, 4, holes)),
        st.tuples(st.integers(0, 3), st.integers(0, 3)).map(
            lambda ab: n.Window(n.Num(min(ab)), n.Num(max(ab)))),
        st.builds(n.Keys, predicates(depth=1)),
        st.builds(n.Same, st.sampled_from(SAME_FEATURES)),
        st.builds(n.Last, predicates(depth=1), st.one_of(st.none(), ints(1, 3, holes))),
        st.builds(n.Start, st.sampled_from(["word", "sentence", "line"])),
    )
    if depth <= 0:
        return base
    sub = selectors(depth - 1, holes)
    return st.one_of(
        base,
        st.builds(n.Shift, sub, ints(-2, 3, holes)),
        st.builds(n.SetOp, st.sampled_from(["|", "&", "-"]), sub, sub),
    )


def _mix_items(sub, holes: bool):
    weights = st.one_of(_num(st.sampled_from([0, 1, 2, 0.5])),
                        reals(0.0, 5.0, holes))
    items = st.lists(st.tuples(weights, sub), min_size=1, max_size=3)
    return items.filter(
        lambda xs: not all(isinstance(w, n.Num) and w.value == 0 for w, _ in xs)
    ).map(tuple)


@cache
def terms(holes: bool):
    coef = st.one_of(_num(st.floats(-4, 4, allow_nan=False)), _num(st.sampled_from([1, -1, 2])),
                     *( [st.just(n.Hole())] if holes else []))
    indicator = st.one_of(st.none(), selectors(1, False), predicates(depth=1))
    return st.builds(n.Term, coef, indicator)


@cache
def patterns(depth: int = 2, holes: bool = False):
    """Well-typed programs (selectors or patterns) of bounded depth."""
    base = st.one_of(
        selectors(1, holes),
        st.builds(n.Decay, selectors(1, holes), reals(0.0, 1.0, holes, exclude_low=True)),
        st.builds(n.Softmax, st.lists(terms(holes), min_size=1, max_size=3).map(tuple)),
    )
    if depth <= 0:
        return base
    sub = patterns(depth - 1, holes)
    return st.one_of(
        base,
        st.builds(n.Mix, _mix_items(sub, holes)),
        st.builds(n.Fallback, sub, sub),
        st.builds(n.Choose, predicates(query_only=True, depth=1), sub, sub),
    )


@st.composite
def token_sequences(draw, min_size: int = 1, max_size: int = 12):
    """(texts, ids, special): a BOS-flagged start about half the time."""
    body = draw(st.lists(st.sampled_from(VOCAB), min_size=min_size, max_size=max_size))
    with_bos = draw(st.booleans())
    texts = (["<s>"] if with_bos else []) + body
    ids = [VOCAB.index(t) + 3 if t in VOCAB else 1 for t in texts]
    special = [t == "<s>" for t in texts]
    return texts, ids, special


def fill_holes(expr: n.Node, seed: int = 0) -> n.Node:
    """The expression with every hole replaced by a valid number for its position."""
    from headcode.dsl.checker import Type, hole_specs
    from headcode.dsl.holes import fill

    values = []
    for k, spec in enumerate(hole_specs(expr)):
        if spec.kind is Type.INT:
            low = int(spec.low) if spec.low is not None else -1
            values.append(low + (seed + k) % 3)
        else:
            low = spec.low if spec.low is not None else -2.0
            high = spec.high if spec.high is not None else 3.0
            values.append(low + (high - low) * (((seed + k) % 4) + 1) / 4)
    return fill(expr, values)

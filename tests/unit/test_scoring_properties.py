"""The compiled scorer agrees with the reference interpreter plus a direct NumPy IoU.

Generated programs cover every construct (all selectors, set algebra, predicates with
comparisons, memberships, not/and/or, decay, mix, fallback, if, softmax with indicator and
distance terms), on generated token sequences and random causal row-stochastic attention.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headcode.dsl import nodes as n
from headcode.dsl import ops
from headcode.dsl.interpreter import run
from headcode.scoring import compile_programs, encode_corpus, sequence_ious
from headcode.scoring.iou import soft_iou
from headcode.scoring.kernel import program_matrix

BOOL = ["bos", "word_start", "punct", "period", "comma", "quote", "newline", "capital", "digit"]
INTS = ["id", "pos", "word", "sentence", "line"]
VOCAB = ["The", " the", " cat", " sat", ".", ",", "!", "?", ' "', '"', "'", "\u201c", "\n",
         ".\n", " \n", " Lily", "Lily", " 3", "42", " and", " he", " she", ":", " ", "a"]
STRINGS = [" the", ".", ",", "\n", " Lily", "42", "The", "zzz"]

pytestmark = pytest.mark.filterwarnings("ignore:Generating overly large repr")
AGREE = settings(max_examples=200, deadline=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------- programs


def _num(values):
    return values.map(n.Num)


def _side(query_only: bool):
    return st.just("q") if query_only else st.sampled_from(["k", "q"])


def predicates(query_only: bool = False, depth: int = 2):
    """Well-typed predicates; with `query_only`, over the query token only (if-conditions)."""
    side = _side(query_only)
    text = st.builds(n.Feature, side, st.just("text"))
    integer = st.builds(n.Feature, side, st.sampled_from(INTS))
    leaves = st.one_of(
        st.builds(n.Feature, side, st.sampled_from(BOOL)),
        st.builds(n.Compare, st.sampled_from(["==", "!="]), text,
                  st.one_of(st.sampled_from(STRINGS).map(n.Str), text)),
        st.builds(n.Compare, st.sampled_from(["==", "!="]), st.sampled_from(STRINGS).map(n.Str),
                  text),
        st.builds(n.Compare, st.sampled_from(["==", "!=", "<", "<=", ">", ">="]), integer,
                  st.one_of(integer, _num(st.integers(-1, 8)))),
        st.builds(n.Compare, st.sampled_from(["==", "!="]),
                  st.builds(n.Feature, side, st.sampled_from(BOOL)),
                  st.builds(n.Feature, side, st.sampled_from(BOOL))),
        st.builds(n.Member, text, st.lists(st.sampled_from(STRINGS).map(n.Str), min_size=1,
                                           max_size=3).map(tuple)),
        st.builds(n.Member, integer, st.lists(_num(st.integers(-1, 6)), min_size=1,
                                              max_size=3).map(tuple)),
    )
    if depth <= 0:
        return leaves
    sub = predicates(query_only, depth - 1)
    return st.one_of(leaves, st.builds(n.Not, sub), st.builds(n.And, sub, sub),
                     st.builds(n.Or, sub, sub))


def _window():
    return st.tuples(st.integers(0, 5), st.integers(0, 5)).map(
        lambda ab: n.Window(n.Num(min(ab)), n.Num(max(ab))))


def selectors(depth: int = 2):
    leaves = st.one_of(
        st.builds(n.Self), st.builds(n.First), st.builds(n.Causal),
        st.builds(n.Prev, _num(st.integers(0, 6))),
        _window(),
        st.builds(n.Keys, predicates(depth=1)),
        st.builds(n.Same, st.sampled_from(["text", *BOOL, *INTS])),
        st.builds(n.Last, predicates(depth=1), st.one_of(st.none(), _num(st.integers(1, 3)))),
        st.builds(n.Start, st.sampled_from(["word", "sentence", "line"])),
    )
    if depth <= 0:
        return leaves
    sub = selectors(depth - 1)
    return st.one_of(
        leaves,
        st.builds(n.Shift, sub, _num(st.integers(-3, 3))),
        st.builds(n.SetOp, st.sampled_from(["|", "&", "-"]), sub, sub),
        st.builds(n.SetOp, st.just("|"), sub, sub),
    )


def _rates():
    return _num(st.one_of(st.sampled_from([1.0, 0.5, 0.9]),
                          st.floats(0.01, 1.0, allow_nan=False)))


def _mix_items(sub):
    weights = _num(st.one_of(st.sampled_from([0, 1, 2, 0.5]), st.floats(0.0, 5.0)))
    return st.lists(st.tuples(weights, sub), min_size=1, max_size=3).filter(
        lambda items: sum(w.value for w, _ in items) > 0).map(tuple)


def _terms():
    coef = _num(st.one_of(st.sampled_from([1, -1, 2.5]), st.floats(-4.0, 4.0)))
    indicator = st.one_of(st.none(), st.none(), selectors(1), predicates(depth=1))
    return st.lists(st.builds(n.Term, coef, indicator), min_size=1, max_size=3).map(tuple)


def patterns(depth: int = 2):
    """Runnable programs (selectors or patterns), every number filled."""
    leaves = st.one_of(
        selectors(1),
        st.builds(n.Decay, selectors(1), _rates()),
        st.builds(n.Softmax, _terms()),
    )
    if depth <= 0:
        return leaves
    sub = patterns(depth - 1)
    return st.one_of(
        leaves,
        st.builds(n.Mix, _mix_items(sub)),
        st.builds(n.Fallback, sub, sub),
        st.builds(n.Choose, predicates(query_only=True, depth=1), sub, sub),
    )


# ---------------------------------------------------------------- sequences and attention


@st.composite
def token_sequences(draw, max_size: int = 14):
    """(texts, ids, special): a BOS-flagged first token about half the time."""
    body = draw(st.lists(st.sampled_from(VOCAB), min_size=1, max_size=max_size))
    texts = (["<s>"] if draw(st.booleans()) else []) + body
    ids = [VOCAB.index(t) + 3 if t in VOCAB else 1 for t in texts]
    return texts, ids, [t == "<s>" for t in texts]


def random_attention(seed: int, heads: int, size: int) -> np.ndarray:
    """Causal row-stochastic matrices (float32, as dumps store them), some entries exactly 0."""
    rng = np.random.default_rng(seed)
    a = rng.exponential(size=(heads, size, size)) * (rng.random((heads, size, size)) < 0.7)
    a[:, :, 0] += 1e-3  # no empty row
    a *= np.tri(size)
    a /= a.sum(axis=-1, keepdims=True)
    return a.astype(np.float32)


def numpy_iou(p: np.ndarray, a: np.ndarray) -> float:
    a = a.astype(np.float64)
    return soft_iou(p, a)


PATTERNS = st.deferred(patterns)  # built once, and a short repr for hypothesis's reports


# ---------------------------------------------------------------- the properties


@AGREE
@given(st.lists(PATTERNS, min_size=1, max_size=3),
       st.lists(token_sequences(), min_size=1, max_size=3),
       st.integers(1, 3), st.integers(0, 2**31))
def test_scores_equal_interpreter_and_numpy_iou(programs, sequences, heads, seed):
    attention = [random_attention(seed + s, heads, len(texts))
                 for s, (texts, _, _) in enumerate(sequences)]
    corpus = encode_corpus([(ops.features(*seq), a) for seq, a in zip(sequences, attention)])
    ious = sequence_ious(programs, corpus)
    compiled = compile_programs(programs, corpus.interner)
    for p, program in enumerate(programs):
        for s, ((texts, ids, special), a) in enumerate(zip(sequences, attention)):
            expected = run(program, texts, ids, special)
            matrix = program_matrix(compiled, corpus, p, s)
            np.testing.assert_allclose(matrix, expected, atol=1e-9, rtol=0)
            for h in range(heads):
                assert abs(ious[p, h, s] - numpy_iou(expected, a[h])) <= 1e-6

"""Hostile input on every command (issue 12): each defect found by trying bad inputs, as a test.

Most cases need nothing from ../shared: the bundled demo model and tiny models stand in.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import token_sequences

from headcode.dsl import nodes as n
from headcode.dsl.checker import LIMITS, Checker, Type, check_expr
from headcode.dsl.errors import ProgramError, TypeCheckError
from headcode.dsl.interpreter import run
from headcode.dsl.parser import parse_expr, parse_file
from headcode.dsl.printer import show
from headcode.dsl.program import load_program, program_from_text
from headcode.dsl.tokens import Tokens
from headcode.dsl.torch_backend import TorchProgram

TEXTS = ["<s>", "The", " cat", " sat", ".", " It", " sat", "."]
IDS = [0, 5, 6, 7, 8, 9, 7, 8]
SPECIAL = [True] + [False] * 7

# ---------------------------------------------------------------- 3. linear checking


def test_checking_a_long_set_chain_infers_each_node_once(monkeypatch):
    calls = []
    infer = Checker.infer
    monkeypatch.setattr(Checker, "infer", lambda self, node: calls.append(1) or infer(self, node))
    expr = parse_expr(" | ".join(["first"] * 10) + " - self - prev(1)")
    check_expr(expr)
    assert len(calls) <= 2 * len(list(expr.walk()))  # was 2^depth: exponential


# ---------------------------------------------------------------- 4. one depth limit

DEEP = ["keys(" + "not " * 400 + "k.punct)", "shift(" * 400 + "first" + ", 1)" * 400,
        " ?? ".join(["first"] * 400)]


@pytest.mark.parametrize("text", DEEP, ids=["not", "shift", "fallback"])
def test_deep_programs_are_refused_cleanly(text):
    with pytest.raises(ProgramError, match="nested too deeply"):
        parse_expr(text)


def test_the_limit_holds_at_the_limit_and_one_beyond():
    ok = "keys(" + "not " * (n.MAX_DEPTH - 2) + "k.punct)"
    assert n.depth(parse_expr(ok)) == n.MAX_DEPTH
    with pytest.raises(ProgramError, match="nested too deeply"):
        parse_expr("keys(" + "not " * (n.MAX_DEPTH - 1) + "k.punct)")


def _deep_tree(levels: int) -> n.Node:
    expr: n.Node = n.First()
    for _ in range(levels):
        expr = n.Shift(expr, n.Num(1))
    return expr


@pytest.mark.parametrize("stage", ["checker", "printer", "interpreter", "torch", "scoring"])
def test_every_stage_refuses_a_deep_tree_before_recursing(stage):
    from headcode.synth.scoring import compile_programs
    from headcode.synth.scoring.columns import Interner

    expr = _deep_tree(5000)
    calls = {
        "checker": lambda: check_expr(expr), "printer": lambda: show(expr),
        "interpreter": lambda: run(expr, TEXTS, IDS, SPECIAL),
        "torch": lambda: TorchProgram(expr),
        "scoring": lambda: compile_programs([expr], Interner()),
    }
    with pytest.raises(ProgramError, match="nested too deeply"):
        calls[stage]()


def test_definitions_that_nest_deeply_once_inlined_are_refused():
    lines = ["d0 = shift(first, 1)"] + [f"d{k} = shift(d{k - 1}, 1)" for k in range(1, 120)]
    from headcode.dsl.checker import check_file
    from headcode.dsl.errors import ProgramErrors

    with pytest.raises(ProgramErrors, match="nested too deeply"):
        check_file(parse_file("\n".join(lines) + "\nhead 0.0 = d119\n"))


# ---------------------------------------------------------------- 6. numbers in range

OUT_OF_RANGE = ["window(0, 9223372036854775808)", "prev(1000000001)", "shift(first, -2000000000)",
                "mix(1e308: first, 1e308: self)", "softmax(1e308 * [first] + 1e308 * [self])",
                "softmax(1e39 * [first])", "k.pos == 99999999999", "k.id in {1, 10000000000}",
                "softmax(-1000001 * dist)"]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_numbers_beyond_the_bounds_are_refused(text):
    with pytest.raises(TypeCheckError, match="out of range"):
        program_from_text(text, predicate_as_keys=True)


BIG_INT, BIG_REAL = LIMITS[Type.INT], LIMITS[Type.REAL]
_COEF = st.sampled_from([BIG_REAL, -BIG_REAL, 1e-300, 0.0, 1.0, -2.5])
_SEL = st.sampled_from(["first", "self", "keys(k.punct)", "prev(1)", "causal"])


@st.composite
def bound_programs(draw) -> str:
    """Programs whose numbers sit at the bounds of the language's range."""
    kind = draw(st.sampled_from(["window", "prev", "shift", "last", "mix", "softmax", "cmp"]))
    big = draw(st.sampled_from([BIG_INT, 0, 1]))
    if kind == "window":
        return f"window({draw(st.sampled_from([0, 1, BIG_INT]))}, {BIG_INT})"
    if kind == "prev":
        return f"prev({big})"
    if kind == "shift":
        return f"shift({draw(_SEL)}, {draw(st.sampled_from([BIG_INT, -BIG_INT, -1]))})"
    if kind == "last":
        return f"last(k.punct, {max(big, 1)})"
    if kind == "cmp":
        return f"keys(k.pos <= {draw(st.sampled_from([BIG_INT, -BIG_INT]))}) ?? first"
    if kind == "mix":
        weights = draw(st.lists(st.sampled_from([BIG_REAL, 1e-300, 1.0, 0.0]), min_size=2,
                                max_size=3).filter(any))
        return "mix(" + ", ".join(f"{w!r}: {draw(_SEL)}" for w in weights) + ")"
    terms = draw(st.lists(st.tuples(_COEF, st.one_of(st.none(), _SEL)), min_size=1, max_size=3))
    return show(n.Softmax(tuple(n.Term(n.Num(c), s and parse_expr(s)) for c, s in terms)))


@given(bound_programs(), token_sequences(max_size=8))
def test_back_ends_agree_at_the_bounds(text, seq):
    from headcode.dsl import ops
    from headcode.synth.scoring import compile_programs, encode_corpus
    from headcode.synth.scoring.kernel import program_matrix

    texts, ids, special = seq
    program = program_from_text(text)
    expected = run(program, texts, ids, special)
    assert np.isfinite(expected).all()
    assert np.all(np.isclose(expected.sum(axis=1), 1) | (expected.sum(axis=1) == 0))
    tokens = [Tokens(ids, texts, special)]
    exact = TorchProgram(program).on_tokens(tokens, dtype=torch.float64)[0].numpy()
    np.testing.assert_allclose(exact, expected, atol=1e-9, rtol=0)
    single = TorchProgram(program).on_tokens(tokens, dtype=torch.float32)[0].numpy()
    assert np.isfinite(single).all()
    np.testing.assert_allclose(single.sum(axis=1), expected.sum(axis=1), atol=1e-4)
    attention = np.tril(np.ones((1, len(texts), len(texts))))
    corpus = encode_corpus([(ops.features(texts, ids, special), attention)])
    compiled = compile_programs([program], corpus.interner)
    np.testing.assert_allclose(program_matrix(compiled, corpus, 0, 0), expected, atol=1e-9,
                               rtol=0)


# ---------------------------------------------------------------- 7. no Lark internals


@pytest.mark.parametrize("text", [" ?? ".join(["first"] * k) for k in (500, 5000)]
                         + ["prev(" + "9" * 5000 + ")"])
def test_long_chains_and_numbers_give_a_plain_message(text):
    with pytest.raises(ProgramError) as caught:
        load_program(text)
    assert "Error trying to process rule" not in str(caught.value)

"""The typed served grammar: every text it derives is a program that parses and type-checks.

Random derivations are drawn from the grammar tree itself (rules, repetitions, and each
terminal's regular expression through hypothesis), so nothing here restates the grammar.
"""

from __future__ import annotations

from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headcode.dsl import nodes as n
from headcode.dsl.checker import FEATURE_TYPES, UNITS, Type, check_expr
from headcode.dsl.parser import parse_expr
from headcode.synth.llm.lark_ast import (
    Expr,
    LarkGrammar,
    Literal,
    Pattern,
    Ref,
    Repeat,
    Seq,
)
from headcode.synth.llm.served import START, served_gbnf, served_grammar, served_lark

EXTRA_DEPTH = 7  # rule nesting a derivation may take beyond the shortest one
MAX_REPEAT = 3


def _heights(grammar: LarkGrammar) -> dict[str, int]:
    """The least rule nesting each definition needs to derive a text (a fixpoint)."""
    heights: dict[str, int] = {}
    changed = True
    while changed:
        changed = False
        for name, definition in grammar.definitions.items():
            h = _height(definition.body, heights)
            if h is not None and h < heights.get(name, 1 << 30):
                heights[name] = h
                changed = True
    return heights


def _height(expr: Expr, heights: dict[str, int]) -> int | None:
    if isinstance(expr, (Literal, Pattern)):
        return 0
    if isinstance(expr, Ref):
        return heights[expr.name] + 1 if expr.name in heights else None
    if isinstance(expr, Repeat):
        return 0 if expr.low == 0 else _height(expr.item, heights)
    if isinstance(expr, Seq):
        parts = [_height(item, heights) for item in expr.items]
        return None if None in parts else max(parts, default=0)
    options = [h for h in (_height(o, heights) for o in expr.options) if h is not None]
    return min(options) if options else None


def derive(draw, grammar: LarkGrammar, heights: dict[str, int], expr: Expr, budget: int) -> str:
    """One random text `expr` derives within `budget` levels of rule nesting."""
    if isinstance(expr, Literal):
        return expr.text
    if isinstance(expr, Pattern):
        return draw(st.from_regex(expr.regex, fullmatch=True))
    if isinstance(expr, Ref):
        return derive(draw, grammar, heights, grammar.definitions[expr.name].body, budget - 1)
    if isinstance(expr, Repeat):
        high = expr.low + MAX_REPEAT if expr.high is None else min(expr.high, expr.low + MAX_REPEAT)
        count = draw(st.integers(expr.low, high)) if budget > 0 else expr.low
        return "".join(derive(draw, grammar, heights, expr.item, budget) for _ in range(count))
    if isinstance(expr, Seq):
        return "".join(derive(draw, grammar, heights, item, budget) for item in expr.items)
    fitting = [o for o in expr.options if _height(o, heights) <= budget]
    return derive(draw, grammar, heights, draw(st.sampled_from(fitting)), budget)


@cache
def _grammar(lines: int | None) -> tuple[LarkGrammar, dict[str, int]]:
    grammar = served_grammar(lines)
    return grammar, _heights(grammar)


def derivations(lines: int | None = None, rule: str = START) -> st.SearchStrategy[str]:
    """Random texts of `rule` (the start rule by default)."""
    grammar, heights = _grammar(lines)

    @st.composite
    def one(draw) -> str:
        return derive(draw, grammar, heights, Ref(rule), heights[rule] + 1 + EXTRA_DEPTH)

    return one()


def checked_type(text: str) -> Type:
    return check_expr(parse_expr(text))


@settings(max_examples=600, deadline=None)
@given(derivations())
def test_every_derivation_parses_and_checks(text):
    assert checked_type(text) in (Type.SEL, Type.PAT), text


@pytest.mark.parametrize("rule, wrap", [("sel_atom", "{}"), ("pred", "keys({})"),
                                        ("q_pred", "if {} then first else self")])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_derivations_of_inner_rules_check_in_place(rule, wrap, data):
    """Selectors and predicates drawn at full depth (the start rule's budget reaches them
    shallow), checked where the grammar puts them."""
    text = wrap.format(data.draw(derivations(rule=rule)))
    assert checked_type(text) in (Type.SEL, Type.PAT), text


@settings(max_examples=150, deadline=None)
@given(derivations(3))
def test_every_line_of_a_derived_reply_parses_and_checks(reply):
    lines = reply.split("\n")
    assert 1 <= len(lines) <= 3
    for line in lines:
        assert checked_type(line) in (Type.SEL, Type.PAT), line


@pytest.mark.parametrize("rule", ["pattern", "selector", "pred", "q_pred"])
def test_every_rule_is_reachable_and_productive(rule):
    grammar, heights = _grammar(None)
    assert rule in grammar.definitions and rule in heights


def test_the_grammar_knows_every_feature_and_unit():
    """The feature names of the grammar follow the checker's table."""
    text = served_lark()
    for name in FEATURE_TYPES:
        assert name in text
    for unit in UNITS:
        assert unit in text


@pytest.mark.parametrize("text", [
    "1.06795", "4", "k.punct", "q.bos and k.punct", '"the"', "?", "-1", "k.text",
])
def test_numbers_and_predicates_are_not_replies(text):
    """What a small model said every time to the untyped grammar: none of it is a program."""
    from lark import Lark
    from lark.exceptions import LarkError

    parser = Lark(served_lark(), start="start", parser="earley", lexer="dynamic")
    with pytest.raises(LarkError):
        parser.parse(text)


@pytest.mark.parametrize("text", [
    "prev(1)", "last(k.period) ?? first", "mix(0.7: shift(same(text) - self, 1), 0.3: first)",
    "decay(causal, 0.5)", "if q.punct then first else prev(1)",
    "softmax(3 * [first] + 1.5 * [k.punct] - 0.3 * dist)", "keys(k.text in {\" he\", \" she\"})",
    "window(1, 3)", "window(?, 12)", "decay(causal, ?)", "last(k.period, ?)", "start(sentence)",
])
def test_typical_programs_are_served(text):
    from lark import Lark

    Lark(served_lark(), start="start", parser="earley", lexer="dynamic").parse(text)
    assert isinstance(check_expr(parse_expr(text)), Type)
    assert not isinstance(parse_expr(text), n.Ref)


def test_gbnf_has_no_whitespace_rule():
    """Spacing is fixed by the grammar's literals: no optional `ws` to track."""
    assert " ws" not in served_gbnf() and served_gbnf().startswith("root ::= start\n")

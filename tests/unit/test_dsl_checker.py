"""Type checking: every case of dsl.md's Types section, with positions and hints."""

from __future__ import annotations

import pytest

from headcode.dsl.checker import Type, check_expr, check_file, hole_specs
from headcode.dsl.errors import ProgramErrors, TypeCheckError
from headcode.dsl.holes import fill
from headcode.dsl.parser import parse_expr, parse_file
from headcode.dsl.printer import show


def _check(text: str, runnable: bool = True) -> Type:
    return check_expr(parse_expr(text), runnable=runnable)


@pytest.mark.parametrize("text, expected", [
    ("k.punct", Type.PRED), ("k.word == q.word", Type.PRED), ("prev(1)", Type.SEL),
    ("shift(same(text) - self, 1)", Type.SEL), ("last(k.period) ?? first", Type.PAT),
    ("decay(causal, 0.5)", Type.PAT), ("softmax([k.period] - 0.5 * dist)", Type.PAT),
    ("if q.capital then first else self", Type.PAT), ("mix(1: self, 0: first)", Type.PAT),
    ("prev(?)", Type.SEL), ("3", Type.INT), ("2.5", Type.REAL),
])
def test_types(text, expected):
    assert _check(text, runnable=False) is expected


@pytest.mark.parametrize("text, col, fragment", [
    ("last(prev(1))", 6, "a selector where a predicate is due"),
    ("prev(-1)", 6, "out of range (must be >= 0)"),
    ("decay(causal, 1.5)", 15, "out of range (must be <= 1)"),
    ("decay(causal, 0)", 15, "out of range (must be > 0)"),
    ("keys(k.peroid)", 6, "unknown feature 'peroid' (did you mean 'period'?)"),
    ("same(txt)", 1, "did you mean 'text'?"),
    ("start(wrd)", 1, "did you mean 'word'?"),
    ("mix(0: first, 0.0: self)", 1, "weights are all zero"),
    ("mix(-1: first, 2: self)", 5, "out of range"),
    ("prev(1.5)", 6, "an integer is due"),
    ("keys(k.text == 3)", 6, "cannot compare a text feature with an integer"),
    ('keys(k.word < "a")', 6, "cannot compare"),
    ('keys(k.text < " a")', 6, "orders integers only"),
    ("keys(period)", 6, "write k.period (key token) or q.period (query token)"),
    ("k.punct | self", 1, "combine predicates with `or`"),
    ("window(3, 1)", 1, "a <= b"),
    ("keys(?)", 6, "a hole `?` stands only for a number"),
    ("if k.punct then first else self", 4, "tests the query token only"),
    ("k.period", 1, "a predicate where a pattern is due"),
    ("shift(decay(causal, 0.5), 1)", 7, "a pattern where a selector is due"),
    ("prev(self)", 6, "a selector where an integer is due"),
    ("seld", 1, "did you mean 'self'?"),
    ("keys(k.text in {1})", 17, "holds strings"),
    ("last(k.period, 0)", 16, "must be >= 1"),
])
def test_errors(text, col, fragment):
    with pytest.raises(TypeCheckError) as info:
        _check(text)
    assert info.value.pos.col == col, str(info.value)
    assert fragment in str(info.value)


def test_file_errors_are_all_reported_in_order():
    source = ("a = prev(1)\nb = a ?? first\nc = d\nhead 1.2 = x\nhead 1.2 = a\n"
              "p = k.punct\nhead 0.0 = if p then a else b\ne = f\nf = e\nz = 3\ng = c | a\n")
    with pytest.raises(ProgramErrors) as info:
        check_file(parse_file(source))
    got = [(e.pos.line, e.message) for e in info.value.errors]
    assert [line for line, _ in got] == [3, 4, 5, 7, 8, 10]  # g's error is c's, reported once
    assert "cycle: e -> f -> e" in got[4][1]
    assert "assigned twice" in got[2][1]


def test_file_types_and_refs():
    checked = check_file(parse_file("p = k.period\ns = last(p)\nh = s ?? first\nhead 0.0 = h\n"))
    assert checked.types == {"p": Type.PRED, "s": Type.SEL, "h": Type.PAT}


def test_holes_are_listed_in_order_and_filled_with_checks():
    expr = parse_expr("mix(?: decay(last(k.period, ?), ?), 1: softmax(? * [first] + ? * dist))")
    kinds = [spec.kind for spec in hole_specs(expr)]
    assert kinds == [Type.REAL, Type.INT, Type.REAL, Type.REAL, Type.REAL]
    filled = fill(expr, [0.3, 2, 0.5, 1.5, -0.2])
    assert show(filled) == (
        "mix(0.3: decay(last(k.period, 2), 0.5), 1: softmax(1.5 * [first] - 0.2 * dist))")
    with pytest.raises(TypeCheckError, match="out of range"):
        fill(expr, [0.3, 2, 1.5, 1.5, -0.2])

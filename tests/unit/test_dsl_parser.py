"""Parsing: dsl.md's vocabulary parses as written; errors carry positions and hints."""

from __future__ import annotations

import pytest

from headcode.dsl import nodes as n
from headcode.dsl.errors import ParseError, ProgramErrors
from headcode.dsl.parser import parse_expr, parse_file

VOCABULARY = [
    "k.punct", "q.bos", 'k.text == " and"', 'k.text in {" he", " she"}', "k.word == q.word",
    "k.punct and not q.bos", "k.comma or k.period",
    "self", "prev(1)", "first", "causal", "window(1, 3)", "keys(k.punct)", "same(text)",
    "same(word)", "same(sentence)", "last(k.period)", "last(k.period, 2)",
    "shift(same(text) - self, 1)", "start(word)", "start(sentence)", "start(line)",
    "prev(1) | first", "causal & same(sentence)", "causal - self",
    "decay(causal, 0.9)", "mix(0.5: first, 0.5: prev(1))", "last(k.period) ?? first",
    "if q.punct then first else prev(1)", "softmax(2 * [k.period] + 1 * [first])",
    "prev(?)", "decay(keys(k.punct), ?)", "mix(?: first, ?: self)",
]


@pytest.mark.parametrize("text", VOCABULARY)
def test_vocabulary_parses(text):
    assert isinstance(parse_expr(text), n.Node)


def test_shapes_and_precedence():
    assert parse_expr("last(k.period) ?? first") == n.Fallback(
        n.Last(n.Feature("k", "period")), n.First())
    assert parse_expr("shift(same(text) - self, 1)") == n.Shift(
        n.SetOp("-", n.Same("text"), n.Self()), n.Num(1))
    assert parse_expr("a | b & c - d") == n.SetOp(
        "|", n.Ref("a"), n.SetOp("&", n.Ref("b"), n.SetOp("-", n.Ref("c"), n.Ref("d"))))
    assert parse_expr("a ?? b ?? c") == n.Fallback(n.Ref("a"), n.Fallback(n.Ref("b"), n.Ref("c")))
    assert parse_expr("not k.punct and k.capital") == n.And(
        n.Not(n.Feature("k", "punct")), n.Feature("k", "capital"))
    assert parse_expr("softmax(2 * [first] - dist)") == n.Softmax((
        n.Term(n.Num(2), n.First()), n.Term(n.Num(-1), None)))
    assert parse_expr("prev(-1)") == n.Prev(n.Num(-1))


def test_positions_point_at_the_node():
    expr = parse_expr("mix(0.5: first,\n    0.5: last(k.period))")
    last = expr.items[1][1]
    assert (last.pos.line, last.pos.col) == (2, 10)
    assert (last.pred.pos.line, last.pred.pos.col) == (2, 15)


@pytest.mark.parametrize("text, where, fragment", [
    ("lst(k.period)", (1, 1), "unknown function 'lst' (did you mean 'last'?)"),
    ("prev(", (1, 6), "unexpected end of program"),
    ("mix(0.5 first)", (1, 9), "unexpected 'first'"),
    ("first $ self", (1, 7), "unexpected character '$'"),
    ("-self", (1, 1), "only numbers can be negated"),
    ("prev(-?)", (1, 6), "a hole takes no sign"),
    ('"a\\q"', (1, 1), "malformed string literal"),
])
def test_errors_have_positions_and_hints(text, where, fragment):
    with pytest.raises(ParseError) as info:
        parse_expr(text)
    assert (info.value.pos.line, info.value.pos.col) == where
    assert fragment in str(info.value)


def test_empty_program_is_an_error():
    with pytest.raises(ParseError, match="empty program"):
        parse_expr("  ")


def test_file_items_comments_and_heads():
    pf = parse_file(
        "# Sentence ends\n"
        "ends = last(k.period) ?? first  # most recent\n"
        "\n"
        "head 2.5 = ends\n"
        "head 0.10 = mix(0.5: ends,\n"
        "                0.5: self)\n"
        "# closing\n"
    )
    ends, h25, h010 = pf.items
    assert ends.name == "ends" and ends.comments == ("Sentence ends",)
    assert ends.trailing == "most recent"
    assert (h25.layer, h25.head, h25.blank_before) == (2, 5, True)
    assert (h010.layer, h010.head) == (0, 10)
    assert pf.closing_comments == ("closing",)
    assert pf.definitions["ends"] is ends and pf.assignments == [h25, h010]


def test_file_reports_every_broken_item():
    with pytest.raises(ProgramErrors) as info:
        parse_file("a = prev(1)\nb = mix(0.5 first)\nc = prev(1))\nd = self\n")
    assert [(e.pos.line, e.pos.col) for e in info.value.errors] == [(2, 13), (3, 12)]

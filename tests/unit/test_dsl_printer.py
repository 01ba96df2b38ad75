"""The canonical printer and formatter."""

from __future__ import annotations

import pytest

from headcode.dsl.parser import parse_expr, parse_file
from headcode.dsl.printer import show, show_file


@pytest.mark.parametrize("messy, canonical", [
    ("last( k.period )??first", "last(k.period) ?? first"),
    ("((a | b)) | c", "a | b | c"),
    ("a | (b | c)", "a | (b | c)"),
    ("(a - b) - c", "a - b - c"),
    ("a - (b - c)", "a - (b - c)"),
    ("(a ?? b) ?? c", "(a ?? b) ?? c"),
    ("(if q.punct then a else b) ?? c", "if q.punct then a else b ?? c"),
    ("if q.punct then a else (b ?? c)", "if q.punct then a else (b ?? c)"),
    ("not (k.punct and k.comma)", "not (k.punct and k.comma)"),
    ("softmax(1*[first]-2*dist)", "softmax([first] - 2 * dist)"),
    ("mix( 0.50 : first , 1e-3: self, )", "mix(0.5: first, 0.001: self)"),
    ("k.text=='\\n'", 'k.text == "\\n"'),
])
def test_canonical_forms(messy, canonical):
    assert show(parse_expr(messy)) == canonical
    assert parse_expr(canonical) == parse_expr(messy)


def test_format_keeps_comments_and_blank_lines():
    source = ("#  header\nends=last(k.period)??first #  most recent\n\n\n"
              "# the head\nhead 2.5=ends\n# trailing note\n")
    assert show_file(parse_file(source)) == (
        "# header\nends = last(k.period) ?? first  # most recent\n\n"
        "# the head\nhead 2.5 = ends\n\n# trailing note\n")
    assert show_file(parse_file(show_file(parse_file(source)))) == show_file(parse_file(source))

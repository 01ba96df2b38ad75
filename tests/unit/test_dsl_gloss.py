"""Plain English: every construct glossed, deterministically; `headcode explain`; docstrings."""

from __future__ import annotations

import inspect

import pytest
from conftest import run_cli
from hypothesis import given
from strategies import patterns, predicates

from headcode.dsl import nodes as n
from headcode.dsl.emitter import emit, emit_function
from headcode.dsl.gloss import GLOSSED_NODES, exp_factor, gloss, significant
from headcode.dsl.parser import parse_expr
from headcode.dsl.program import load_file, program_from_text

EXAMPLES = {
    "mix(0.7: prev(1), 0.3: first)":
        "mostly the previous token (70%), otherwise the first token (30%)",
    "mix(0.5: first, 0.3: keys(k.punct), 0.2: self)":
        "the first token (50%), punctuation tokens (30%) and the token itself (20%)",
    "mix(1: prev(3), 1: causal)": "the token 3 back (50%) and all tokens so far (50%)",
    "mix(?: first, 2: window(1, 3))":
        "a mix of the first token (a fitted weight) and the tokens 1 to 3 back (weight 2)",
    "softmax(3 * [first] + 1.5 * [k.punct] - 0.3 * dist)":
        "soft attention that strongly prefers the first token (×20), prefers punctuation tokens "
        "(×4.5), favours nearer tokens (×0.74 per step back)",
    "softmax([k.comma] - 1.6 * [self] + [first])":
        "soft attention that avoids the token itself (×0.2), prefers commas (×2.7) and "
        "the first token (×2.7)",
    "last(k.period) ?? first": "the most recent sentence end; if there is none, the first token",
    "last(k.quote) ?? last(k.period, 2) ?? first":
        "the most recent quote mark; if there is none, the second most recent sentence end; "
        "if there is none, the first token",
    "if q.punct then first else prev(1)":
        "when the current token is punctuation, the first token; otherwise the previous token",
    "shift(same(text) - self, 1) ?? first":
        "the token after each earlier copy of the current token; if there is none, "
        "the first token",
    'keys(k.text in {" he", " she"}) ?? first':
        'the tokens " he" or " she"; if there is none, the first token',
    "decay(causal, 0.7)": "all tokens so far, nearer ones weighted more (each step back ×0.7)",
    "decay(keys(k.capital), ?)":
        "capitalized tokens, nearer ones weighted more (each step back × a fitted factor)",
    "start(sentence) | keys(k.word == q.word)":
        "the start of the current sentence or tokens in the current word",
    "causal - self & keys(not k.punct)":
        "(all tokens so far except the token itself) that are also tokens that are not punctuation",
    "keys(k.punct and not k.text == \".\")":
        'tokens that are punctuation and whose text is not "."',
    "last(k.newline, ?)": "the n-th most recent newline (n fitted)",
    "prev(?)": "the token a fitted number of steps back",
    "if not (q.capital or q.pos < 2) then shift(keys(k.comma), -2) else same(sentence)":
        "when the current token is not capitalized and the current token's position is at least "
        "2, the token 2 before each comma; otherwise the tokens of the current sentence so far",
}


@pytest.mark.parametrize("text, expected", EXAMPLES.items())
def test_representative_glosses(text, expected):
    assert gloss(parse_expr(text)) == expected


@pytest.mark.parametrize("text, expected", [
    ("k.punct", "punctuation tokens"),
    ('q.text in {"a", "b"}', 'when the current token is "a" or "b"'),
    ("k.text", "the token's text"),
    ("3", "3"),
    ("?", "a fitted number"),
    ('"x"', '"x"'),
])
def test_predicates_and_values_alone(text, expected):
    assert gloss(parse_expr(text)) == expected


def test_a_term_alone_and_long_scores_are_summarized():
    assert gloss(n.Term(n.Num(-3), None)) == "strongly favours nearer tokens (×0.05 per step back)"
    terms = " + ".join(f"{k} * [prev({k})]" for k in range(1, 10))
    text = gloss(parse_expr(f"softmax({terms})"))
    assert text.startswith("soft attention that strongly prefers the token 9 back (×8100), ")
    assert text.endswith(" and 3 weaker terms") and "the token 3 back" not in text


def test_numbers_keep_two_significant_digits():
    assert [significant(x) for x in (0.2, 0.05, 20.09, 1234, 2.5e7, -3.14)] == [
        "0.2", "0.05", "20", "1200", "2.5e7", "-3.1"]
    assert exp_factor(1000) == "2.0e434"  # far past float range, no overflow


def test_references_read_by_name_or_by_definition():
    expr = parse_expr("mix(0.7: induction, 0.3: first)")
    assert gloss(expr) == "mostly program `induction` (70%), otherwise the first token (30%)"
    definitions = {"induction": parse_expr("shift(same(text) - self, 1)")}
    assert gloss(expr, definitions) == (
        "mostly the token after each earlier copy of the current token (70%), otherwise "
        "the first token (30%)")
    assert gloss(parse_expr("keys(p)")) == "tokens matching `p`"
    assert gloss(parse_expr("keys(p)"), {"p": parse_expr("k.comma")}) == "commas"


def test_every_node_class_is_glossed():
    classes = {c for _, c in inspect.getmembers(n, inspect.isclass)
               if issubclass(c, n.Node) and c is not n.Node}
    assert classes == GLOSSED_NODES
    seen = set()
    for text in EXAMPLES:
        seen |= {type(x) for x in parse_expr(text).walk()}
    assert classes - {n.Ref, n.Str} <= seen  # Ref and Str are glossed in the tests above


@given(patterns(depth=2, holes=True))
def test_every_program_gets_a_gloss(expr):
    text = gloss(expr)
    assert text and text.strip() == text and "\n" not in text
    assert gloss(expr) == text  # deterministic


@given(predicates(depth=2))
def test_every_predicate_gets_a_gloss(pred):
    assert gloss(n.Keys(pred)) and gloss(pred)


def test_emitted_docstrings_carry_the_gloss(tmp_path):
    (tmp_path / "p.hc").write_text(
        "ends = last(k.period) ?? first\nhead 1.2 = mix(1: ends, 3: self)\n")
    source = emit(load_file(tmp_path / "p.hc"))
    assert ('    """ends = last(k.period) ?? first\n\n'
            "    the most recent sentence end; if there is none, the first token\n"
            '    """\n') in source
    assert ("mostly the token itself (75%), otherwise (the most recent sentence end; if there is "
            "none, the first token) (25%)") in " ".join(source.split())
    one = emit_function(program_from_text('keys(k.text == "\\\\") ?? first'))
    compile(one, "one.py", "exec")
    assert 'the tokens "\\\\\\\\"; if there is none' in one


FILE = """\
induction = shift(same(text) - self, 1)
punct = k.punct
head 3.1 = mix(0.7: induction, 0.3: first)
head 0.2 = keys(punct) ?? first
"""


def test_explain_an_expression_a_named_program_and_a_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "heads.hc"
    path.write_text(FILE)
    code, out, _ = run_cli(monkeypatch, capsys, "explain", "mix(0.7: prev(1), 0.3: first)")
    assert (code, out) == (0, "mostly the previous token (70%), otherwise the first token (30%)\n")
    code, out, _ = run_cli(monkeypatch, capsys, "explain", f"{path}:induction")
    assert (code, out) == (0, "the token after each earlier copy of the current token\n")
    code, out, _ = run_cli(monkeypatch, capsys, "explain", path)
    assert code == 0 and out.splitlines() == [
        "induction: the token after each earlier copy of the current token",
        "punct: punctuation tokens",
        "head 3.1: mostly the token after each earlier copy of the current token (70%), "
        "otherwise the first token (30%)",
        "head 0.2: punctuation tokens; if there is none, the first token",
    ]


@pytest.mark.parametrize("args, message", [
    (["prev("], "<program>:1:6: unexpected end of program"),
    (["last(prev(1))"], "<program>:1:6: last(...): a selector where a predicate is due"),
    (["{good}:nope"], "error: {good}: no program named 'nope'"),
    (["{bad}"], "{bad}:1:10: prev(n): -1 is out of range"),
    (["{bad}:b"], "{bad}:1:10: prev(n): -1 is out of range"),
])
def test_explain_errors_are_one_line_exit_2(tmp_path, monkeypatch, capsys, args, message):
    files = {"good": tmp_path / "good.hc", "bad": tmp_path / "bad.hc"}
    files["good"].write_text("b = first\n")
    files["bad"].write_text("a = prev(-1)\nb = first\n")
    args = [a.format(**files) for a in args]
    code, out, err = run_cli(monkeypatch, capsys, "explain", *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith(message.format(**files))

"""The grammar converter on the language's whole expression syntax (`served.syntax_grammar`,
derived from grammars/headcode.lark): its Lark text (llguidance) and its GBNF conversion
(llama.cpp). The typed grammar actually served is tested in test_llm_served.py.

llama.cpp is not installed, so the GBNF is checked twice: for form (one rule per line, every
name defined, a root, no left recursion) and for meaning, by reading it back into a Lark grammar
(`gbnf_to_lark` below, written independently of the converter) that must accept every
expression of the language's vocabulary, the documentation and generated programs, and reject
what the language rejects.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lark import Lark
from lark.exceptions import LarkError
from strategies import patterns
from test_dsl_parser import VOCABULARY

from headcode.dsl import nodes as n
from headcode.dsl.errors import ProgramError
from headcode.dsl.parser import grammar_text, parse_expr, parse_file
from headcode.dsl.printer import show
from headcode.synth.llm.gbnf import to_gbnf
from headcode.synth.llm.lark_ast import lark_text, read_lark
from headcode.synth.llm.left_recursion import left_recursive
from headcode.synth.llm.regex_gbnf import regex_to_gbnf
from headcode.synth.llm.served import START, syntax_grammar


@cache
def served_lark(lines: int | None = None) -> str:
    """The whole expression syntax as Lark text."""
    return lark_text(syntax_grammar(lines))


@cache
def served_gbnf(lines: int | None = None) -> str:
    """The whole expression syntax as GBNF."""
    return to_gbnf(syntax_grammar(lines), start=START)

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"

# Not expressions: both the served grammars and parse_expr must reject these.
INVALID = [
    "prev(", "mix(0.5 first)", "first $ self", "last(k.period) ??", "prev 1", "k.", "(first",
    "window(1,)", "softmax()", "a = prev(1)", "head 1.2 = first", "\"open", "1.", "k.text in {}",
    "mix()", "first ?? ?? self", "if q.punct then first", "first self", "",
]
# Expressions parse_expr reads but a served grammar leaves out: a reply stands alone.
NARROWER = ["induction", "mix(0.5: sentence_end, 0.5: first)", "prev(1)  # the previous token"]


def doc_expressions() -> list[str]:
    """The expressions of docs/language.md's program blocks that refer to no other program."""
    found = []
    for block in re.findall(r"```headcode\n(.*?)```", DOC.read_text(), flags=re.S):
        for item in parse_file(block).items:
            if not any(isinstance(node, n.Ref) for node in item.expr.walk()):
                found.append(show(item.expr))
    assert len(found) >= 17
    return found


# ------------------------------------------------------------------ GBNF read back as Lark

_GBNF_TOKEN = re.compile(r'\s*(?:(?P<string>"(?:[^"\\]|\\.)*")|(?P<cls>\[(?:[^\]\\]|\\.)*\])'
                         r"|(?P<repeat>\{\d+(?:,\d*)?\})|(?P<op>[()|*+?])|(?P<name>[A-Za-z0-9-]+))")
_GBNF_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "]": "]", "[": "["}


def _lark_name(gbnf_name: str) -> str:
    prefix = "t_" if gbnf_name[:1].isupper() else "r_"
    return prefix + gbnf_name.lower().replace("-", "_")


def _decode(body: str) -> str:
    out, i = "", 0
    while i < len(body):
        if body[i] == "\\":
            if body[i + 1] == "x":
                out += chr(int(body[i + 2:i + 4], 16))
                i += 4
                continue
            out += _GBNF_ESCAPES[body[i + 1]]
            i += 2
            continue
        out += body[i]
        i += 1
    return out


def _class_regex(gbnf_class: str) -> str:
    """A GBNF class as a Python regex class inside a Lark /.../ (Lark evaluates `\\xNN` before
    the regex engine sees it, so characters special in a class are backslash-escaped)."""
    return re.sub(r"\\x([0-9A-Fa-f]{2})",
                  lambda m: "\\" + chr(int(m.group(1), 16)) if chr(int(m.group(1), 16)) in "^-]\\["
                  else m.group(0), gbnf_class)


def gbnf_to_lark(gbnf: str) -> tuple[str, set[str], set[str]]:
    """A GBNF text (one rule per line) as a character-level Lark grammar with start `r_root`;
    also the names it defines and the names it refers to."""
    rules, defined, used = [], set(), set()
    for line in gbnf.splitlines():
        if not line.strip():
            continue
        name, sep, body = line.partition(" ::= ")
        assert sep and re.fullmatch(r"[A-Za-z0-9-]+", name), line
        assert name not in defined, f"{name} defined twice"
        defined.add(name)
        parts, at = [], 0
        while at < len(body):
            match = _GBNF_TOKEN.match(body, at)
            assert match and match.end() > at, f"cannot read {body[at:]!r}"
            at = match.end()
            kind, text = match.lastgroup, match.group(match.lastgroup)
            if kind == "string":
                parts.append(json.dumps(_decode(text[1:-1])))
            elif kind == "cls":
                parts.append("/" + _class_regex(text).replace("/", "\\/") + "/")
            elif kind == "repeat":
                low, _, high = text[1:-1].partition(",")
                assert high or "," not in text, "open {m,} has no Lark form"
                parts.append(f"~ {low}..{high or low}")
            elif kind == "name":
                used.add(text)
                parts.append(_lark_name(text))
            else:
                parts.append(text)
        rules.append(f"{_lark_name(name)}: {' '.join(parts)}")
    return "\n".join(rules) + "\n", defined, used


@cache
def gbnf_parser(lines: int | None = None) -> Lark:
    lark_text, _, _ = gbnf_to_lark(served_gbnf(lines))
    return Lark(lark_text, start="r_root", parser="earley", lexer="dynamic")


@cache
def served_parser(lines: int | None = None) -> Lark:
    return Lark(served_lark(lines), start="start", parser="earley", lexer="dynamic")


def accepts(parser: Lark, text: str) -> bool:
    try:
        parser.parse(text)
    except LarkError:
        return False
    return True


def parses(text: str) -> bool:
    try:
        parse_expr(text)
    except ProgramError:
        return False
    return True


# ------------------------------------------------------------------ the served Lark text

def test_served_lark_is_plain_for_llguidance():
    text = served_lark()
    assert text.startswith("start: ")
    assert "%import" not in text and "->" not in text and "?expr" not in text
    assert not re.search(r"^[A-Z_]+\.\d", text, flags=re.M), "terminal priorities"
    assert not re.search(r"\(\?[=!<]", text), "look-around"
    assert "FEATURE.2" in grammar_text(), "the shipped grammar changed: revisit served.py"


@pytest.mark.parametrize("parser_kind", ["earley", "lalr"])
def test_served_lark_reads_the_vocabulary(parser_kind):
    parser = Lark(served_lark(), start="start", parser=parser_kind)
    for text in [*VOCABULARY, *doc_expressions()]:
        parser.parse(text)


@pytest.mark.parametrize("text", INVALID + NARROWER)
def test_served_lark_rejects(text):
    assert not accepts(served_parser(), text)
    assert parses(text) == (text in NARROWER)


def test_served_lines_take_one_program_per_line():
    parser = served_parser(3)
    assert accepts(parser, "prev(1)\nlast(k.period) ?? first\n  mix(0.5: first, 0.5: self)")
    assert not accepts(parser, "prev(1)\nfirst\nself\ncausal"), "at most 3 lines"
    assert not accepts(parser, "mix(0.5: first,\n 0.5: self)"), "an expression keeps to its line"
    assert accepts(served_parser(), "mix(0.5: first,\n 0.5: self)")


# ------------------------------------------------------------------ GBNF: form

@pytest.mark.parametrize("lines", [None, 4])
def test_gbnf_is_well_formed(lines):
    text = served_gbnf(lines)
    lark_text, defined, used = gbnf_to_lark(text)
    assert "root" in defined
    assert used <= defined, f"undefined: {used - defined}"
    assert defined - used == {"root"}, f"unused: {defined - used - {'root'}}"
    assert left_recursive(read_lark(lark_text)) == [], "llama.cpp rejects left recursion"
    for line in text.splitlines():
        assert "_" not in line.partition(" ::= ")[0], "llama.cpp names: letters, digits, -"


def test_gbnf_rewrites_left_recursion_as_repetition():
    grammar = read_lark('start: start "+" item | start "-" item | item\nitem: /[0-9]/\n')
    assert left_recursive(grammar) == ["start"]
    gbnf = to_gbnf(grammar)
    assert 'start ::= item ("+" item | "-" item)*' in gbnf
    parser = Lark(gbnf_to_lark(gbnf)[0], start="r_root", parser="earley", lexer="dynamic")
    assert accepts(parser, "1+2-3") and not accepts(parser, "1+-3")


def test_gbnf_threads_whitespace_between_tokens_only():
    gbnf = to_gbnf(read_lark('start: "a" NUM\nNUM: /[0-9]+/\n%ignore " "\n'))
    assert gbnf.splitlines() == [
        "root ::= ws start", 'start ::= "a" ws NUM ws', "NUM ::= [0-9]+", 'ws ::= " "*']


# ------------------------------------------------------------------ GBNF: meaning

def test_gbnf_reads_the_vocabulary_and_the_documentation():
    parser = gbnf_parser()
    for text in [*VOCABULARY, *doc_expressions()]:
        assert accepts(parser, text), text
        assert accepts(parser, f"  {text} \n"), "whitespace around tokens"


@pytest.mark.parametrize("text", INVALID + NARROWER)
def test_gbnf_rejects(text):
    assert not accepts(gbnf_parser(), text)


def test_gbnf_lines():
    parser = gbnf_parser(3)
    assert accepts(parser, "prev(1)\nlast(k.period) ?? first\n  mix(0.5: first, 0.5: self)")
    assert not accepts(parser, "prev(1)\nfirst\nself\ncausal")
    assert not accepts(parser, "mix(0.5: first,\n 0.5: self)")


@pytest.mark.filterwarnings("ignore:Generating overly large repr")  # the shared strategies'
@settings(max_examples=40)
@given(patterns(depth=2, holes=True))
def test_both_grammars_read_generated_programs(expr):
    text = show(expr)
    assert accepts(gbnf_parser(), text), text
    assert accepts(served_parser(), text), text


@settings(max_examples=150)
@given(st.sampled_from(VOCABULARY), st.data())
def test_gbnf_agrees_with_the_served_grammar_on_damaged_programs(text, data):
    """Delete, double or insert a character: both grammars decide alike. Deleting a space is
    left out: it can glue a keyword to a name (`k.textin`), which GBNF, reading characters,
    takes apart and Lark's greedy lexer reads as one token."""
    at = data.draw(st.integers(0, len(text)))
    edit = data.draw(st.sampled_from(["delete", "double", "insert"]))
    assume(not (edit == "delete" and text[at:at + 1] == " "))
    if edit == "delete":
        damaged = text[:at] + text[at + 1:]
    elif edit == "double":
        damaged = text[:at] + text[at:at + 1] * 2 + text[at + 1:]
    else:
        damaged = text[:at] + data.draw(st.sampled_from(list("()[]{},.:?\"' -+*|&!=<>0a"))) \
            + text[at:]
    assert accepts(gbnf_parser(), damaged) == accepts(served_parser(), damaged), damaged


TERMINAL_REGEXES = [
    r"[kq]\.[A-Za-z_][A-Za-z0-9_]*", r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?",
    r'"([^"\\\n]|\\.)*"', r"'([^'\\\n]|\\.)*'", r"#[^\n]*", r"[ \t\f\r\n]+",
    r"(?:ab|c)+x{2,3}", r"[\^\]a-][0-9].", r"\x41[^\x2d]?",
]


@pytest.mark.parametrize("regex", TERMINAL_REGEXES)
def test_regex_conversion_matches_python(regex):
    grammar = gbnf_to_lark(f"root ::= {regex_to_gbnf(regex)}\n")[0]
    parser = Lark(grammar, start="r_root", parser="earley", lexer="dynamic")

    @settings(max_examples=60)
    @given(st.one_of(st.from_regex(regex, fullmatch=True),
                     st.text(alphabet="\"'\\\n\t ^]-.aAbcx0129eE+kq_#", max_size=8)))
    def agree(sample):
        assert accepts(parser, sample) == (re.fullmatch(regex, sample) is not None), sample

    agree()


@pytest.mark.parametrize("regex", [r"^a", r"a(?=b)", r"a*?", r"(a)\1", r"\w", r"\d", r"\s", r"a|"])
def test_regex_conversion_refuses_what_gbnf_cannot_say(regex):
    with pytest.raises(ValueError):
        regex_to_gbnf(regex)


def test_shipped_grammar_is_the_only_copy():
    """The served grammars follow the shipped file: its rules appear in them."""
    for rule in ("fallback", "conditional", "weighted", "coefficient"):
        assert re.search(rf"^\??{rule}:", grammar_text(), flags=re.M)
        assert re.search(rf"^{rule}:", served_lark(), flags=re.M)
        assert re.search(rf"^{rule} ::=", served_gbnf(), flags=re.M)

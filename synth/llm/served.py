"""The grammars of LLM replies: the typed grammar served to servers that constrain decoding,
and the whole expression syntax it is a part of.

`served_lark` / `served_gbnf` are `grammars/served.lark`, a typed sublanguage of the shipped
`grammars/headcode.lark`: it derives only selectors and patterns from its start rule, numbers
only where numbers go and within the checker's bounds, so that every reply a server can
produce under it parses *and* type-checks (tests/test_llm_served.py draws random derivations
and checks them with the language's parser and checker). A grammar that admits every
expression lets a small model answer `1.06795` or `k.punct` every time: both parse, neither is
a program.

`syntax_grammar` is the expression part of the shipped grammar, derived at run time (the
converter's tests run on it): only what `single` reaches, `start` as start rule, no terminal
priorities (llguidance has none), `%import common.WS` inlined, aliases and `?` markers dropped,
and no bare NAME atom (a reply stands alone, it cannot refer to a named program).

With `lines=n`, the start rule reads 1 to n programs, one per line: a whole reply of several
candidates.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files

from ...dsl.parser import grammar_text
from .gbnf import to_gbnf
from .lark_ast import (
    Choice,
    Definition,
    Expr,
    LarkGrammar,
    Literal,
    Pattern,
    Ref,
    Repeat,
    Seq,
    lark_text,
    reachable,
    read_lark,
    resolve_imports,
)

START = "start"
SOURCE_START = "single"  # the shipped grammar's rule for one expression
LINE_SPACE = Repeat(Pattern("[ \\t]"), 1, None)  # like common.WS, without newlines
REFERENCE = ("atom", Ref("NAME"))  # the alternative of `atom` that refers to a named program


def served_grammar_text() -> str:
    """`grammars/served.lark` as shipped in the package."""
    return (files("headcode.grammars") / "served.lark").read_text(encoding="utf-8")


def _with_lines(grammar: LarkGrammar, lines: int | None) -> LarkGrammar:
    """The grammar whose start rule reads 1 to `lines` programs, one per line."""
    if lines is None:
        return grammar
    if lines < 1:
        raise ValueError("lines must be at least 1")
    body = grammar.definitions[START].body
    body = Seq((body, Repeat(Seq((Literal("\n"), body)), 0, lines - 1)))
    definitions = {**grammar.definitions, START: Definition(START, body)}
    return LarkGrammar(definitions, grammar.ignored)


@cache
def served_grammar(lines: int | None = None) -> LarkGrammar:
    """The typed served grammar as a tree: one program, or 1 to `lines` of them."""
    return _with_lines(read_lark(served_grammar_text()), lines)


@cache
def syntax_grammar(lines: int | None = None) -> LarkGrammar:
    """The expression syntax of the shipped grammar as a tree (untyped: it admits numbers and
    predicates as whole replies)."""
    shipped = resolve_imports(read_lark(grammar_text()))
    kept = reachable(shipped, [SOURCE_START])
    definitions = {START: Definition(START, shipped.definitions[SOURCE_START].body)}
    for name in kept:
        if name != SOURCE_START:
            definitions[name] = shipped.definitions[name]
    definitions[REFERENCE[0]] = _without_option(definitions[REFERENCE[0]], REFERENCE[1])
    space = "WS"
    if lines is None:
        definitions[space] = shipped.definitions[space]
    else:
        definitions[space] = Definition(space, LINE_SPACE)
    return _with_lines(LarkGrammar(definitions, (Ref(space),)), lines)


def _without_option(definition: Definition, option: Expr) -> Definition:
    body = definition.body
    if not isinstance(body, Choice) or option not in body.options:
        raise ValueError(f"the shipped grammar changed: {definition.name} has no {option}")
    kept = tuple(o for o in body.options if o != option)
    return Definition(definition.name, Choice(kept))


@cache
def served_lark(lines: int | None = None) -> str:
    """The served grammar as Lark text (start rule `start`; llguidance, vLLM's guidance)."""
    return lark_text(served_grammar(lines))


@cache
def served_gbnf(lines: int | None = None) -> str:
    """The served grammar as GBNF (llama.cpp, vLLM with xgrammar)."""
    return to_gbnf(served_grammar(lines), start=START)

"""The grammar sent to a server that constrains decoding: the expression part of the shipped
`grammars/headcode.lark`, derived at run time and adapted for llguidance-style servers.

Adaptations (replies are parsed and checked all the same: the grammar guarantees syntax only,
and even the shipped grammar admits a few texts the parser's tree builder refuses, e.g. `-self`):
- only what the start rule `single` reaches is kept (no files, head assignments or comments),
  and `single` becomes `start`, the start rule llguidance expects;
- terminal priorities (`FEATURE.2`) are dropped: llguidance does not support them, and its
  Earley parser with a dynamic lexer needs none (`k.period` can only be a FEATURE);
- `%import common.WS` is replaced by the imported definition, so terminals are plain regexes;
- aliases and `?` inlining markers are dropped: they shape Lark's tree, not the language;
- a bare NAME as an atom (a reference to another program of a file) is dropped: a reply
  stands alone, so a reference could only fail the type check.

With `lines=n`, the start rule reads 1 to n expressions, one per line, and whitespace inside a
line excludes newlines: a whole reply of several candidate programs.
"""

from __future__ import annotations

from functools import cache

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


@cache
def expression_grammar(lines: int | None = None) -> LarkGrammar:
    """The served grammar as a tree: one expression, or 1 to `lines` of them, one per line."""
    if lines is not None and lines < 1:
        raise ValueError("lines must be at least 1")
    shipped = resolve_imports(read_lark(grammar_text()))
    kept = reachable(shipped, [SOURCE_START])
    body = shipped.definitions[SOURCE_START].body
    if lines is not None:
        body = Seq((body, Repeat(Seq((Literal("\n"), body)), 0, lines - 1)))
    definitions = {START: Definition(START, body)}
    for name in kept:
        if name != SOURCE_START:
            definitions[name] = shipped.definitions[name]
    definitions[REFERENCE[0]] = _without_option(definitions[REFERENCE[0]], REFERENCE[1])
    space = "WS"
    if lines is None:
        definitions[space] = shipped.definitions[space]
    else:
        definitions[space] = Definition(space, LINE_SPACE)
    return LarkGrammar(definitions, (Ref(space),))


def _without_option(definition: Definition, option: Expr) -> Definition:
    body = definition.body
    if not isinstance(body, Choice) or option not in body.options:
        raise ValueError(f"the shipped grammar changed: {definition.name} has no {option}")
    kept = tuple(o for o in body.options if o != option)
    return Definition(definition.name, Choice(kept))


@cache
def served_lark(lines: int | None = None) -> str:
    """The served grammar as Lark text (start rule `start`)."""
    return lark_text(expression_grammar(lines))


@cache
def served_gbnf(lines: int | None = None) -> str:
    """The served grammar as GBNF (llama.cpp, vLLM with xgrammar)."""
    return to_gbnf(expression_grammar(lines), start=START)

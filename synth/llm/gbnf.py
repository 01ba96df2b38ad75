"""Lark grammars as GBNF, the grammar format of llama.cpp (and of vLLM's xgrammar back end).

GBNF works on characters, Lark on tokens. The conversion:
- rules and terminals become GBNF rules (names: `_` becomes `-`, the `_` prefix is dropped;
  rules stay lowercase, terminals uppercase); aliases and `?` markers are already gone;
- string literals become GBNF strings, regular expressions GBNF sequences (`regex_gbnf`);
- `*` `+` `?` `~ a..b` and groups keep their meaning (`~ a..b` is `{a,b}`);
- `%ignore X` becomes a rule `ws ::= X*`, placed after every token a rule uses (never inside a
  terminal) and once at the start: whitespace may stand between tokens, as in Lark;
- left recursion, which llama.cpp rejects, is rewritten as repetition (`left_recursion`);
- only what the start rule and `%ignore` reach is written.
The root rule is `root ::= ws START`. One rule per line.
"""

from __future__ import annotations

from .lark_ast import (
    Choice,
    Expr,
    LarkGrammar,
    Literal,
    Pattern,
    Ref,
    Repeat,
    Seq,
    is_terminal,
    reachable,
    references,
)
from .left_recursion import left_recursive, without_left_recursion
from .regex_gbnf import gbnf_string, quantifier, regex_to_gbnf

ROOT = "root"
SPACE = "ws"


def gbnf_name(name: str) -> str:
    """A Lark name as a GBNF rule name (letters, digits and `-`)."""
    return name.lstrip("_").replace("_", "-")


def to_gbnf(grammar: LarkGrammar, start: str = "start") -> str:
    """The grammar as GBNF text with root rule `root`."""
    if start not in grammar.definitions:
        raise ValueError(f"the grammar has no start rule {start!r}")
    grammar = without_left_recursion(grammar)
    remaining = left_recursive(grammar)
    if remaining:
        raise ValueError(f"left recursion GBNF cannot take: {', '.join(remaining)}")
    ignored = [_unrepeated(_terminal_body(grammar, expr)) for expr in grammar.ignored]
    roots = [start] + [name for expr in ignored for name in references(expr)]
    kept = reachable(grammar, roots)
    names = {name: gbnf_name(name) for name in kept}
    taken = [*names.values(), ROOT] + ([SPACE] if ignored else [])
    clashes = sorted({n for n in taken if taken.count(n) > 1})
    if clashes:
        raise ValueError(f"GBNF rule names clash: {', '.join(clashes)}")
    converter = _Converter(names, with_space=bool(ignored))
    space = [SPACE] if ignored else []
    lines = [f"{ROOT} ::= " + " ".join([*space, names[start]])]
    for name in kept:
        definition = grammar.definitions[name]
        body = converter.body(definition.body, in_terminal=definition.terminal)
        lines.append(f"{names[name]} ::= {body}")
    if ignored:
        item = Choice(tuple(ignored)) if len(ignored) > 1 else ignored[0]
        lines.append(f"{SPACE} ::= {converter.atomic(item, in_terminal=True)}*")
    return "\n".join(lines) + "\n"


def _terminal_body(grammar: LarkGrammar, expr: Expr) -> Expr:
    """An ignored terminal's definition, inlined into `ws`."""
    if isinstance(expr, Ref) and is_terminal(expr.name) and expr.name in grammar.definitions:
        return grammar.definitions[expr.name].body
    return expr


def _unrepeated(expr: Expr) -> Expr:
    """`X+` as `X`: `ws` repeats it anyway, and `(X+)*` would be needlessly ambiguous."""
    return expr.item if isinstance(expr, Repeat) and (expr.low, expr.high) == (1, None) else expr


class _Converter:
    def __init__(self, names: dict[str, str], with_space: bool):
        self.names = names
        self.with_space = with_space

    def body(self, expr: Expr, in_terminal: bool) -> str:
        return self.convert(expr, in_terminal, whole=True)

    def token(self, text: str, in_terminal: bool) -> str:
        """A token used by a rule is followed by optional whitespace."""
        return text if in_terminal or not self.with_space else f"{text} {SPACE}"

    def convert(self, expr: Expr, in_terminal: bool, whole: bool = False) -> str:
        """`expr` as GBNF; bracketed where needed to stand in a sequence, unless `whole`."""
        if isinstance(expr, Literal):
            return self.token(gbnf_string(expr.text), in_terminal)
        if isinstance(expr, Pattern):
            text = regex_to_gbnf(expr.regex, bracket=not (whole and in_terminal))
            return self.token(text, in_terminal)
        if isinstance(expr, Ref):
            return self.token(self.name(expr.name), in_terminal) if is_terminal(expr.name) \
                else self.name(expr.name)
        if isinstance(expr, Repeat):
            return self.atomic(expr.item, in_terminal) + quantifier(expr.low, expr.high)
        if isinstance(expr, Seq):
            return " ".join(self.convert(item, in_terminal) for item in expr.items)
        if isinstance(expr, Choice):
            text = " | ".join(self.convert(o, in_terminal, whole=True) for o in expr.options)
            return text if whole or len(expr.options) == 1 else f"({text})"
        raise TypeError(f"not a grammar expression: {expr!r}")

    def atomic(self, expr: Expr, in_terminal: bool) -> str:
        """`expr` as one GBNF item that a quantifier can follow."""
        if isinstance(expr, Pattern) and in_terminal:
            return regex_to_gbnf(expr.regex, bracket=True)
        plain = isinstance(expr, Literal) and in_terminal or isinstance(expr, Ref) and (
            in_terminal or not is_terminal(expr.name))
        text = self.convert(expr, in_terminal, whole=True)
        return text if plain else f"({text})"

    def name(self, name: str) -> str:
        if name not in self.names:
            raise ValueError(f"the grammar refers to {name!r} but does not define it")
        return self.names[name]

"""Left recursion rewritten as repetition, for grammar engines that cannot take it (llama.cpp
rejects left-recursive GBNF).

`A: A x | A y | b | c` becomes `A: (b | c) (x | y)*`: the same language. Only immediate left
recursion is rewritten; `left_recursive` finds whatever remains (through other rules or
nullable prefixes), which callers report as an error.
"""

from __future__ import annotations

import re

from .lark_ast import Choice, Definition, Expr, LarkGrammar, Literal, Pattern, Ref, Repeat, Seq


def without_left_recursion(grammar: LarkGrammar) -> LarkGrammar:
    """The grammar with every immediately left-recursive rule rewritten as a repetition."""
    definitions = {name: _rewrite(d) for name, d in grammar.definitions.items()}
    return LarkGrammar(definitions, grammar.ignored, grammar.imports)


def _rewrite(definition: Definition) -> Definition:
    body = definition.body
    options = body.options if isinstance(body, Choice) else (body,)
    tails, bases = [], []
    for option in options:
        items = option.items if isinstance(option, Seq) else (option,)
        if items and items[0] == Ref(definition.name):
            if len(items) == 1:
                raise ValueError(f"rule {definition.name} derives itself alone")
            tails.append(items[1:])
        else:
            bases.append(option)
    if not tails:
        return definition
    if not bases:
        raise ValueError(f"rule {definition.name} never ends its left recursion")
    base = bases[0] if len(bases) == 1 else Choice(tuple(bases))
    tail_options = tuple(t[0] if len(t) == 1 else Seq(t) for t in tails)
    tail = tail_options[0] if len(tail_options) == 1 else Choice(tail_options)
    return Definition(definition.name, Seq((base, Repeat(tail, 0, None))))


def nullable_names(grammar: LarkGrammar) -> set[str]:
    """The definitions that can match the empty string."""
    found: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, definition in grammar.definitions.items():
            if name not in found and _nullable(definition.body, found):
                found.add(name)
                changed = True
    return found


def _nullable(expr: Expr, nullable: set[str]) -> bool:
    if isinstance(expr, Literal):
        return expr.text == ""
    if isinstance(expr, Pattern):
        return re.fullmatch(expr.regex, "") is not None
    if isinstance(expr, Ref):
        return expr.name in nullable
    if isinstance(expr, Repeat):
        return expr.low == 0 or _nullable(expr.item, nullable)
    if isinstance(expr, Seq):
        return all(_nullable(item, nullable) for item in expr.items)
    return any(_nullable(option, nullable) for option in expr.options)


def _left_corners(expr: Expr, nullable: set[str]) -> set[str]:
    """The names that can begin a match of `expr`."""
    if isinstance(expr, Ref):
        return {expr.name}
    if isinstance(expr, Repeat):
        return _left_corners(expr.item, nullable)
    if isinstance(expr, Choice):
        return set().union(*(_left_corners(o, nullable) for o in expr.options))
    if isinstance(expr, Seq):
        corners: set[str] = set()
        for item in expr.items:
            corners |= _left_corners(item, nullable)
            if not _nullable(item, nullable):
                break
        return corners
    return set()


def left_recursive(grammar: LarkGrammar) -> list[str]:
    """The definitions that can begin with themselves, directly or through others."""
    nullable = nullable_names(grammar)
    corners = {name: _left_corners(d.body, nullable) for name, d in grammar.definitions.items()}
    found = []
    for name in grammar.definitions:
        seen: set[str] = set()
        pending = list(corners[name])
        while pending:
            current = pending.pop()
            if current == name:
                found.append(name)
                break
            if current in seen or current not in corners:
                continue
            seen.add(current)
            pending += corners[current]
    return found

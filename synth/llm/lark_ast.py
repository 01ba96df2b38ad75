"""A Lark grammar as a small tree: rules, terminals and `%ignore`, read with Lark's own grammar
of Lark (`lark/grammars/lark.lark`) and printed back (`lark_text`), so that other dialects can be
derived from the one shipped grammar instead of kept as copies.

Only the constructs the language's grammar uses are read: rules and terminals, alternatives,
aliases and `?`/`_`/`!` markers (dropped), string literals, regular expressions, names,
`*` `+` `?` `[...]` `~ a..b`, `"a".."z"`, groups, `%ignore` and `%import`. Anything else raises
ValueError.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib.resources import files

from lark import Lark, Token, Tree


@dataclass(frozen=True)
class Literal:
    """A string literal, e.g. `"??"`."""

    text: str


@dataclass(frozen=True)
class Pattern:
    """A regular expression, e.g. `/[0-9]+/` (Python syntax, no flags)."""

    regex: str


@dataclass(frozen=True)
class Ref:
    """A reference to a rule or terminal by name."""

    name: str


@dataclass(frozen=True)
class Repeat:
    """`item` repeated `low` to `high` times (`high` None: unbounded)."""

    item: Expr
    low: int
    high: int | None


@dataclass(frozen=True)
class Seq:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Choice:
    options: tuple[Expr, ...]


Expr = Literal | Pattern | Ref | Repeat | Seq | Choice


@dataclass(frozen=True)
class Definition:
    """A rule (lowercase name) or terminal (uppercase name) with its body."""

    name: str
    body: Expr

    @property
    def terminal(self) -> bool:
        return is_terminal(self.name)


@dataclass(frozen=True)
class LarkGrammar:
    """Definitions in source order, the `%ignore`d expressions and the `%import`s
    (module, name) not yet resolved."""

    definitions: dict[str, Definition]
    ignored: tuple[Expr, ...] = ()
    imports: tuple[tuple[str, str], ...] = ()


def is_terminal(name: str) -> bool:
    return name.lstrip("_")[:1].isupper()


@lru_cache(maxsize=1)
def _meta_parser() -> Lark:
    return Lark((files("lark") / "grammars" / "lark.lark").read_text(encoding="utf-8"),
                parser="lalr")


def read_lark(text: str) -> LarkGrammar:
    """Parse Lark grammar text into a `LarkGrammar`."""
    definitions: dict[str, Definition] = {}
    ignored: list[Expr] = []
    imports: list[tuple[str, str]] = []
    for item in _meta_parser().parse(text).children:
        if item.data in ("rule", "token"):
            name = str(item.children[0]).lstrip("!?")
            if any(p is not None for p in item.children[1].children):
                raise ValueError(f"templates are not supported: {name}")
            definitions[name] = Definition(name, _expr(item.children[-1]))
        elif item.data == "ignore":
            ignored.append(_expr(item.children[0]))
        elif item.data == "import":
            path, alias = item.children
            parts = [str(t) for t in path.scan_values(lambda v: isinstance(v, Token))]
            if alias is not None or parts[0] == ".":
                raise ValueError(f"unsupported %import: {''.join(parts)}")
            module = "".join(parts[:-2])
            imports.append((module, parts[-1]))
        else:
            raise ValueError(f"unsupported Lark statement: %{item.data}")
    return LarkGrammar(definitions, tuple(ignored), tuple(imports))


def _expr(node) -> Expr:  # noqa: C901 - one case per construct of the meta grammar
    if isinstance(node, Token):
        raise ValueError(f"unexpected token {node!r} in a grammar expression")
    kind = node.data
    if kind == "expansions":
        return Choice(tuple(_expr(c) for c in node.children))
    if kind == "alias":
        return _expr(node.children[0])  # the alias names a tree node: no effect on the language
    if kind == "expansion":
        return Seq(tuple(_expr(c) for c in node.children))
    if kind == "expr":
        return _quantified(node)
    if kind == "maybe":
        return Repeat(_expr(node.children[0]), 0, 1)
    if kind == "name":
        return Ref(str(node.children[0]))
    if kind == "literal":
        return _literal(str(node.children[0]))
    if kind == "literal_range":
        low, high = (ast.literal_eval(str(c)) for c in node.children)
        return Pattern(f"[{re.escape(low)}-{re.escape(high)}]")
    raise ValueError(f"unsupported Lark construct: {kind}")


def _quantified(node: Tree) -> Expr:
    atom, *rest = node.children
    marks = [t for t in rest if t is not None]
    inner = _expr(atom)
    if not marks:
        return inner
    if marks[0].type == "OP":
        low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[str(marks[0])]
        return Repeat(inner, low, high)
    low = int(marks[0])
    high = int(marks[1]) if len(marks) > 1 else low
    return Repeat(inner, low, high)


def _literal(text: str) -> Expr:
    if text.startswith("/"):
        body, _, flags = text[1:].rpartition("/")
        if flags:
            raise ValueError(f"regex flags are not supported: {text}")
        return Pattern(body.replace("\\/", "/"))
    if text.endswith("i"):
        raise ValueError(f"case-insensitive literals are not supported: {text}")
    return Literal(ast.literal_eval(text))


@cache
def _library(module: str) -> LarkGrammar:
    """One of the grammars shipped with Lark (`common`, ...), for `%import`."""
    return read_lark((files("lark") / "grammars" / f"{module}.lark").read_text(encoding="utf-8"))


def references(expr: Expr) -> list[str]:
    """The names `expr` refers to, in order of first appearance."""
    if isinstance(expr, Ref):
        return [expr.name]
    if isinstance(expr, Repeat):
        return references(expr.item)
    if isinstance(expr, (Seq, Choice)):
        children = expr.items if isinstance(expr, Seq) else expr.options
        found: list[str] = []
        for child in children:
            found += [name for name in references(child) if name not in found]
        return found
    return []


def resolve_imports(grammar: LarkGrammar) -> LarkGrammar:
    """The grammar with every `%import module.NAME` replaced by the imported definitions."""
    definitions = dict(grammar.definitions)
    for module, name in grammar.imports:
        library = _library(module)
        pending = [name]
        while pending:
            current = pending.pop()
            if current in definitions:
                continue
            definition = library.definitions[current]
            definitions[current] = definition
            pending += references(definition.body)
    return LarkGrammar(definitions, grammar.ignored)


def reachable(grammar: LarkGrammar, roots: list[str]) -> list[str]:
    """Names reachable from `roots` (the roots included), in the grammar's source order."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        if name not in grammar.definitions:
            raise ValueError(f"the grammar refers to {name!r} but does not define it")
        seen.add(name)
        pending += references(grammar.definitions[name].body)
    return [name for name in grammar.definitions if name in seen]


def lark_text(grammar: LarkGrammar) -> str:
    """Print a grammar tree as Lark text: one definition per item, alternatives on their own
    lines, no aliases or markers."""
    out = []
    for definition in grammar.definitions.values():
        body = definition.body
        options = body.options if isinstance(body, Choice) else (body,)
        head = f"{definition.name}: "
        lines = [head + _lark(options[0], 0)]
        lines += [" " * (len(head) - 2) + "| " + _lark(o, 0) for o in options[1:]]
        out.append("\n".join(lines))
    out += [f"%ignore {_lark(expr, 0)}" for expr in grammar.ignored]
    return "\n".join(out) + "\n"


_CHOICE, _SEQ, _ATOM = range(3)


def _lark(expr: Expr, context: int) -> str:
    """`expr` in Lark syntax, bracketed when it binds looser than `context`."""
    if isinstance(expr, Literal):
        return json.dumps(expr.text)
    if isinstance(expr, Pattern):
        return "/" + expr.regex.replace("/", "\\/") + "/"
    if isinstance(expr, Ref):
        return expr.name
    if isinstance(expr, Repeat):
        inner = _lark(expr.item, _ATOM)
        suffix = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((expr.low, expr.high))
        if suffix is None:
            if expr.high is None:
                raise ValueError("Lark has no unbounded `~ a..` repetition")
            suffix = f" ~ {expr.low}..{expr.high}"
        return inner + suffix
    if isinstance(expr, Seq):
        text = " ".join(_lark(item, _SEQ + 1) for item in expr.items)
        return f"({text})" if context > _SEQ else text
    text = " | ".join(_lark(option, _SEQ) for option in expr.options)
    return f"({text})" if context > _CHOICE else text

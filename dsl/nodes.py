"""The typed syntax tree of head programs.

Nodes are frozen dataclasses; their source position is kept out of equality, so that
`parse(print(p)) == p` compares meaning-bearing structure only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, replace
from functools import cache
from typing import Union

from .errors import Position, ProgramError

_pos = field(default=None, compare=False, repr=False)


@cache
def _field_names(cls: type) -> tuple[str, ...]:
    """A node class's field names, in order (`dataclasses.fields` is slow to ask each time)."""
    return tuple(f.name for f in fields(cls))


class Node:
    """Base of all expression nodes."""

    pos: Position | None

    def children(self) -> tuple[Node, ...]:
        """Direct sub-expressions, in source order (found once per node, then kept)."""
        try:
            return self.__dict__["_children"]
        except KeyError:
            pass
        out: list[Node] = []
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if isinstance(value, Node):
                out.append(value)
            elif isinstance(value, tuple):
                for item in value:
                    if isinstance(item, Node):
                        out.append(item)
                    elif isinstance(item, tuple):
                        out.extend(x for x in item if isinstance(x, Node))
        found = tuple(out)
        object.__setattr__(self, "_children", found)  # not a field: equality ignores it
        return found

    def walk(self) -> Iterator[Node]:
        """This node and all nodes below it, pre-order (the order holes are numbered in)."""
        stack: list[Node] = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children()))

    def map(self, fn) -> Node:
        """A copy with `fn` applied to every direct sub-expression."""
        changes = {}
        for name in _field_names(type(self)):
            value = getattr(self, name)
            if isinstance(value, Node):
                changes[name] = fn(value)
            elif isinstance(value, tuple) and value and isinstance(value[0], (Node, tuple)):
                changes[name] = tuple(
                    tuple(fn(x) for x in item) if isinstance(item, tuple) else fn(item)
                    for item in value
                )
        return replace(self, **changes) if changes else self


MAX_DEPTH = 100
"""How deeply a program may nest (nodes on its longest root-to-leaf path): one limit, checked
before any stage recurses over a program (parser, checker, printer, back ends)."""


def too_deep(pos: Position | None, kind: type[ProgramError] = ProgramError) -> ProgramError:
    """The error of a program nested more deeply than `MAX_DEPTH`, at `pos`."""
    return kind(f"program nested too deeply (at most {MAX_DEPTH} levels)", pos,
                        hint="name parts of it as definitions, or flatten long chains")


def depth(node: Node, refs: dict[str, int] | None = None) -> int:
    """The nesting depth of `node`, found without recursion; a reference to a program named in
    `refs` counts as that program's depth (its depth once inlined). Raises `too_deep` at the
    first node beyond `MAX_DEPTH`. Without `refs`, each node's depth is kept once found."""
    if not refs and "_depth" in node.__dict__:
        return node.__dict__["_depth"]
    deepest, stack = 0, [(node, 1)]
    while stack:
        here, level = stack.pop()
        kept = None if refs else here.__dict__.get("_depth")  # a subtree measured before
        if refs and isinstance(here, Ref) and here.name in refs:
            level += refs[here.name] - 1
        elif kept is not None:
            level += kept - 1
        if level > MAX_DEPTH:
            raise too_deep(here.pos or node.pos)
        deepest = max(deepest, level)
        if kept is None:
            stack.extend((child, level + 1) for child in here.children())
    if not refs:
        object.__setattr__(node, "_depth", deepest)
    return deepest


# ---------------------------------------------------------------- literals


@dataclass(frozen=True)
class Num(Node):
    value: int | float
    pos: Position | None = _pos


@dataclass(frozen=True)
class Hole(Node):
    """`?`: a number the synthesizer fits."""

    pos: Position | None = _pos


@dataclass(frozen=True)
class Str(Node):
    value: str
    pos: Position | None = _pos


# ---------------------------------------------------------------- predicates


@dataclass(frozen=True)
class Feature(Node):
    """`k.name` or `q.name`."""

    side: str
    name: str
    pos: Position | None = _pos


@dataclass(frozen=True)
class Compare(Node):
    op: str
    left: Node
    right: Node
    pos: Position | None = _pos


@dataclass(frozen=True)
class Member(Node):
    """`x in {a, b, ...}`."""

    value: Node
    options: tuple[Node, ...]
    pos: Position | None = _pos


@dataclass(frozen=True)
class Not(Node):
    operand: Node
    pos: Position | None = _pos


@dataclass(frozen=True)
class And(Node):
    left: Node
    right: Node
    pos: Position | None = _pos


@dataclass(frozen=True)
class Or(Node):
    left: Node
    right: Node
    pos: Position | None = _pos


# ---------------------------------------------------------------- selectors


@dataclass(frozen=True)
class Self(Node):
    pos: Position | None = _pos


@dataclass(frozen=True)
class First(Node):
    pos: Position | None = _pos


@dataclass(frozen=True)
class Causal(Node):
    pos: Position | None = _pos


@dataclass(frozen=True)
class Prev(Node):
    n: Node
    pos: Position | None = _pos


@dataclass(frozen=True)
class Window(Node):
    a: Node
    b: Node
    pos: Position | None = _pos


@dataclass(frozen=True)
class Keys(Node):
    pred: Node
    pos: Position | None = _pos


@dataclass(frozen=True)
class Same(Node):
    feature: str
    pos: Position | None = _pos


@dataclass(frozen=True)
class Last(Node):
    pred: Node
    n: Node | None = None
    pos: Position | None = _pos


@dataclass(frozen=True)
class Shift(Node):
    sel: Node
    n: Node
    pos: Position | None = _pos


@dataclass(frozen=True)
class Start(Node):
    unit: str
    pos: Position | None = _pos


@dataclass(frozen=True)
class SetOp(Node):
    """`a | b`, `a & b` or `a - b` on selectors."""

    op: str
    left: Node
    right: Node
    pos: Position | None = _pos


# ---------------------------------------------------------------- patterns


@dataclass(frozen=True)
class Decay(Node):
    sel: Node
    rate: Node
    pos: Position | None = _pos


@dataclass(frozen=True)
class Mix(Node):
    """`mix(w1: A, w2: B, ...)`; `items` holds (weight, pattern) pairs."""

    items: tuple[tuple[Node, Node], ...]
    pos: Position | None = _pos


@dataclass(frozen=True)
class Fallback(Node):
    """`first ?? second`."""

    first: Node
    second: Node
    pos: Position | None = _pos


@dataclass(frozen=True)
class Choose(Node):
    """`if cond then then_ else else_`."""

    cond: Node
    then: Node
    else_: Node
    pos: Position | None = _pos


@dataclass(frozen=True)
class Term(Node):
    """One term of a soft score: `coef * [indicator]`, or `coef * dist` when indicator is None."""

    coef: Node
    indicator: Node | None
    pos: Position | None = _pos


@dataclass(frozen=True)
class Softmax(Node):
    terms: tuple[Term, ...]
    pos: Position | None = _pos


@dataclass(frozen=True)
class Ref(Node):
    """A reference to a named program of the same file."""

    name: str
    pos: Position | None = _pos


Expr = Union[
    Num, Hole, Str, Feature, Compare, Member, Not, And, Or, Self, First, Causal, Prev, Window,
    Keys, Same, Last, Shift, Start, SetOp, Decay, Mix, Fallback, Choose, Softmax, Ref,
]


# ---------------------------------------------------------------- files


@dataclass(frozen=True)
class Definition:
    """`name = expr`, with the comments written above it and at the end of its line."""

    name: str
    expr: Node
    pos: Position | None = _pos
    comments: tuple[str, ...] = field(default=(), compare=False)
    trailing: str | None = field(default=None, compare=False)
    blank_before: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Assignment:
    """`head L.H = expr`: layer L, head H uses this program."""

    layer: int
    head: int
    expr: Node
    pos: Position | None = _pos
    comments: tuple[str, ...] = field(default=(), compare=False)
    trailing: str | None = field(default=None, compare=False)
    blank_before: bool = field(default=False, compare=False)


Item = Union[Definition, Assignment]


@dataclass(frozen=True)
class ProgramFile:
    """A parsed file: its items in source order and the comments after the last item."""

    items: tuple[Item, ...]
    closing_comments: tuple[str, ...] = field(default=(), compare=False)

    @property
    def definitions(self) -> dict[str, Definition]:
        return {d.name: d for d in self.items if isinstance(d, Definition)}

    @property
    def assignments(self) -> list[Assignment]:
        return [a for a in self.items if isinstance(a, Assignment)]

"""The type checker: which expressions are predicates, selectors, patterns or numbers.

Every error carries the position of the offending node and, where one helps, a hint (the nearest
known name for a misspelt one). `check_expr` checks one expression; `check_file` checks a file
and reports every item's first error at once.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from enum import Enum

from . import nodes as n
from .errors import ProgramError, ProgramErrors, TypeCheckError


class Type(Enum):
    PRED = "predicate"
    SEL = "selector"
    PAT = "pattern"
    INT = "integer"
    REAL = "real number"
    STR = "string"
    TEXT_VALUE = "text feature"
    INT_VALUE = "integer feature"


FEATURE_TYPES: dict[str, Type] = {
    "text": Type.TEXT_VALUE,
    "id": Type.INT_VALUE,
    "pos": Type.INT_VALUE,
    "bos": Type.PRED,
    "word_start": Type.PRED,
    "punct": Type.PRED,
    "period": Type.PRED,
    "comma": Type.PRED,
    "quote": Type.PRED,
    "newline": Type.PRED,
    "capital": Type.PRED,
    "digit": Type.PRED,
    "word": Type.INT_VALUE,
    "sentence": Type.INT_VALUE,
    "line": Type.INT_VALUE,
}
UNITS = ("word", "sentence", "line")
RUNNABLE = (Type.SEL, Type.PAT)
# The range of numbers, where every back end (float32 torch included) computes the same.
LIMITS = {Type.INT: 10**9, Type.REAL: 1e6}
_ORDERED = ("<", "<=", ">", ">=")


@dataclass(frozen=True)
class HoleSpec:
    """What a hole stands for: an integer or real in [low, high] (None: unbounded)."""

    kind: Type
    low: float | None
    high: float | None
    low_open: bool = False


def _nearest(name: str, known) -> str | None:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else None


class Checker:
    """Infers types; `env` maps the names of other programs to their types."""

    def __init__(self, env: dict[str, Type] | None = None,
                 predicates: dict[str, n.Node] | None = None):
        self.env = env or {}
        self.predicates = predicates or {}  # named predicates, to see through refs in `if`
        self.holes: list[HoleSpec] = []

    # ------------------------------------------------------------ entry points

    def infer(self, node: n.Node) -> Type:
        method = getattr(self, "_" + type(node).__name__.lower())
        return method(node)

    def expect(self, node: n.Node, *allowed: Type, role: str) -> Type:
        """Infer `node` and require one of `allowed` (a selector counts as a pattern)."""
        if isinstance(node, n.Hole):
            raise TypeCheckError(f"{role}: a hole `?` stands only for a number", node.pos)
        return self.admit(node, self.infer(node), *allowed, role=role)

    def admit(self, node: n.Node, got: Type, *allowed: Type, role: str) -> Type:
        """Require `node`, already inferred as `got`, to be one of `allowed` (each node is
        inferred once, so checking stays linear in the program's size)."""
        if got in allowed or (got is Type.SEL and Type.PAT in allowed):
            return Type.PAT if got is Type.SEL and Type.SEL not in allowed else got
        raise TypeCheckError(
            f"{role}: {_article(got)} where {_article(allowed[0])} is due",
            node.pos,
            hint=_hint(got, allowed),
        )

    def number(self, node: n.Node, kind: Type, role: str, low=None, high=None,
               low_open=False) -> None:
        """Require an integer or real literal (or a hole) within [low, high]."""
        if isinstance(node, n.Hole):
            self.holes.append(HoleSpec(kind, low, high, low_open))
            return
        if not isinstance(node, n.Num):
            got = self.infer(node)
            raise TypeCheckError(f"{role}: {_article(got)} where {_article(kind)} is due",
                                 node.pos)
        check_number(node.value, kind, role, low, high, low_open, node.pos)

    # ------------------------------------------------------------ literals and predicates

    def _num(self, node: n.Num) -> Type:
        kind = Type.INT if isinstance(node.value, int) else Type.REAL
        check_number(node.value, kind, "number", pos=node.pos)
        return kind

    def _hole(self, node: n.Hole) -> Type:
        raise TypeCheckError("a hole `?` stands only for a number", node.pos)

    def _str(self, node: n.Str) -> Type:
        return Type.STR

    def _feature(self, node: n.Feature) -> Type:
        if node.name not in FEATURE_TYPES:
            raise TypeCheckError(f"unknown feature {node.name!r}", node.pos,
                                 hint=_nearest(node.name, FEATURE_TYPES)
                                 or "features: " + ", ".join(FEATURE_TYPES))
        return FEATURE_TYPES[node.name]

    def _operand(self, node: n.Node) -> Type:
        if not isinstance(node, (n.Feature, n.Str, n.Num)):
            raise TypeCheckError("a comparison compares features (k.f, q.f) and literals",
                                 node.pos)
        return self.infer(node)

    def _compare(self, node: n.Compare) -> Type:
        left, right = self._operand(node.left), self._operand(node.right)
        if not (isinstance(node.left, n.Feature) or isinstance(node.right, n.Feature)):
            raise TypeCheckError("a comparison needs a feature on one side", node.pos)
        kinds = {_value_kind(left), _value_kind(right)}
        if len(kinds) != 1 or None in kinds:
            raise TypeCheckError(f"cannot compare {_article(left)} with {_article(right)}",
                                 node.pos, hint="text compares with strings, numbers with integers")
        if node.op in _ORDERED and kinds != {"int"}:
            raise TypeCheckError(f"`{node.op}` orders integers only", node.pos)
        return Type.PRED

    def _member(self, node: n.Member) -> Type:
        value = self.infer(node.value)
        if not isinstance(node.value, n.Feature) or value not in (Type.TEXT_VALUE, Type.INT_VALUE):
            raise TypeCheckError("`in {...}` tests a text or integer feature", node.value.pos)
        for option in node.options:
            if _value_kind(self._operand(option)) != _value_kind(value) or isinstance(
                option, n.Feature
            ):
                raise TypeCheckError(
                    f"the set of {node.value.side}.{node.value.name} holds "
                    + ("strings" if value is Type.TEXT_VALUE else "integers"),
                    option.pos,
                )
        return Type.PRED

    def _not(self, node: n.Not) -> Type:
        self.expect(node.operand, Type.PRED, role="`not`")
        return Type.PRED

    def _and(self, node: n.And) -> Type:
        self.expect(node.left, Type.PRED, role="`and`")
        self.expect(node.right, Type.PRED, role="`and`")
        return Type.PRED

    _or = _and

    # ------------------------------------------------------------ selectors

    def _self(self, node) -> Type:
        return Type.SEL

    _first = _causal = _self

    def _prev(self, node: n.Prev) -> Type:
        self.number(node.n, Type.INT, "prev(n)", low=0)
        return Type.SEL

    def _window(self, node: n.Window) -> Type:
        self.number(node.a, Type.INT, "window(a, b)", low=0)
        self.number(node.b, Type.INT, "window(a, b)", low=0)
        if isinstance(node.a, n.Num) and isinstance(node.b, n.Num) and node.a.value > node.b.value:
            raise TypeCheckError("window(a, b) needs a <= b", node.pos,
                                 hint="it selects keys from b back to a back")
        return Type.SEL

    def _keys(self, node: n.Keys) -> Type:
        self.expect(node.pred, Type.PRED, role="keys(...)")
        return Type.SEL

    def _same(self, node: n.Same) -> Type:
        if node.feature not in FEATURE_TYPES:
            raise TypeCheckError(f"unknown feature {node.feature!r}", node.pos,
                                 hint=_nearest(node.feature, FEATURE_TYPES))
        return Type.SEL

    def _last(self, node: n.Last) -> Type:
        self.expect(node.pred, Type.PRED, role="last(...)")
        if node.n is not None:
            self.number(node.n, Type.INT, "last(P, n)", low=1)
        return Type.SEL

    def _shift(self, node: n.Shift) -> Type:
        self.expect(node.sel, Type.SEL, role="shift(...)")
        self.number(node.n, Type.INT, "shift(S, n)")
        return Type.SEL

    def _start(self, node: n.Start) -> Type:
        if node.unit not in UNITS:
            raise TypeCheckError(f"start(...) takes word, sentence or line, not {node.unit!r}",
                                 node.pos, hint=_nearest(node.unit, UNITS))
        return Type.SEL

    def _setop(self, node: n.SetOp) -> Type:
        role = f"`{node.op}`"
        left = self.infer(node.left)
        if left is Type.PRED:
            word = {"|": "or", "&": "and", "-": "and not"}[node.op]
            raise TypeCheckError(f"{role} combines selectors; this is a predicate", node.left.pos,
                                 hint=f"combine predicates with `{word}`, or wrap it as keys(...)")
        self.admit(node.left, left, Type.SEL, role=role)
        self.expect(node.right, Type.SEL, role=role)
        return Type.SEL

    # ------------------------------------------------------------ patterns

    def _decay(self, node: n.Decay) -> Type:
        self.expect(node.sel, Type.SEL, role="decay(S, r)")
        self.number(node.rate, Type.REAL, "decay(S, r)", low=0, high=1, low_open=True)
        return Type.PAT

    def _mix(self, node: n.Mix) -> Type:
        for weight, pattern in node.items:
            self.number(weight, Type.REAL, "mix weight", low=0)
            self.expect(pattern, Type.PAT, role="mix(...)")
        if all(isinstance(w, n.Num) and w.value == 0 for w, _ in node.items):
            raise TypeCheckError("mix(...) weights are all zero", node.pos,
                                 hint="give at least one component a positive weight")
        return Type.PAT

    def _fallback(self, node: n.Fallback) -> Type:
        self.expect(node.first, Type.PAT, role="`??`")
        self.expect(node.second, Type.PAT, role="`??`")
        return Type.PAT

    def _choose(self, node: n.Choose) -> Type:
        self.expect(node.cond, Type.PRED, role="if-condition")
        key_feature = self._key_feature(node.cond)
        if key_feature is not None:
            raise TypeCheckError("an if-condition tests the query token only", key_feature.pos,
                                 hint="use q.f here; select keys with keys(...) or last(...)")
        self.expect(node.then, Type.PAT, role="then-branch")
        self.expect(node.else_, Type.PAT, role="else-branch")
        return Type.PAT

    def _key_feature(self, node: n.Node, seen=()) -> n.Feature | None:
        for sub in node.walk():
            if isinstance(sub, n.Feature) and sub.side == "k":
                return sub
            if isinstance(sub, n.Ref) and sub.name in self.predicates and sub.name not in seen:
                found = self._key_feature(self.predicates[sub.name], (*seen, sub.name))
                if found is not None:
                    return n.Feature("k", found.name, sub.pos)
        return None

    def _softmax(self, node: n.Softmax) -> Type:
        for term in node.terms:
            self.number(term.coef, Type.REAL, "softmax coefficient")
            if term.indicator is not None:
                self.expect(term.indicator, Type.SEL, Type.PRED, role="[...]")
        return Type.PAT

    def _ref(self, node: n.Ref) -> Type:
        if node.name in self.env:
            return self.env[node.name]
        if node.name in FEATURE_TYPES:
            hint = f"write k.{node.name} (key token) or q.{node.name} (query token)"
        else:
            hint = _nearest(node.name, [*self.env, "self", "first", "causal"])
        raise TypeCheckError(f"unknown name {node.name!r}", node.pos, hint=hint)


def check_number(value, kind: Type, role: str, low=None, high=None, low_open=False,
                 pos=None) -> None:
    """Require `value` to be a finite number of `kind` within the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeCheckError(f"{role}: {value!r} is not a finite number", pos)
    if kind is Type.INT and not isinstance(value, int):
        raise TypeCheckError(f"{role}: an integer is due, not {value!r}", pos)
    limit = LIMITS[Type.INT if kind is Type.INT else Type.REAL]
    if abs(value) > limit:
        bound = f"{limit:.0e}".replace("e+0", "e")
        raise TypeCheckError(f"{role}: {value!r} is out of range (|x| <= {bound})", pos,
                             hint="numbers are bounded so that every back end agrees")
    if low is not None and (value <= low if low_open else value < low):
        bound = f"> {low}" if low_open else f">= {low}"
        raise TypeCheckError(f"{role}: {value!r} is out of range (must be {bound})", pos)
    if high is not None and value > high:
        raise TypeCheckError(f"{role}: {value!r} is out of range (must be <= {high})", pos)


def _value_kind(t: Type) -> str | None:
    return {Type.TEXT_VALUE: "str", Type.STR: "str", Type.INT_VALUE: "int", Type.INT: "int",
            Type.PRED: "bool"}.get(t)


def _article(t) -> str:
    t = t if isinstance(t, Type) else t[0]
    word = t.value
    return ("an " if word[0] in "aeiou" else "a ") + word


def _hint(got: Type, allowed) -> str | None:
    if got is Type.PRED and Type.SEL in allowed or got is Type.PRED and Type.PAT in allowed:
        return "wrap a predicate as keys(P) or last(P) to select keys"
    if got in (Type.SEL, Type.PAT) and Type.PRED in allowed:
        return "a predicate tests tokens, e.g. k.period or k.text == \" and\""
    if got in (Type.TEXT_VALUE, Type.INT_VALUE):
        return "compare a feature to get a predicate, e.g. k.word == q.word"
    return None


def check_expr(expr: n.Node, env: dict[str, Type] | None = None,
               runnable: bool = True) -> Type:
    """The type of one expression; with `runnable`, it must be a selector or pattern."""
    n.depth(expr)
    checker = Checker(env)
    if runnable:
        return checker.expect(expr, Type.PAT, Type.SEL, role="program")
    return checker.infer(expr)


def hole_specs(expr: n.Node, env: dict[str, Type] | None = None) -> list[HoleSpec]:
    """The holes of a checked expression, in pre-order, with what each stands for."""
    n.depth(expr)
    checker = Checker(env)
    checker.infer(expr)
    return checker.holes


class _DependencyFailed(Exception):
    """An item refers to a definition whose own error is already reported."""


@dataclass(frozen=True)
class CheckedFile:
    """A file that type-checks: its parse and the type of every named program."""

    file: n.ProgramFile
    types: dict[str, Type]


def check_file(pf: n.ProgramFile) -> CheckedFile:
    """Check every item; raise `ProgramErrors` with each failing item's first error."""
    errors: list = []
    definitions = {}
    for item in pf.items:
        if isinstance(item, n.Definition):
            if item.name in definitions:
                errors.append(TypeCheckError(f"{item.name!r} is defined twice", item.pos,
                                             hint=f"first at {definitions[item.name].pos}"))
            else:
                definitions[item.name] = item
    types: dict[str, Type] = {}
    state: dict[str, str] = {}
    predicates: dict[str, n.Node] = {}
    depths: dict[str, int] = {}

    def visit(name: str, trail: tuple[str, ...]) -> None:
        if state.get(name) == "done" or name not in definitions:
            return
        if state.get(name) == "failed":
            raise _DependencyFailed(name)
        item = definitions[name]
        if state.get(name) == "active":
            cycle = " -> ".join((*trail[trail.index(name):], name))
            raise TypeCheckError(f"definitions refer to each other in a cycle: {cycle}", item.pos)
        state[name] = "active"
        for ref in item.expr.walk():
            if isinstance(ref, n.Ref):
                visit(ref.name, (*trail, name))
        depths[name] = n.depth(item.expr, depths)  # as deep as it will be once inlined
        t = Checker(types, predicates).infer(item.expr)
        if t not in (Type.PRED, Type.SEL, Type.PAT):
            raise TypeCheckError(f"{name!r} is {_article(t)}; a program must be a predicate, "
                                 "selector or pattern", item.expr.pos)
        types[name] = t
        if t is Type.PRED:
            predicates[name] = item.expr
        state[name] = "done"

    seen_heads: dict[tuple[int, int], n.Assignment] = {}
    for item in pf.items:
        try:
            if isinstance(item, n.Definition):
                visit(item.name, ())
            else:
                key = (item.layer, item.head)
                if key in seen_heads:
                    raise TypeCheckError(f"head {item.layer}.{item.head} is assigned twice",
                                         item.pos, hint=f"first at {seen_heads[key].pos}")
                seen_heads[key] = item
                n.depth(item.expr, depths)
                Checker(types, predicates).expect(item.expr, Type.PAT, Type.SEL,
                                                  role=f"head {item.layer}.{item.head}")
        except (ProgramError, _DependencyFailed) as e:
            if isinstance(e, ProgramError):
                errors.append(e)
            for name, status in state.items():  # whatever was being checked failed with it
                if status == "active":
                    state[name] = "failed"
    if errors:
        errors.sort(key=lambda e: (e.pos.line, e.pos.col) if e.pos else (0, 0))
        raise ProgramErrors(errors)
    return CheckedFile(pf, types)

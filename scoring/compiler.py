"""From checked programs to the scorer's instructions (see `opcodes.py`).

Each node is evaluated into the slot given by its depth on an evaluation stack: its children go
to the same slot and the ones above it, and it leaves its own value in its slot; a program's
result lands in slot 0. A selector used where a pattern is due gets an explicit `PAT_UNIFORM`.
A predicate takes the cheapest shape that holds its meaning: per key when it reads key tokens
only (`keys(k.period)` then costs one test per token, not per pair), per query for an `if`
condition, per (query, key) pair otherwise. String literals become ids of the same `Interner`
that encodes the corpus's texts, so `k.text == " and"` compares two integers.

Selectors are shared across the programs compiled together: each distinct one (up to
`shared_limit`) is computed once per sequence by the shared code, and every program that uses
it reads it in place (`SEL_LOAD`). Candidate sets reuse a few selectors in many mixtures,
decays and soft scores, so this saves most of the work of building selectors.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from ..dsl import nodes as n
from ..dsl.checker import FEATURE_TYPES, Type, check_expr
from ..dsl.errors import EvaluationError
from ..dsl.holes import require_filled
from ..dsl.program import Program
from . import opcodes as o
from .columns import COLUMN, Interner

PREDICATES = (n.Feature, n.Compare, n.Member, n.Not, n.And, n.Or)
SELECTORS = (n.Self, n.First, n.Causal, n.Prev, n.Window, n.Keys, n.Same, n.Last, n.Shift,
             n.Start, n.SetOp)
_INT64 = (-(2**63), 2**63 - 1)
# Distinct selectors kept per sequence at most. Each reserves, per scoring thread and for
# sequences of w tokens, about w(w + 1) / 2 * 16 bytes (its keys and, laid flat, its entries and
# weights): address space, touched only as far as the selector reaches. SHARED_BYTES bounds the
# total; the selectors past the limit are built by each program that uses them, as before.
MAX_SHARED = 1024
SHARED_BYTES = 256 << 20


def shared_limit(width: int) -> int:
    """How many selectors to share for sequences of up to `width` tokens."""
    return int(min(MAX_SHARED, SHARED_BYTES // (16 * (width * (width + 1) // 2 + width))))


@dataclass(frozen=True)
class CompiledPrograms:
    """Instructions of many programs in shared tables: program p is code[starts[p]:starts[p+1]]."""

    code: np.ndarray  # (instructions, opcodes.WIDTH) int64
    starts: np.ndarray  # (programs + 1,) int64
    shared: tuple[int, int]  # code[shared[0]:shared[1]]: the shared selectors, kept per sequence
    n_shared: int  # shared selectors
    mixes: np.ndarray  # (programs, 2) int64: a mixture's parts, or -1 (see `mix_form`)
    flat: np.ndarray  # (flat selectors,) int64: the shared selector each one is a flat view of
    parts: np.ndarray  # (parts, 2) int64: a mixture's part, [flat selector, factor (reals index)]
    softs: np.ndarray  # (programs, 2) int64: a soft score's terms soft_terms[lo:hi], or -1
    soft_terms: np.ndarray  # (terms, 2) int64: coefficient (reals index), shared selector or -1
    reals: np.ndarray  # float64, indexed by instructions' p0
    options: np.ndarray  # int64, member options
    n_slots: int  # value slots a program needs, the scratch slot included
    uses_id: np.ndarray  # (programs,) bool: the program reads token ids
    interner: Interner = field(repr=False, compare=False)  # the string ids of its literals

    def __len__(self) -> int:
        return len(self.starts) - 1


def _number(node: n.Node) -> int | float:
    require_filled(node)
    if not isinstance(node, n.Num):
        raise EvaluationError(f"a number is due, not {type(node).__name__}")
    return node.value


def mix_factors(items) -> list[float]:
    """A mixture's weights, normalized to sum to 1."""
    weights = [float(_number(w)) for w, _ in items]
    total = sum(weights)
    if not total > 0:
        raise EvaluationError("mix(...) weights must not all be zero")
    return [w / total for w in weights]


def key_only(pred: n.Node) -> bool:
    """Whether a predicate reads no query token (it is then the same for every query)."""
    return not any(isinstance(x, n.Feature) and x.side == "q" for x in pred.walk())


class _Emitter:
    """Appends the instructions of one program after another to shared tables."""

    def __init__(self, interner: Interner, max_shared: int = MAX_SHARED):
        self.interner = interner
        self.max_shared = max_shared
        self.code: list[list[int]] = []
        self.reals: list[float] = [1.0]  # entry 0: the factor of a pattern outside a mix
        self.options: list[int] = []
        self.top = 0
        self.shared: dict[n.Node, int] = {}  # selector -> its index among the shared ones
        self.shared_code: list[list[int]] = []

    def emit(self, op: int, dst: int, a: int = 0, b: int = 0, *params: int) -> None:
        row = [op, dst, a, b, *params]
        self.code.append(row + [0] * (o.WIDTH - len(row)))
        self.top = max(self.top, dst, a, b)

    def real(self, value: float) -> int:
        self.reals.append(float(value))
        return len(self.reals) - 1

    # ------------------------------------------------------------ operands and predicates

    def operand(self, node: n.Node) -> tuple[int, int]:
        """(kind, value) of a comparison side: a feature column or an integer constant."""
        if isinstance(node, n.Feature):
            return (o.KEY if node.side == "k" else o.QUERY), COLUMN[node.name]
        if isinstance(node, n.Str):
            return o.CONST, self.interner.id(node.value)
        value = _number(node)
        if isinstance(value, float):
            raise EvaluationError(f"features compare with integers, not {value!r}")
        return o.CONST, min(max(int(value), _INT64[0]), _INT64[1])

    def predicate(self, node: n.Node, d: int, shape: int) -> None:
        """`node` as 0/1 values of `shape` (opcodes.KEYS_ONLY, QUERY_ONLY or PAIRS) in slot d."""
        match node:
            case n.Feature(side=side, name=name):
                if FEATURE_TYPES[name] is not Type.PRED:
                    raise EvaluationError(f"`{side}.{name}` is not a true/false feature")
                kind = o.KEY if side == "k" else o.QUERY
                self.emit(o.PRED_FEATURE, d, 0, 0, shape, kind, COLUMN[name])
            case n.Compare(op=op, left=left, right=right):
                (lk, lv), (rk, rv) = self.operand(left), self.operand(right)
                self.emit(o.PRED_COMPARE, d, 0, 0, shape, o.COMPARE_OPS[op], lk, lv, rk, rv)
            case n.Member(value=value, options=options):
                kind, column = self.operand(value)
                start = len(self.options)
                self.options.extend(self.operand(option)[1] for option in options)
                self.emit(o.PRED_MEMBER, d, 0, 0, shape, kind, column, start, len(options))
            case n.Not(operand=operand):
                self.predicate(operand, d, shape)
                self.emit(o.PRED_NOT, d, d, 0, shape)
            case n.And(left=left, right=right) | n.Or(left=left, right=right):
                self.predicate(left, d, shape)
                self.predicate(right, d + 1, shape)
                op = o.PRED_AND if isinstance(node, n.And) else o.PRED_OR
                self.emit(op, d, d, d + 1, shape)
            case _:
                raise EvaluationError(f"a predicate is due, not {type(node).__name__}")

    def key_predicate(self, node: n.Node, d: int) -> int:
        """A predicate over keys (of `keys`, `last`, `[P]`) in slot d; returns its shape."""
        shape = o.KEYS_ONLY if key_only(node) else o.PAIRS
        self.predicate(node, d, shape)
        return shape

    # ------------------------------------------------------------ selectors

    def selector(self, node: n.Node, d: int) -> None:  # noqa: C901 - one case per construct
        """`node` as sorted keys per row in slot d."""
        match node:
            case n.Self():
                self.emit(o.SEL_SELF, d)
            case n.First():
                self.emit(o.SEL_FIRST, d)
            case n.Causal():
                self.emit(o.SEL_CAUSAL, d)
            case n.Prev(n=k):
                self.emit(o.SEL_PREV, d, 0, 0, 0, _number(k))
            case n.Window(a=a, b=b):
                self.emit(o.SEL_WINDOW, d, 0, 0, 0, _number(a), _number(b))
            case n.Keys(pred=pred):
                shape = self.key_predicate(pred, d)
                self.emit(o.SEL_KEYS, d, d, 0, shape)
            case n.Last(pred=pred, n=k):
                shape = self.key_predicate(pred, d)
                self.emit(o.SEL_LAST, d, d, 0, shape, 1 if k is None else _number(k))
            case n.Same(feature=name):
                self.emit(o.SEL_SAME, d, 0, 0, 0, COLUMN[name])
            case n.Shift(sel=sel, n=k):
                self.selector(sel, d)
                self.emit(o.SEL_SHIFT, d, d, 0, 0, _number(k))
            case n.Start(unit=unit):
                self.emit(o.SEL_START, d, 0, 0, 0, COLUMN[f"start_{unit}"])
            case n.SetOp(op=op, left=left, right=right):
                self.selector(left, d)
                self.selector(right, d + 1)
                code = {"|": o.SEL_UNION, "&": o.SEL_INTERSECT, "-": o.SEL_MINUS}[op]
                self.emit(code, d, d, d + 1)
            case _:
                raise EvaluationError(f"a selector is due, not {type(node).__name__}")

    def shared_selector(self, node: n.Node, d: int) -> None:
        """`node` read in slot d from the shared selectors, added to them when new."""
        index = self.shared.get(node)
        if index is None:
            if len(self.shared) >= self.max_shared:
                self.selector(node, d)
                return
            index = self.shared[node] = len(self.shared)
            program_code, self.code = self.code, self.shared_code
            self.selector(node, 0)
            self.emit(o.SEL_KEEP, 0, 0, 0, 0, index)
            self.code = program_code
        self.emit(o.SEL_LOAD, d, 0, 0, 0, index)

    # ------------------------------------------------------------ patterns

    def pattern(self, node: n.Node, d: int) -> None:
        """`node` as keys, weights and `has` flags per row in slot d."""
        match node:
            case _ if isinstance(node, SELECTORS):
                self.shared_selector(node, d)
                self.emit(o.PAT_UNIFORM, d, d)
            case n.Decay(sel=sel, rate=rate):
                self.shared_selector(sel, d)
                self.emit(o.PAT_DECAY, d, d, 0, self.real(_number(rate)))
            case n.Mix(items=items):
                for index, ((_, part), weight) in enumerate(zip(items, mix_factors(items))):
                    factor = self.real(weight)
                    if isinstance(part, SELECTORS):  # uniform, weighed as it is added
                        self.shared_selector(part, d + min(index, 1))
                        if index == 0:
                            self.emit(o.PAT_UNIFORM, d, d, 0, 0, factor)
                        else:
                            self.emit(o.PAT_ADD_UNIFORM, d, d, d + 1, factor)
                    else:
                        self.pattern(part, d + min(index, 1))
                        if index == 0:
                            self.emit(o.PAT_SCALE, d, d, 0, factor)
                        else:
                            self.emit(o.PAT_ADD, d, d, d + 1, factor)
            case n.Fallback(first=first, second=second):
                self.pattern(first, d)
                self.pattern(second, d + 1)
                self.emit(o.PAT_FALLBACK, d, d, d + 1)
            case n.Choose(cond=cond, then=then, else_=else_):
                self.predicate(cond, d, o.QUERY_ONLY)
                self.pattern(then, d + 1)
                self.pattern(else_, d + 2)
                self.emit(o.PAT_CHOOSE, d, d, d + 1, 0, d + 2)
            case n.Softmax(terms=terms):
                self.emit(o.PAT_SOFT_BEGIN, d)
                for term in terms:
                    coef = self.real(_number(term.coef))
                    if term.indicator is None:
                        self.emit(o.PAT_SOFT_DIST, d, 0, 0, coef)
                        continue
                    self.shared_selector(indicator_selector(term), d + 1)
                    self.emit(o.PAT_SOFT_KEYS, d, d + 1, 0, coef)
                self.emit(o.PAT_SOFT_END, d)
            case _:
                raise EvaluationError(f"a pattern is due, not {type(node).__name__}")


def _mix_parts(expr: n.Node) -> list[tuple[float, n.Node]] | None:
    """A uniform selector or a mixture of one or two selectors as (weight, selector) parts with
    normalized weights; None for any other pattern."""
    if isinstance(expr, SELECTORS):
        return [(1.0, expr)]
    if isinstance(expr, n.Mix) and len(expr.items) <= 2:
        if all(isinstance(part, SELECTORS) for _, part in expr.items):
            return [(w, part) for w, (_, part) in zip(mix_factors(expr.items), expr.items)]
    return None


def mix_form(emitter: _Emitter, expr: n.Node, flat: dict[int, int],
             parts: dict[tuple[int, float], tuple[int, int]]) -> list[int]:
    """The kernel's fused form of a program that mixes one or two shared selectors: its parts
    [part a, part b] (b: -1 if absent), or [-1, -1]. A part is a (flat selector, factor) pair,
    whose min-sum the kernel takes once per sequence for every program that has it: `flat`
    numbers the shared selectors that the kernel lays out flat (shared index -> flat index),
    `parts` the distinct pairs (-> part index and the factor's reals index); new ones are
    added to both. Call after the program's instructions are emitted (they share its
    selectors)."""
    mixed = _mix_parts(expr)
    if mixed is None or any(part not in emitter.shared for _, part in mixed):
        return [-1, -1]
    ids = []
    for weight, part in mixed:
        index = flat.setdefault(emitter.shared[part], len(flat))
        ids.append(parts.setdefault((index, weight), (len(parts), emitter.real(weight)))[0])
    return ids + [-1] * (2 - len(ids))


def indicator_selector(term: n.Term) -> n.Node:
    """A soft-score term's indicator as a selector: `[P]` means keys(P), as in `ops.softmax`."""
    return n.Keys(term.indicator) if isinstance(term.indicator, PREDICATES) else term.indicator


def soft_form(emitter: _Emitter, expr: n.Node, terms: list[list[int]]) -> list[int]:
    """The kernel's fused form of a soft score whose selectors are all shared: its terms
    [coefficient (reals index), shared selector, or -1 for `dist`] are appended to `terms`;
    returns [lo, hi) into them, or [-1, -1]. Call after the program's instructions are
    emitted (they share its selectors)."""
    if not isinstance(expr, n.Softmax):
        return [-1, -1]
    form = []
    for term in expr.terms:
        index = -1  # dist
        if term.indicator is not None:
            selector = indicator_selector(term)
            if selector not in emitter.shared:
                return [-1, -1]
            index = emitter.shared[selector]
        form.append([emitter.real(_number(term.coef)), index])
    terms.extend(form)
    return [len(terms) - len(form), len(terms)]


def closed_expression(program: Program | n.Node) -> n.Node:
    """The program's expression with references inlined, checked (filled holes included)."""
    expr = program.closed if isinstance(program, Program) else program
    n.depth(expr)
    for node in expr.walk():
        if isinstance(node, n.Ref):
            raise EvaluationError(f"reference {node.name!r} is not inlined: use Program.closed")
    require_filled(expr)
    check_expr(expr)
    return expr


def uses_id(expr: n.Node) -> bool:
    """Whether the expression reads token ids (`k.id`, `q.id`, `same(id)`)."""
    return any(
        isinstance(x, n.Feature) and x.name == "id" or isinstance(x, n.Same) and x.feature == "id"
        for x in expr.walk()
    )


@contextmanager
def _no_collection() -> Iterator[None]:
    """Python's cyclic garbage collector paused: compiling allocates many short-lived objects,
    and in a process that holds a model, the full collection they set off took 0.5 s, five times
    the compilation itself (2,000 programs, right after extracting stories260K's attention)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def compile_programs(programs: list[Program | n.Node], interner: Interner,
                     max_shared: int = MAX_SHARED) -> CompiledPrograms:
    """Check and compile programs; string literals are interned into `interner`. At most
    `max_shared` distinct selectors are shared (see `shared_limit`)."""
    with _no_collection():
        return _compile(programs, interner, max_shared)


def _compile(programs: list[Program | n.Node], interner: Interner,
             max_shared: int) -> CompiledPrograms:
    emitter = _Emitter(interner, max_shared)
    starts, ids, mixes, flat, parts, softs, terms = [0], [], [], {}, {}, [], []
    for program in programs:
        expr = closed_expression(program)
        emitter.pattern(expr, 0)
        starts.append(len(emitter.code))
        ids.append(uses_id(expr))
        mixes.append(mix_form(emitter, expr, flat, parts))
        softs.append(soft_form(emitter, expr, terms))
    shared = (len(emitter.code), len(emitter.code) + len(emitter.shared_code))
    return CompiledPrograms(
        code=np.array(emitter.code + emitter.shared_code, dtype=np.int64).reshape(-1, o.WIDTH),
        starts=np.array(starts, dtype=np.int64),
        shared=shared,
        n_shared=len(emitter.shared),
        mixes=np.array(mixes, dtype=np.int64).reshape(-1, 2),
        flat=np.array(list(flat), dtype=np.int64),
        parts=np.array([[index, real] for (index, _), (_, real) in parts.items()],
                       dtype=np.int64).reshape(-1, 2),
        softs=np.array(softs, dtype=np.int64).reshape(-1, 2),
        soft_terms=np.array(terms, dtype=np.int64).reshape(-1, 2),
        reals=np.array(emitter.reals, dtype=np.float64),
        options=np.array(emitter.options + [0], dtype=np.int64),
        n_slots=emitter.top + 2,
        uses_id=np.array(ids, dtype=bool),
        interner=interner,
    )

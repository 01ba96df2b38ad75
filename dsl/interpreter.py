"""The reference interpreter: a closed, checked expression evaluated with `ops`, node by node.

Plain and obviously correct rather than fast; every other back end is tested against it.
"""

from __future__ import annotations

import numpy as np

from . import nodes as n
from . import ops
from .errors import EvaluationError
from .holes import require_filled
from .program import Program


def _int(node: n.Node) -> int:
    require_filled(node)
    return int(node.value)


def _real(node: n.Node) -> float:
    require_filled(node)
    return float(node.value)


def evaluate(node: n.Node, f: dict):  # noqa: C901 - one case per construct reads best
    """A predicate or selector as a boolean matrix, a pattern as `(W, has)`."""
    ev = evaluate
    match node:
        case n.Num(value=value) | n.Str(value=value):
            return value
        case n.Feature(side="k", name=name):
            return ops.key(f, name)
        case n.Feature(side="q", name=name):
            return ops.query(f, name)
        case n.Compare(op=op, left=left, right=right):
            return ops.compare(ev(left, f), op, ev(right, f))
        case n.Member(value=value, options=options):
            return ops.is_in(ev(value, f), [o.value for o in options])
        case n.Not(operand=operand):
            return ~ev(operand, f)
        case n.And(left=left, right=right):
            return ev(left, f) & ev(right, f)
        case n.Or(left=left, right=right):
            return ev(left, f) | ev(right, f)
        case n.Self():
            return ops.self_(f)
        case n.First():
            return ops.first(f)
        case n.Causal():
            return ops.causal(f)
        case n.Prev(n=k):
            return ops.prev(f, _int(k))
        case n.Window(a=a, b=b):
            return ops.window(f, _int(a), _int(b))
        case n.Keys(pred=pred):
            return ops.keys(f, ev(pred, f))
        case n.Same(feature=name):
            return ops.same(f, name)
        case n.Last(pred=pred, n=k):
            return ops.last(f, ev(pred, f), 1 if k is None else _int(k))
        case n.Shift(sel=sel, n=k):
            return ops.shift(f, ev(sel, f), _int(k))
        case n.Start(unit=unit):
            return ops.start(f, unit)
        case n.SetOp(op="|", left=left, right=right):
            return ev(left, f) | ev(right, f)
        case n.SetOp(op="&", left=left, right=right):
            return ev(left, f) & ev(right, f)
        case n.SetOp(op="-", left=left, right=right):
            return ev(left, f) & ~ev(right, f)
        case n.Decay(sel=sel, rate=rate):
            return ops.decay(f, ev(sel, f), _real(rate))
        case n.Mix(items=items):
            return ops.mix(f, [(_real(w), pattern(p, f)) for w, p in items])
        case n.Fallback(first=first, second=second):
            return ops.fallback(f, pattern(first, f), pattern(second, f))
        case n.Choose(cond=cond, then=then, else_=else_):
            return ops.choose(f, ev(cond, f), pattern(then, f), pattern(else_, f))
        case n.Softmax(terms=terms):
            return ops.softmax(f, [
                (_real(t.coef), "dist" if t.indicator is None else ops.keys(f, ev(t.indicator, f)))
                for t in terms
            ])
        case n.Hole():
            _int(node)
        case n.Ref(name=name):
            raise EvaluationError(f"reference {name!r} is not inlined: run Program.closed")
    raise EvaluationError(f"cannot evaluate {node!r}")


def pattern(node: n.Node, f: dict):
    """`node` as a pattern: a selector becomes uniform over its keys."""
    value = evaluate(node, f)
    return value if isinstance(value, tuple) else ops.uniform(f, value)


def run(program: Program | n.Node, texts: list[str], ids: list[int] | None = None,
        special: list[bool] | None = None) -> np.ndarray:
    """The program's attention matrix (n x n, float64) on one token sequence."""
    if not texts:
        raise EvaluationError("the token sequence is empty")
    expr = program.closed if isinstance(program, Program) else program
    n.depth(expr)
    try:
        f = ops.features(texts, ids, special)
        return ops.matrix(pattern(expr, f))
    except ValueError as e:
        raise EvaluationError(str(e)) from None

"""Holes `?`: listing what each stands for, and filling them with fitted numbers."""

from __future__ import annotations

from collections.abc import Sequence

from . import nodes as n
from .checker import Checker, HoleSpec, Type, check_number, hole_specs
from .errors import EvaluationError

__all__ = ["UNFILLED", "HoleSpec", "fill", "has_holes", "hole_specs", "require_filled"]

UNFILLED = "the program has unfilled holes `?`: fit or fill them first"


def has_holes(expr: n.Node) -> bool:
    return any(isinstance(node, n.Hole) for node in expr.walk())


def require_filled(expr: n.Node) -> None:
    """The one check before a program runs, compiles or is emitted: no hole `?` is left."""
    if has_holes(expr):
        raise EvaluationError(UNFILLED)


def fill(expr: n.Node, values: Sequence[float]) -> n.Node:
    """`expr` with its holes, in pre-order, replaced by `values` (checked against each hole)."""
    specs = hole_specs(expr)
    if len(values) != len(specs):
        raise EvaluationError(f"the program has {len(specs)} holes; got {len(values)} values")
    numbers = []
    for spec, value in zip(specs, values):
        if spec.kind is Type.INT:
            if float(value) != int(value):
                raise EvaluationError(f"an integer hole cannot take {value!r}")
            value = int(value)
        else:
            value = float(value)
        check_number(value, spec.kind, "hole", spec.low, spec.high, spec.low_open)
        numbers.append(value)
    queue = iter(numbers)

    def replace(node: n.Node) -> n.Node:
        if isinstance(node, n.Hole):
            return n.Num(next(queue), node.pos)
        return node.map(replace)

    filled = replace(expr)
    Checker().infer(filled)  # relations between numbers, e.g. window(a, b) with a <= b
    return filled

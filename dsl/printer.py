"""The canonical printer: one spelling per program, with the fewest brackets that keep its meaning.

`parse_expr(show(p)) == p` for every expression; `show_file` is what `headcode fmt` writes.
"""

from __future__ import annotations

import json
import math

from . import nodes as n

# Binding strength, loosest first, matching the grammar's precedence ladder.
FALLBACK, CHOOSE, OR, AND, NOT, COMPARE, UNION, INTERSECT, DIFFERENCE, UNARY, ATOM = range(11)
_SETOP_LEVEL = {"|": UNION, "&": INTERSECT, "-": DIFFERENCE}


def level(node: n.Node) -> int:
    """How tightly `node` binds when printed without brackets."""
    if isinstance(node, n.Fallback):
        return FALLBACK
    if isinstance(node, n.Choose):
        return CHOOSE
    if isinstance(node, n.Or):
        return OR
    if isinstance(node, n.And):
        return AND
    if isinstance(node, n.Not):
        return NOT
    if isinstance(node, (n.Compare, n.Member)):
        return COMPARE
    if isinstance(node, n.SetOp):
        return _SETOP_LEVEL[node.op]
    if isinstance(node, n.Num) and _negative(node.value):
        return UNARY
    return ATOM


def _negative(value: int | float) -> bool:
    return math.copysign(1, value) < 0  # -0.0 too: it prints with a sign


def number(value: int | float) -> str:
    """A number as the grammar reads it back exactly (ints stay ints, floats keep every digit)."""
    return str(value) if isinstance(value, int) else repr(float(value))


def string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def show(node: n.Node, at_least: int = FALLBACK) -> str:
    """`node` as source text, bracketed if it binds looser than `at_least`."""
    n.depth(node)
    return _bracketed(node, at_least)


def _bracketed(node: n.Node, at_least: int = FALLBACK) -> str:
    text = _show(node)
    return f"({text})" if level(node) < at_least else text


def _show(node: n.Node) -> str:  # noqa: C901 - one case per construct reads best
    s = _bracketed
    match node:
        case n.Num(value=value):
            return number(value)
        case n.Hole():
            return "?"
        case n.Str(value=value):
            return string(value)
        case n.Feature(side=side, name=name):
            return f"{side}.{name}"
        case n.Compare(op=op, left=left, right=right):
            return f"{s(left, UNION)} {op} {s(right, UNION)}"
        case n.Member(value=value, options=options):
            return f"{s(value, UNION)} in {{{', '.join(s(o) for o in options)}}}"
        case n.Not(operand=operand):
            return f"not {s(operand, NOT)}"
        case n.And(left=left, right=right):
            return f"{s(left, AND)} and {s(right, NOT)}"
        case n.Or(left=left, right=right):
            return f"{s(left, OR)} or {s(right, AND)}"
        case n.Self():
            return "self"
        case n.First():
            return "first"
        case n.Causal():
            return "causal"
        case n.Prev(n=k):
            return f"prev({s(k)})"
        case n.Window(a=a, b=b):
            return f"window({s(a)}, {s(b)})"
        case n.Keys(pred=pred):
            return f"keys({s(pred)})"
        case n.Same(feature=feature):
            return f"same({feature})"
        case n.Last(pred=pred, n=k):
            return f"last({s(pred)})" if k is None else f"last({s(pred)}, {s(k)})"
        case n.Shift(sel=sel, n=k):
            return f"shift({s(sel)}, {s(k)})"
        case n.Start(unit=unit):
            return f"start({unit})"
        case n.SetOp(op=op, left=left, right=right):
            here = _SETOP_LEVEL[op]
            return f"{s(left, here)} {op} {s(right, here + 1)}"
        case n.Decay(sel=sel, rate=rate):
            return f"decay({s(sel)}, {s(rate)})"
        case n.Mix(items=items):
            return "mix(" + ", ".join(f"{s(w)}: {s(p)}" for w, p in items) + ")"
        case n.Fallback(first=first, second=second):
            return f"{s(first, CHOOSE)} ?? {s(second, FALLBACK)}"
        case n.Choose(cond=cond, then=then, else_=else_):
            return f"if {s(cond)} then {s(then)} else {s(else_, CHOOSE)}"
        case n.Softmax(terms=terms):
            return "softmax(" + _terms(terms) + ")"
        case n.Ref(name=name):
            return name
    raise TypeError(f"cannot print {node!r}")


def _term(term: n.Term, coef: str) -> str:
    scale = "" if coef == "1" else f"{coef} * "
    return f"{scale}dist" if term.indicator is None else f"{scale}[{_bracketed(term.indicator)}]"


def _terms(terms: tuple[n.Term, ...]) -> str:
    parts = []
    for index, term in enumerate(terms):
        negative = isinstance(term.coef, n.Num) and _negative(term.coef.value)
        coef = number(-term.coef.value) if negative else _bracketed(term.coef)
        sign = ("-" if negative else "") if index == 0 else (" - " if negative else " + ")
        parts.append(sign + _term(term, coef))
    return "".join(parts)


def show_file(pf: n.ProgramFile) -> str:
    """A whole file in canonical layout: one item per line, comments kept where they were."""
    lines: list[str] = []
    for index, item in enumerate(pf.items):
        if item.blank_before and index > 0:
            lines.append("")
        lines.extend(f"# {c}" if c else "#" for c in item.comments)
        head = item.name if isinstance(item, n.Definition) else f"head {item.layer}.{item.head}"
        line = f"{head} = {show(item.expr)}"
        lines.append(line + (f"  # {item.trailing}" if item.trailing else ""))
    if pf.closing_comments:
        if lines:
            lines.append("")
        lines.extend(f"# {c}" if c else "#" for c in pf.closing_comments)
    return "\n".join(lines) + "\n" if lines else ""

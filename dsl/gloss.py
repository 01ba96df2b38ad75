"""Plain English for programs: a deterministic gloss generated from the syntax tree.

`gloss(expr)` reads one expression as a short phrase ("mostly the previous token (70%),
otherwise the first token (30%)"). Selectors read as noun phrases, predicates as relative
clauses about keys ("that are punctuation") or conditions on the query ("the current token is
punctuation"), patterns as phrases built from those. No model is involved: the same tree always
gives the same text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from . import nodes as n
from .printer import number, string

# ---------------------------------------------------------------- vocabulary

# A true/false feature as the key nouns it selects: (singular, plural).
_NOUNS = {
    "bos": ("special token", "special tokens"),
    "word_start": ("word start", "word starts"),
    "punct": ("punctuation token", "punctuation tokens"),
    "period": ("sentence end", "sentence ends"),
    "comma": ("comma", "commas"),
    "quote": ("quote mark", "quote marks"),
    "newline": ("newline", "newlines"),
    "capital": ("capitalized token", "capitalized tokens"),
    "digit": ("number token", "number tokens"),
}
# A true/false feature as what a token is or does: ("be", singular, plural) or ("do", verb).
_STATES = {
    "bos": ("be", "a special token", "special tokens"),
    "word_start": ("do", "start a word"),
    "punct": ("be", "punctuation", "punctuation"),
    "period": ("be", "a sentence end", "sentence ends"),
    "comma": ("be", "a comma", "commas"),
    "quote": ("be", "a quote mark", "quote marks"),
    "newline": ("do", "contain a newline"),
    "capital": ("be", "capitalized", "capitalized"),
    "digit": ("be", "a number", "numbers"),
}
_VALUE_NAMES = {"pos": "position", "word": "word number", "sentence": "sentence number",
                "line": "line number"}
_UNITS = ("word", "sentence", "line")
_OPS = {"==": "is", "!=": "is not", "<": "is less than", "<=": "is at most",
        ">": "is greater than", ">=": "is at least"}
_NEGATED_OP = {"==": "!=", "!=": "==", "<": ">=", ">=": "<", "<=": ">", ">": "<="}
_FLIPPED_OP = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}
_ORDINALS = ["", "", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth"]
_STRONG = math.log(10)  # |coefficient| from which a preference reads as strong (factor 10)
MAX_TERMS = 6  # soft-score terms spelled out; the rest are counted


# ---------------------------------------------------------------- small helpers


def significant(x: float, digits: int = 2) -> str:
    """`x` to `digits` significant digits, plain for 0.001..1e6, else as 2.4e17."""
    if x == 0 or not math.isfinite(x):
        return number(x)
    return _sig_log10(math.log10(abs(x)), digits, "-" if x < 0 else "")


def _sig_log10(log10: float, digits: int = 2, sign: str = "") -> str:
    """The number 10**log10 to `digits` significant digits (no overflow for huge exponents)."""
    exponent = math.floor(log10)
    mantissa = round(10 ** (log10 - exponent), digits - 1)
    if mantissa >= 10:
        mantissa, exponent = mantissa / 10, exponent + 1
    if -3 <= exponent < 6:
        value = round(mantissa * 10**exponent, max(digits - 1 - exponent, 0))
        text = f"{value:.{max(digits - 1 - exponent, 0)}f}"
        text = text.rstrip("0").rstrip(".") if "." in text else text
    else:
        text = f"{mantissa:.{digits - 1}f}e{exponent}"
    return sign + text


def exp_factor(coef: float) -> str:
    """e**coef to two significant digits: the factor a soft-score coefficient multiplies by."""
    return _sig_log10(coef / math.log(10))


def join(parts: list[str], word: str = "and") -> str:
    """`a`, `a and b`, `a, b and c`."""
    if len(parts) <= 1:
        return "".join(parts)
    return f"{', '.join(parts[:-1])} {word} {parts[-1]}"


def _int_text(node: n.Node) -> str:
    return "a fitted number of" if isinstance(node, n.Hole) else _num_text(node)


def _num_text(node: n.Node) -> str:
    if isinstance(node, n.Num):
        return number(node.value)
    if isinstance(node, n.Hole):
        return "a fitted number"
    return string(node.value) if isinstance(node, n.Str) else str(node)


def _ordinal(k: int) -> str:
    if k < len(_ORDINALS):
        return _ORDINALS[k]
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def _state(name: str, plural: bool, negated: bool) -> str:
    """What a token is or does for a true/false feature: `are punctuation`, `does not start a
    word`."""
    kind, *forms = _STATES[name]
    if kind == "be":
        verb = "are" if plural else "is"
        return f"{verb} {'not ' if negated else ''}{forms[1] if plural else forms[0]}"
    verb, _, rest = forms[0].partition(" ")
    if negated:
        return f"{'do' if plural else 'does'} not {forms[0]}"
    return forms[0] if plural else f"{verb}s {rest}"


def _value_name(name: str) -> str:
    return _VALUE_NAMES.get(name, name)


def _is_k(node: n.Node) -> bool:
    return isinstance(node, n.Feature) and node.side == "k"


def _mentions_key(node: n.Node) -> bool:
    return any(_is_k(x) for x in node.walk())


def push_not(pred: n.Node) -> n.Node:
    """`not` moved down to the atoms (De Morgan), comparisons negated by their operator."""
    if not isinstance(pred, n.Not):
        return pred
    inner = pred.operand
    if isinstance(inner, n.Not):
        return push_not(inner.operand)
    if isinstance(inner, n.And):
        return n.Or(push_not(n.Not(inner.left)), push_not(n.Not(inner.right)))
    if isinstance(inner, n.Or):
        return n.And(push_not(n.Not(inner.left)), push_not(n.Not(inner.right)))
    if isinstance(inner, n.Compare):
        return n.Compare(_NEGATED_OP[inner.op], inner.left, inner.right)
    return pred


def _oriented(cmp: n.Compare) -> n.Compare:
    """The comparison with its most key-like side on the left (`3 < k.pos` is `k.pos > 3`)."""
    def rank(x: n.Node) -> int:
        return 0 if _is_k(x) else 1 if isinstance(x, n.Feature) else 2
    if rank(cmp.right) < rank(cmp.left):
        return n.Compare(_FLIPPED_OP[cmp.op], cmp.right, cmp.left)
    return cmp


# ---------------------------------------------------------------- the glosser


class _Glosser:
    """Glosses one expression; `definitions` resolve references to named programs."""

    def __init__(self, definitions: Mapping[str, n.Node] | None):
        self.definitions = definitions or {}

    def resolve(self, node: n.Node) -> n.Node:
        """A reference replaced by its definition when known (the checker rules out cycles)."""
        while isinstance(node, n.Ref) and node.name in self.definitions:
            node = self.definitions[node.name]
        return node

    # ------------------------------------------------------------ values and predicates

    def value(self, node: n.Node, plural: bool = False, owner: str | None = None) -> str:
        """A number, string or feature value: `3`, `"."`, `the current token's position`."""
        if not isinstance(node, n.Feature):
            return _num_text(node)
        name = _value_name(node.name)
        if node.side == "q":
            return f"the current token's {name}"
        return f"{owner or ('their' if plural else 'its')} {name}"

    def predicate(self, node: n.Node) -> str:
        """A predicate alone: the keys it picks, or the query condition it states."""
        node = self.resolve(node)
        if isinstance(node, n.Feature) and node.name not in _STATES:
            return self.value(node, owner="the token's")
        if _mentions_key(node) or isinstance(node, n.Ref):
            return self.noun(node)[1]
        return "when " + self.condition(node)

    def noun(self, pred: n.Node) -> tuple[str, str]:
        """The keys where `pred` holds, as (singular, plural) nouns: `sentence end(s)`."""
        pred = push_not(self.resolve(pred))
        if _is_k(pred) and pred.name in _NOUNS:
            return _NOUNS[pred.name]
        literal = self._literal_text(pred)
        if literal:
            return f"token {literal}", f"the tokens {literal}"
        if isinstance(pred, n.Ref):
            return f"token matching `{pred.name}`", f"tokens matching `{pred.name}`"
        return f"token {self.clause(pred, False)}", f"tokens {self.clause(pred, True)}"

    def _literal_text(self, pred: n.Node) -> str | None:
        """`" he" or " she"` for `k.text == " he"` or `k.text in {...}`, else None."""
        if isinstance(pred, n.Compare):
            pred = _oriented(pred)
            if (pred.op == "==" and _is_k(pred.left) and pred.left.name == "text"
                    and isinstance(pred.right, n.Str)):
                return _num_text(pred.right)
        if isinstance(pred, n.Member) and _is_k(pred.value) and pred.value.name == "text":
            return join([_num_text(o) for o in pred.options], "or")
        return None

    def clause(self, pred: n.Node, plural: bool) -> str:
        """A relative clause on keys: `that are punctuation`, `whose text is "."`."""
        pred = push_not(self.resolve(pred))
        match pred:
            case n.And(left=a, right=b) | n.Or(left=a, right=b):
                word = "and" if isinstance(pred, n.And) else "or"
                return f"{self._part(a, pred, plural)} {word} {self._part(b, pred, plural)}"
            case n.Not(operand=n.Ref(name=name)) | n.Ref(name=name):
                verb = ("do not match" if plural else "does not match") if isinstance(
                    pred, n.Not) else ("match" if plural else "matches")
                return f"that {verb} `{name}`"
            case _ if not _mentions_key(pred):
                return "when " + self.condition(pred)
            case n.Not(operand=n.Feature(name=name)) | n.Feature(name=name):
                return "that " + _state(name, plural, isinstance(pred, n.Not))
            case n.Compare():
                return self._key_compare(_oriented(pred), plural)
            case n.Not(operand=n.Member() as m) | (n.Member() as m):
                return f"whose {self._member(m, isinstance(pred, n.Not), plural)}"
        raise TypeError(f"cannot gloss the predicate {pred!r}")

    def _part(self, part: n.Node, parent: n.Node, plural: bool) -> str:
        text = self.clause(part, plural)
        bracket = isinstance(push_not(part), (n.And, n.Or)) and type(push_not(part)) is not type(
            parent)
        return f"({text})" if bracket else text

    def _key_compare(self, cmp: n.Compare, plural: bool) -> str:
        left, right = cmp.left, cmp.right
        if isinstance(right, n.Feature) and right.side == "q" and right.name == left.name:
            if left.name in _UNITS:
                return ("in the current " if cmp.op == "==" else "not in the current ") + left.name
            if cmp.op in ("==", "!="):
                same = "the same" if cmp.op == "==" else "a different"
                return f"with {same} {_value_name(left.name)} as the current token"
        return f"whose {_value_name(left.name)} {_OPS[cmp.op]} {self.value(right, plural)}"

    def _member(self, m: n.Member, negated: bool, plural: bool) -> str:
        options = [_num_text(o) for o in m.options]
        name = _value_name(m.value.name)
        if not negated:
            return f"{name} is {join(options, 'or')}"
        return f"{name} is not {options[0]}" if len(options) == 1 else (
            f"{name} is none of {', '.join(options)}")

    def condition(self, pred: n.Node) -> str:
        """A condition on the query: `the current token is punctuation`."""
        pred = push_not(self.resolve(pred))
        match pred:
            case n.And(left=a, right=b) | n.Or(left=a, right=b):
                word = "and" if isinstance(pred, n.And) else "or"
                parts = [self.condition(x) for x in (a, b)]
                parts = [f"({p})" if isinstance(push_not(x), (n.And, n.Or))
                         and type(push_not(x)) is not type(pred) else p
                         for p, x in zip(parts, (a, b))]
                return f"{parts[0]} {word} {parts[1]}"
            case n.Not(operand=n.Feature(name=name)) | n.Feature(name=name):
                return "the current token " + _state(name, False, isinstance(pred, n.Not))
            case n.Compare():
                return self._query_compare(_oriented(pred))
            case n.Not(operand=n.Member() as m) | (n.Member() as m):
                return self._query_member(m, isinstance(pred, n.Not))
            case n.Not(operand=n.Ref(name=name)):
                return f"the current token does not match `{name}`"
            case n.Ref(name=name):
                return f"the current token matches `{name}`"
        raise TypeError(f"cannot gloss the condition {pred!r}")

    def _query_compare(self, cmp: n.Compare) -> str:
        subject = self.value(cmp.left, owner="the current token's")
        if isinstance(cmp.left, n.Feature) and cmp.left.name == "text":
            subject = "the current token"
        return f"{subject} {_OPS[cmp.op]} {self.value(cmp.right, owner='its')}"

    def _query_member(self, m: n.Member, negated: bool) -> str:
        text = self._member(m, negated, False)
        if m.value.name == "text":
            return "the current token " + text.removeprefix("text ")
        return "the current token's " + text

    # ------------------------------------------------------------ selectors

    def selector(self, node: n.Node) -> str:  # noqa: C901 - one case per construct reads best
        """A selector as a noun phrase: `the previous token`, `all tokens so far`."""
        node = self.resolve(node)
        match node:
            case n.Self():
                return "the token itself"
            case n.First():
                return "the first token"
            case n.Causal():
                return "all tokens so far"
            case n.Prev(n=k):
                return self._prev(k)
            case n.Window(a=a, b=b):
                return self._window(a, b)
            case n.Keys(pred=pred):
                return self.noun(pred)[1]
            case n.Same(feature=name):
                return self._same(name)
            case n.Last(pred=pred, n=k):
                return self._last(pred, k)
            case n.Shift(sel=sel, n=k):
                return self._shift(sel, k)
            case n.Start(unit=unit):
                return f"the start of the current {unit}"
            case n.SetOp():
                return self._setop(node)
            case n.Ref(name=name):
                return f"program `{name}`"
        raise TypeError(f"cannot gloss the selector {node!r}")

    def _prev(self, k: n.Node) -> str:
        if isinstance(k, n.Hole):
            return "the token a fitted number of steps back"
        return {0: "the token itself", 1: "the previous token"}.get(
            k.value, f"the token {number(k.value)} back")

    def _window(self, a: n.Node, b: n.Node) -> str:
        if a == b and isinstance(a, n.Num):
            return self._prev(a)
        if isinstance(a, n.Num) and a.value == 0 and isinstance(b, n.Num):
            before = "the one" if b.value == 1 else f"the {number(b.value)}"
            return f"the token itself and {before} before it"
        return f"the tokens {_int_text(a)} to {_int_text(b)} back"

    def _same(self, name: str) -> str:
        if name == "text":
            return "the current token and its earlier copies"
        if name in _UNITS:
            return f"the tokens of the current {name} so far"
        return f"tokens with the same {_value_name(name)} as the current token"

    def _last(self, pred: n.Node, k: n.Node | None) -> str:
        single = self.noun(pred)[0]
        if k is None or (isinstance(k, n.Num) and k.value == 1):
            return f"the most recent {single}"
        if isinstance(k, n.Hole):
            return f"the n-th most recent {single} (n fitted)"
        return f"the {_ordinal(k.value)} most recent {single}"

    def _shift(self, sel: n.Node, k: n.Node) -> str:
        if isinstance(k, n.Hole):
            return f"the token a fitted number of steps after {self.each(sel)}"
        if k.value == 0:
            return self.selector(sel)
        steps = "" if abs(k.value) == 1 else f"{abs(k.value)} "
        return f"the token {steps}{'after' if k.value > 0 else 'before'} {self.each(sel)}"

    def each(self, sel: n.Node) -> str:
        """A selector's keys one at a time: `each earlier copy of the current token`."""
        sel = self.resolve(sel)
        if _is_earlier_copies(sel):
            return "each earlier copy of the current token"
        if isinstance(sel, n.Same) and sel.feature == "text":
            return "each copy of the current token (itself included)"
        if isinstance(sel, n.Keys):
            return "each " + self.noun(sel.pred)[0]
        if isinstance(sel, n.Causal):
            return "each token so far"
        if isinstance(sel, (n.Self, n.First, n.Prev, n.Last, n.Start)):
            return self.selector(sel)
        return "each of " + self.selector(sel)

    def _setop(self, node: n.SetOp) -> str:
        if _is_earlier_copies(node):
            return "earlier copies of the current token"
        left, right = (self._operand(x) for x in (node.left, node.right))
        if node.op == "|":
            return f"{left} or {right}"
        return f"{left} that are also {right}" if node.op == "&" else f"{left} except {right}"

    def _operand(self, sel: n.Node) -> str:
        text = self.selector(sel)
        nested = isinstance(self.resolve(sel), n.SetOp) and not _is_earlier_copies(
            self.resolve(sel))
        return f"({text})" if nested else text

    # ------------------------------------------------------------ patterns

    def pattern(self, node: n.Node) -> str:
        """Any selector or pattern as a phrase."""
        node = self.resolve(node)
        match node:
            case n.Decay(sel=sel, rate=rate):
                factor = "× a fitted factor" if isinstance(rate, n.Hole) else f"×{_num_text(rate)}"
                return f"{self.selector(sel)}, nearer ones weighted more (each step back {factor})"
            case n.Mix():
                return self.mix(node)
            case n.Fallback(first=a, second=b):
                return f"{self.nested(a)}; if there is none, {self.nested(b, n.Fallback)}"
            case n.Choose(cond=cond, then=a, else_=b):
                return (f"when {self.condition(cond)}, {self.nested(a)}; "
                        f"otherwise {self.nested(b, n.Choose)}")
            case n.Softmax():
                return self.softmax(node)
        return self.selector(node)

    def nested(self, node: n.Node, chain: type | None = None) -> str:
        """A sub-pattern, bracketed when it is compound (unless it continues a `chain`)."""
        text = self.pattern(node)
        resolved = self.resolve(node)
        compound = isinstance(resolved, (n.Mix, n.Fallback, n.Choose, n.Softmax))
        return f"({text})" if compound and type(resolved) is not chain else text

    def mix(self, node: n.Mix) -> str:
        """`mostly A (70%), otherwise B (30%)`; weights as shares, largest first."""
        if any(isinstance(w, n.Hole) for w, _ in node.items):
            parts = [f"{self.nested(p)} ({self._weight(w)})" for w, p in node.items]
            return "a mix of " + join(parts)
        total = sum(w.value for w, _ in node.items)
        shares = sorted(((w.value / total, p) for w, p in node.items if w.value > 0),
                        key=lambda item: -item[0])
        if len(shares) == 1:
            return self.pattern(shares[0][1])
        parts = [f"{self.nested(p)} ({_percent(s)})" for s, p in shares]
        if len(parts) == 2 and shares[0][0] > shares[1][0]:
            return f"mostly {parts[0]}, otherwise {parts[1]}"
        return join(parts)

    def _weight(self, w: n.Node) -> str:
        return "a fitted weight" if isinstance(w, n.Hole) else f"weight {number(w.value)}"

    # ------------------------------------------------------------ soft scores

    def softmax(self, node: n.Softmax) -> str:
        """`soft attention that strongly prefers the first token (×20), ...`."""
        terms = [t for t in node.terms if not (isinstance(t.coef, n.Num) and t.coef.value == 0)]
        if not terms:
            return "all tokens so far, weighted equally"
        terms.sort(key=_strength)
        shown, rest = terms[:MAX_TERMS], len(terms) - MAX_TERMS
        groups: list[tuple[str, list[str]]] = []
        for term in shown:
            verb, obj = self.term_parts(term)
            if groups and groups[-1][0] == verb:
                groups[-1][1].append(obj)
            else:
                groups.append((verb, [obj]))
        text = ", ".join(f"{verb} {join(objs)}" for verb, objs in groups)
        if rest > 0:
            text += f" and {rest} weaker term{'s' if rest > 1 else ''}"
        return "soft attention that " + text

    def term(self, term: n.Term) -> str:
        """One soft-score term: `prefers punctuation tokens (×4.5)`."""
        return " ".join(self.term_parts(term))

    def term_parts(self, term: n.Term) -> tuple[str, str]:
        """(verb, object) of a soft-score term."""
        if isinstance(term.coef, n.Hole):
            if term.indicator is None:
                return "weighs", "distance by a fitted factor per step back"
            return "weighs", f"{self.indicator(term.indicator)} by a fitted factor"
        c = term.coef.value
        strong = "strongly " if abs(c) >= _STRONG else ""
        if term.indicator is None:
            side = "nearer" if c < 0 else "farther"
            return f"{strong}favours", f"{side} tokens (×{exp_factor(c)} per step back)"
        verb = "prefers" if c > 0 else "avoids"
        return strong + verb, f"{self.indicator(term.indicator)} (×{exp_factor(c)})"

    def indicator(self, node: n.Node) -> str:
        """The keys a soft-score indicator `[X]` marks (X a selector or predicate)."""
        resolved = self.resolve(node)
        if isinstance(resolved, n.Ref):
            return f"`{resolved.name}`"
        if _FAMILY[type(resolved)] == "predicate":
            return self.noun(resolved)[1]
        return self.selector(resolved)

    # ------------------------------------------------------------ any node

    def any(self, node: n.Node) -> str:
        family = _FAMILY[type(node)]
        if family == "ref":
            resolved = self.resolve(node)
            return f"program `{node.name}`" if resolved is node else self.any(resolved)
        if family == "value":
            return self.value(node)
        if family == "term":
            return self.term(node)
        return getattr(self, family)(node)


def _is_earlier_copies(sel: n.Node) -> bool:
    """`same(text) - self`."""
    return (isinstance(sel, n.SetOp) and sel.op == "-" and sel.left == n.Same("text")
            and isinstance(sel.right, n.Self))


def _strength(term: n.Term) -> tuple[int, float]:
    """Sort key: numeric terms by |coefficient| descending, holes last."""
    if isinstance(term.coef, n.Hole):
        return (1, 0.0)
    return (0, -abs(term.coef.value))


def _percent(share: float) -> str:
    return "<1%" if share < 0.005 else f"{share * 100:.0f}%"


# Every node class and the family that glosses it when it stands alone.
_FAMILY: dict[type, str] = {
    n.Num: "value", n.Hole: "value", n.Str: "value",
    n.Feature: "predicate", n.Compare: "predicate", n.Member: "predicate", n.Not: "predicate",
    n.And: "predicate", n.Or: "predicate",
    n.Self: "selector", n.First: "selector", n.Causal: "selector", n.Prev: "selector",
    n.Window: "selector", n.Keys: "selector", n.Same: "selector", n.Last: "selector",
    n.Shift: "selector", n.Start: "selector", n.SetOp: "selector",
    n.Decay: "pattern", n.Mix: "pattern", n.Fallback: "pattern", n.Choose: "pattern",
    n.Softmax: "pattern", n.Term: "term", n.Ref: "ref",
}
GLOSSED_NODES: frozenset[type] = frozenset(_FAMILY)


def gloss(expr: n.Node, definitions: Mapping[str, n.Node] | None = None) -> str:
    """A short English reading of `expr`; with `definitions`, references read as what they name.

    Deterministic: the same tree always gives the same text.
    """
    return _Glosser(definitions).any(expr)


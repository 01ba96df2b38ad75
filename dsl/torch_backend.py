"""The torch back end: a closed, checked program lowered to batched tensor operations.

Used to replace a head inside a model's forward pass, on the model's device. A batch is a list of
token sequences, right-padded to a common length n; the result is (batch, n, n). Rows of real
tokens never reach padding columns (causality), and padding rows are left for the caller to
ignore. The meaning is `ops.py`'s, operation for operation; the property tests hold the two
to 1e-6 in float32.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from . import nodes as n
from . import ops
from .checker import FEATURE_TYPES, Type
from .errors import EvaluationError
from .holes import require_filled
from .program import Program
from .tokens import Tokens


@dataclass
class BatchFeatures:
    """Token features of a right-padded batch as (batch, n) tensors; `text` as interned ids."""

    values: dict[str, torch.Tensor]
    lengths: torch.Tensor
    vocabulary: dict[str, int]
    size: int
    memo: dict = field(default_factory=dict, repr=False)  # lowered sub-expressions, shared

    def forget(self) -> None:
        """Drop the lowered sub-expressions kept for the programs run on this batch."""
        self.memo.clear()

    def text_id(self, text: str) -> int:
        """The interned id of a string literal (-2 when no token of the batch has that text)."""
        return self.vocabulary.get(text, -2)


def batch_features(batch: Sequence[Tokens], device: torch.device | str = "cpu",
                   size: int | None = None) -> BatchFeatures:
    """Features of every sequence (per `ops.features`), right-padded to `size` positions.

    Padding keeps the running indices non-decreasing (so `start(...)` stays a search), and
    gives padded tokens no text and no true predicate.
    """
    if not batch:
        raise EvaluationError("the batch is empty")
    size = size or max(len(t) for t in batch)
    vocabulary: dict[str, int] = {}
    columns: dict[str, np.ndarray] = {}
    for name, kind in FEATURE_TYPES.items():
        dtype = bool if kind is Type.PRED else np.int64
        columns[name] = np.zeros((len(batch), size), dtype=dtype)
    columns["text"][:] = -1
    for row, tokens in enumerate(batch):
        f = ops.features(tokens.texts, tokens.ids, tokens.special)
        length = len(tokens)
        for name in FEATURE_TYPES:
            if name == "text":
                ids = [vocabulary.setdefault(t, len(vocabulary)) for t in tokens.texts]
                columns[name][row, :length] = ids
            else:
                columns[name][row, :length] = f[name]
                if FEATURE_TYPES[name] is not Type.PRED and length:
                    columns[name][row, length:] = f[name][-1] + 1
    values = {name: torch.from_numpy(col).to(device) for name, col in columns.items()}
    lengths = torch.tensor([len(t) for t in batch], device=device)
    return BatchFeatures(values, lengths, vocabulary, size)


class TorchProgram:
    """A program lowered to torch; call it on a batch to get (batch, n, n) matrices."""

    def __init__(self, program: Program | n.Node):
        self.expr = program.closed if isinstance(program, Program) else program
        n.depth(self.expr)
        require_filled(self.expr)

    def __call__(self, features: BatchFeatures, dtype: torch.dtype = torch.float32
                 ) -> torch.Tensor:
        work = dtype if dtype in (torch.float32, torch.float64) else torch.float32
        weights, _ = _Lowering(features, work).pattern(self.expr)
        return weights.to(dtype)

    def on_tokens(self, batch: Sequence[Tokens], device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
        return self(batch_features(batch, device), dtype)


def indicator(expr: n.Node, features: BatchFeatures) -> torch.Tensor:
    """A closed selector or predicate as a (batch, n, n) boolean tensor (a predicate as keys)."""
    lowering = _Lowering(features, torch.float32)
    return lowering.value(expr) & lowering.causal


class _Lowering:
    """Evaluates one expression on one batch: predicates and selectors as (b, n, n) booleans,
    patterns as (weights (b, n, n), has (b, n))."""

    def __init__(self, features: BatchFeatures, dtype: torch.dtype):
        self.f = features
        self.dtype = dtype
        values = features.values["pos"]
        self.device = values.device
        self.b, self.n = values.shape
        pos = torch.arange(self.n, device=self.device)
        self.key_pos = pos[None, :]
        self.distance = pos[:, None] - self.key_pos
        self.causal = (self.distance >= 0).expand(self.b, self.n, self.n)
        self.memo: dict = features.memo.setdefault(dtype, {})

    def _full(self, mask: torch.Tensor) -> torch.Tensor:
        return mask.expand(self.b, self.n, self.n)

    def _feature(self, side: str, name: str) -> torch.Tensor:
        v = self.f.values[name]
        return self._full(v[:, None, :] if side == "k" else v[:, :, None])

    def _operand(self, node: n.Node):
        if isinstance(node, n.Feature):
            return self._feature(node.side, node.name)
        if isinstance(node, n.Str):
            return self.f.text_id(node.value)
        return node.value

    def value(self, node: n.Node):
        """`node` lowered, each distinct sub-expression once per lowering."""
        key = node
        try:
            return self.memo[key]
        except KeyError:
            pass
        except TypeError:  # an unhashable node
            return self._value(node)
        out = self.memo[key] = self._value(node)
        return out

    def _value(self, node: n.Node):  # noqa: C901 - one case per construct reads best
        v = self.value
        match node:
            case n.Feature(side=side, name=name):
                return self._feature(side, name)
            case n.Compare(op=op, left=left, right=right):
                a, b = self._operand(left), self._operand(right)
                if not torch.is_tensor(a):  # a literal on the left: flip the comparison
                    a, b, op = b, a, _FLIPPED[op]
                return _COMPARE[op](a, b)
            case n.Member(value=value, options=options):
                wanted = torch.tensor([self._operand(o) for o in options], device=self.device)
                return torch.isin(self._operand(value), wanted)
            case n.Not(operand=operand):
                return ~v(operand)
            case n.And(left=left, right=right):
                return v(left) & v(right)
            case n.Or(left=left, right=right):
                return v(left) | v(right)
            case n.Self():
                return self._full(self.distance == 0)
            case n.First():
                return self._full((self.key_pos == 0).expand(self.n, self.n))
            case n.Causal():
                return self.causal
            case n.Prev(n=k):
                return self._full(self.distance == k.value)
            case n.Window(a=a, b=b):
                return self._full((self.distance >= a.value) & (self.distance <= b.value))
            case n.Keys(pred=pred):
                return v(pred) & self.causal
            case n.Same(feature=name):
                return (self._feature("k", name) == self._feature("q", name)) & self.causal
            case n.Last(pred=pred, n=k):
                sel = v(pred) & self.causal
                if k is None or k.value == 1:  # the nearest key: the largest selected position
                    nearest = (sel * (self.key_pos + 1)).amax(-1, keepdim=True) - 1
                    return self.key_pos == nearest
                from_right = sel.flip(-1).cumsum(-1).flip(-1)
                return sel & (from_right == k.value)
            case n.Shift(sel=sel, n=k):
                return self._shift(v(sel), k.value)
            case n.Start(unit=unit):
                u = self.f.values[unit]
                first_of = torch.searchsorted(u.contiguous(), u.contiguous(), side="left")
                return self.key_pos[None] == first_of[:, :, None]
            case n.SetOp(op=op, left=left, right=right):
                a, b = v(left), v(right)
                return a | b if op == "|" else a & b if op == "&" else a & ~b
            case n.Decay() | n.Mix() | n.Fallback() | n.Choose() | n.Softmax():
                return self.pattern(node)
        raise EvaluationError(f"cannot lower {node!r}")

    def _shift(self, sel: torch.Tensor, k: int) -> torch.Tensor:
        out = torch.zeros_like(sel)
        if 0 <= k < self.n:
            out[..., k:] = sel[..., : self.n - k]
        elif -self.n < k < 0:
            out[..., : self.n + k] = sel[..., -k:]
        return out & self.causal

    def _numbers(self, mask: torch.Tensor) -> torch.Tensor:
        """A boolean (b, n, n) tensor as 0/1 in the working dtype (through uint8: torch's own
        bool-to-float conversion is several times slower on CPU)."""
        return mask.contiguous().view(torch.uint8).to(self.dtype)

    def _finish(self, weights: torch.Tensor, has: torch.Tensor):
        """Normalize rows (zero where `has` is false); rows with no key become one-hot on
        key 0 (the empty-row rule)."""
        total = weights.sum(-1, keepdim=True)
        weights = weights / torch.where(total > 0, total, torch.ones_like(total))
        weights[..., 0] = torch.where(has, weights[..., 0], torch.ones_like(weights[..., 0]))
        return weights, has

    def pattern(self, node: n.Node):
        """`node` as (weights, has); each distinct pattern lowered once per batch."""
        key = ("pattern", node)
        if key not in self.memo:
            self.memo[key] = self._pattern(node)
        return self.memo[key]

    def _pattern(self, node: n.Node):
        match node:
            case n.Decay(sel=sel, rate=rate):
                # r ** (i - j) normalized = r ** (j_max - j): j_max, the nearest selected key
                s = self._numbers(self.value(sel))
                positions = self.key_pos.to(self.dtype)
                nearest = (s * (positions + 1)).amax(-1, keepdim=True) - 1  # -1: none
                exponent = (nearest - positions).clamp(min=0)
                w = s * torch.exp(exponent * math.log(float(rate.value)))
                return self._finish(w, nearest[..., 0] >= 0)
            case n.Mix(items=items):
                total = float(sum(w.value for w, _ in items))
                parts = [(float(w.value) / total, self.pattern(p)) for w, p in items]
                weights = sum(w * p[0] for w, p in parts)
                has = parts[0][1][1]
                for _, p in parts[1:]:
                    has = has | p[1]
                return weights, has
            case n.Fallback(first=first, second=second):
                a, b = self.pattern(first), self.pattern(second)
                return torch.where(a[1][..., None], a[0], b[0]), a[1] | b[1]
            case n.Choose(cond=cond, then=then, else_=else_):
                on = self.value(cond)[..., 0]
                a, b = self.pattern(then), self.pattern(else_)
                return torch.where(on[..., None], a[0], b[0]), torch.where(on, a[1], b[1])
            case n.Softmax(terms=terms):
                score = torch.zeros(self.b, self.n, self.n, dtype=self.dtype, device=self.device)
                for t in terms:
                    x = (self.distance.to(self.dtype) if t.indicator is None
                         else self._numbers(self.value(t.indicator)))
                    score.add_(x, alpha=float(t.coef.value))
                score = score.masked_fill(~self.causal, float("-inf"))
                return torch.softmax(score, dim=-1), torch.ones(self.b, self.n, dtype=torch.bool,
                                                                device=self.device)
        weights = self._numbers(self.value(node))
        return self._finish(weights, weights.amax(-1) > 0)


_COMPARE = {
    "==": torch.eq, "!=": torch.ne, "<": torch.lt, "<=": torch.le, ">": torch.gt, ">=": torch.ge,
}

_FLIPPED = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}

"""headcode's attention implementation: eager attention that can replace and observe heads.

Registered in transformers under the name `headcode`, both as an attention function
(`AttentionInterface`) and with the eager *mask* function (`AttentionMaskInterface`): without
the mask registration the model would silently run without its causal mask.

Outside a `Pass` (see `running`) the function is exactly the model family's own eager attention.
Inside one, for the layer being computed, it
- calls `on_weights(layer, weights)` with the model's own softmax probabilities
  (batch, heads, n, n), before any replacement (copy them to keep them),
- replaces head h's output by `W @ V_h`, where `W = source.matrices(batch, device, dtype)`
  (batch, n, n), or by `source.output(batch, device, dtype)` for output overrides,
- calls `on_output(layer, output)` with the per-head outputs (batch, n, heads, head_dim).
The weights it returns (what `output_attentions=True` reports) hold the replaced matrices.
Queries, keys, values and the output projection are untouched.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Protocol, Union

import torch

NAME = "headcode"


@dataclass(frozen=True)
class Batch:
    """What a source sees for one forward pass: the rows' tokens, right-padded to length `n`.

    `tokens[b]` is row b's unpadded `Tokens` (empty when the caller gave none); `lengths[b]` its
    length. While one head is computed, `layer`, `head`, and that head's `query` (batch, n, d),
    `key` (batch, n, d), additive `mask` (batch, n, n) and `scaling` are filled in as well.
    """

    tokens: list
    lengths: torch.Tensor
    n: int
    layer: int | None = None
    head: int | None = None
    query: torch.Tensor | None = None
    key: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    scaling: float | None = None

    @property
    def valid(self) -> torch.Tensor:
        """(batch, n) bool: true at real (non-padding) positions."""
        positions = torch.arange(self.n, device=self.lengths.device)
        return positions[None, :] < self.lengths[:, None]

    def for_head(self, layer: int, head: int, **tensors) -> Batch:
        """This batch, seen by the source of one head."""
        return dataclasses.replace(self, layer=layer, head=head, **tensors)


class AttentionSource(Protocol):
    """What takes the place of one head's softmax probabilities: a row-stochastic causal
    matrix per row of `batch`, (batch, n, n) or (n, n) shared by all rows (entries above the
    diagonal are zeroed unless the source sets `causal = True`; rows of padding are ignored)."""

    def matrices(self, batch: Batch, device: torch.device | str,
                 dtype: torch.dtype) -> torch.Tensor: ...


class OutputSource(Protocol):
    """What takes the place of one head's output vector (e.g. mean-ablation)."""

    def output(self, batch: Batch, device: torch.device | str,
               dtype: torch.dtype) -> torch.Tensor: ...


Source = Union[AttentionSource, OutputSource]  # what a head can be replaced by


@dataclass
class Pass:
    """The state of the forward passes run inside `running(pass_)`.

    `replace` maps layer -> {head: source}; `batch` is set by the caller before each forward
    (a bare `Batch` is made from the shapes if it is left unset).
    """

    config: object
    replace: Mapping[int, Mapping[int, Source]] = field(default_factory=dict)
    batch: Batch | None = None
    on_weights: Callable[[int, torch.Tensor], None] | None = None
    on_output: Callable[[int, torch.Tensor], None] | None = None


_ACTIVE: ContextVar[Pass | None] = ContextVar("headcode_pass", default=None)


@contextmanager
def running(state: Pass) -> Iterator[Pass]:
    """Make `state` drive every headcode attention call of its model inside the block."""
    token = _ACTIVE.set(state)
    try:
        yield state
    finally:
        _ACTIVE.reset(token)


def _generic_eager(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """Plain eager attention, for families that do not expose `eager_attention_forward`."""
    groups = query.shape[1] // key.shape[1]
    key = key.repeat_interleave(groups, dim=1)
    value = value.repeat_interleave(groups, dim=1)
    scaling = query.shape[-1] ** -0.5 if scaling is None else scaling
    weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        weights = weights + attention_mask
    weights = torch.softmax(weights, dim=-1, dtype=torch.float32).to(query.dtype)
    output = torch.matmul(weights, value).transpose(1, 2).contiguous()
    return output, weights


def family_eager(module) -> Callable:
    """The model family's own eager attention function (same module as the attention class)."""
    family = sys.modules.get(type(module).__module__)
    return getattr(family, "eager_attention_forward", None) or _generic_eager


@lru_cache(maxsize=32)
def causal_mask(n: int, device: torch.device) -> torch.Tensor:
    """(n, n) bool, true on and below the diagonal (cached per size and device)."""
    return torch.ones(n, n, dtype=torch.bool, device=device).tril()


def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
    """The registered `headcode` attention function (signature of transformers' interface)."""
    eager = family_eager(module)
    state = _ACTIVE.get()
    if state is None or getattr(module, "config", None) is not state.config:
        return eager(
            module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
        )
    layer = int(module.layer_idx)
    output, weights = eager(
        module, query, key, value, attention_mask, scaling=scaling, dropout=dropout, **kwargs
    )
    if state.on_weights is not None:
        state.on_weights(layer, weights)
    heads = state.replace.get(layer)
    if heads:
        output = _substitute(
            state, layer, heads, output, weights, query, key, value, attention_mask, scaling
        )
    if state.on_output is not None:
        state.on_output(layer, output)
    return output, weights


def _substitute(state, layer, heads, output, weights, query, key, value, attention_mask, scaling):
    """`output` (batch, n, heads, d) with the replaced heads' outputs overwritten (and their
    matrices written into `weights`, which `output_attentions` reports)."""
    batch_size, _, n, _ = query.shape
    groups = query.shape[1] // value.shape[1]
    batch = state.batch
    if batch is None or batch.n != n:
        lengths = torch.full((batch_size,), n, dtype=torch.long, device=query.device)
        batch = Batch(tokens=[], lengths=lengths, n=n)
    mask = None if attention_mask is None else attention_mask[:, 0, :, -n:]
    output = output.contiguous()
    matrices, matrix_heads = [], []
    for head, source in heads.items():
        seen = batch.for_head(
            layer,
            head,
            query=query[:, head],
            key=key[:, head // groups],
            mask=mask,
            scaling=scaling,
        )
        if hasattr(source, "output"):
            output[:, :, head, :] = source.output(seen, query.device, value.dtype)
        else:
            matrix = source.matrices(seen, query.device, value.dtype)
            matrices.append(matrix.to(value.dtype).expand(batch_size, n, n))
            matrix_heads.append(head)
    if matrices:
        # one product for all the layer's replaced heads: (batch, k, n, n) @ (batch, k, n, d)
        stacked = torch.stack(matrices, dim=1)
        if not all(getattr(heads[h], "causal", False) for h in matrix_heads):
            stacked = stacked.masked_fill(~causal_mask(n, query.device), 0.0)
        kv = torch.tensor([h // groups for h in matrix_heads], device=value.device)
        output[:, :, matrix_heads, :] = torch.matmul(stacked, value[:, kv]).transpose(1, 2)
        if weights is not None and weights.shape[-1] == n:
            weights[:, matrix_heads] = stacked.to(weights.dtype)
    return output


def register() -> None:
    """Register `headcode` as an attention function and its eager mask (idempotent)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, eager_mask

    AttentionInterface.register(NAME, attention)
    AttentionMaskInterface.register(NAME, eager_mask)


def install(model) -> None:
    """Switch a loaded model to the `headcode` attention implementation."""
    register()
    if getattr(model.config, "_attn_implementation", None) != NAME:
        if hasattr(model, "set_attn_implementation"):
            model.set_attn_implementation(NAME)
        else:
            model.config._attn_implementation = NAME

"""Swap heads of a model for sources: programs, or the built-in controls.

A *source* (`models.attention.Source`) is an `AttentionSource`, with
`matrices(batch, device, dtype) -> Tensor (batch, n, n)`: the row-stochastic causal matrix
that takes the place of one head's softmax probabilities (entries above the diagonal are
zeroed; rows of padding are ignored), or an `OutputSource`, with `output(batch, device, dtype)`
overriding the head's output vector (mean-ablation). `batch` is an `models.attention.Batch`:
the rows' `Tokens` for this forward pass, and for the head being replaced its layer, head,
query, key, mask and scaling. A source may return (n, n) for a matrix shared by all rows, and
may set `causal = True` when its matrices are zero above the diagonal (the masking step is
then skipped).

    sub = Substitution(model, {(2, 3): UniformSource()})
    logits = sub.logits(rows)          # rows: list[Tokens], right-padded inside
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import lru_cache

import torch

from ..dsl.tokens import Tokens
from .attention import AttentionSource, Batch, Pass, Source, install, running
from .errors import ModelError
from .loading import attention_modules, model_shape, position_limit

Head = tuple[int, int]


class UniformSource:
    """Control: uniform attention over every key up to and including the query."""

    causal = True

    def matrices(self, batch: Batch, device, dtype) -> torch.Tensor:
        return _uniform(batch.n, torch.device(device), dtype).expand(len(batch.lengths), -1, -1)


@lru_cache(maxsize=32)
def _uniform(n: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    rows = torch.ones(n, n, device=device, dtype=dtype).tril()
    return rows / rows.sum(dim=-1, keepdim=True)


class IdentitySource:
    """Control: the head's own attention, recomputed as softmax(q k^T * scaling + mask)."""

    def matrices(self, batch: Batch, device, dtype) -> torch.Tensor:
        scores = torch.matmul(batch.query, batch.key.transpose(1, 2)) * batch.scaling
        if batch.mask is not None:
            scores = scores + batch.mask
        return torch.softmax(scores, dim=-1, dtype=torch.float32).to(dtype)


class MeanAblation:
    """Control: the head always outputs its mean output vector over a reference corpus."""

    def __init__(self, vector: torch.Tensor):
        self.vector = vector

    def output(self, batch: Batch, device, dtype) -> torch.Tensor:
        return self.vector.to(device=device, dtype=dtype)


class RandomProgramSource:
    """Control: each head gets one source drawn from `sources`, reproducibly from `seed`.

    One object serves every head it is installed on: the draw depends on (seed, layer, head).
    """

    def __init__(self, sources: Sequence[AttentionSource], seed: int = 0):
        if not sources:
            raise ModelError("random program control: the library of sources is empty")
        self.sources = list(sources)
        self.seed = seed

    def choice(self, layer: int, head: int) -> AttentionSource:
        """The source drawn for (layer, head)."""
        rng = random.Random(f"{self.seed}:{layer}:{head}")
        return self.sources[rng.randrange(len(self.sources))]

    def matrices(self, batch: Batch, device, dtype) -> torch.Tensor:
        return self.choice(batch.layer, batch.head).matrices(batch, device, dtype)


def pad(rows: Sequence[Tokens], device, pad_id: int = 0):
    """Right-padded `input_ids`, `attention_mask` (batch, n) and `lengths` (batch,) for `rows`."""
    lengths = torch.tensor([len(r) for r in rows], dtype=torch.long)
    if len(rows) == 0 or int(lengths.min()) == 0:
        raise ModelError("cannot run an empty sequence")
    n = int(lengths.max())
    ids = torch.full((len(rows), n), pad_id, dtype=torch.long)
    for b, row in enumerate(rows):
        ids[b, : len(row)] = torch.as_tensor(row.ids, dtype=torch.long)
    mask = (torch.arange(n)[None, :] < lengths[:, None]).long()
    return ids.to(device), mask.to(device), lengths.to(device)


def _attention_config(model):
    modules = attention_modules(model)
    return next(iter(modules.values())).config


class Substitution:
    """A model with some heads replaced: `{(layer, head): source}` (empty: the model itself)."""

    def __init__(self, model, replace: Mapping[Head, Source] | None = None):
        install(model)
        self.model = model
        self.shape = model_shape(model)
        self.replace = dict(replace or {})
        by_layer: dict[int, dict[int, Source]] = {}
        for (layer, head), source in self.replace.items():
            if not (0 <= layer < self.shape.n_layers and 0 <= head < self.shape.n_heads):
                raise ModelError(
                    f"head {layer}.{head} does not exist: the model has {self.shape.n_layers} "
                    f"layers of {self.shape.n_heads} heads"
                )
            if not (hasattr(source, "matrices") or hasattr(source, "output")):
                raise ModelError(f"head {layer}.{head}: {source!r} is not a source")
            by_layer.setdefault(int(layer), {})[int(head)] = source
        self.state = Pass(config=_attention_config(model), replace=by_layer)
        self.limit = position_limit(model)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @contextmanager
    def active(self, rows: Sequence[Tokens], lengths: torch.Tensor, n: int) -> Iterator[Pass]:
        """Run the model's forward passes inside this block with the heads replaced for `rows`."""
        self.state.batch = Batch(tokens=list(rows), lengths=lengths, n=n)
        try:
            with running(self.state) as state:
                yield state
        finally:
            self.state.batch = None

    @torch.inference_mode()
    def forward(self, rows: Sequence[Tokens], pad_id: int = 0, **kwargs):
        """The model's output on the right-padded rows, heads replaced (kwargs go to the model)."""
        ids, mask, lengths = pad(rows, self.device, pad_id)
        if self.limit is not None and ids.shape[1] > self.limit:
            raise ModelError(
                f"a sequence of {ids.shape[1]} tokens is longer than the {self.limit} positions "
                "the model has: give fewer tokens (--max-tokens)"
            )
        with self.active(rows, lengths, ids.shape[1]):
            return self.model(input_ids=ids, attention_mask=mask, use_cache=False, **kwargs)

    def logits(self, rows: Sequence[Tokens]) -> torch.Tensor:
        """Logits (batch, n, vocab) of the right-padded rows, heads replaced."""
        return self.forward(rows).logits


@torch.inference_mode()
def mean_outputs(model, rows: Sequence[Tokens], batch_size: int = 8) -> torch.Tensor:
    """Every head's output (before the output projection) averaged over all real positions of
    `rows`: a tensor (n_layers, n_heads, head_dim)."""
    shape = model_shape(model)
    sub = Substitution(model)
    total = torch.zeros(shape.n_layers, shape.n_heads, shape.head_dim, dtype=torch.float64)
    count = 0
    for start in range(0, len(rows), batch_size):
        chunk = rows[start : start + batch_size]
        ids, mask, lengths = pad(chunk, sub.device)
        valid = mask.bool()

        def add(layer: int, output: torch.Tensor, valid=valid) -> None:
            total[layer] += output[valid].double().sum(dim=0).cpu()

        sub.state.on_output = add
        with sub.active(chunk, lengths, ids.shape[1]):
            model(input_ids=ids, attention_mask=mask, use_cache=False)
        count += int(valid.sum())
    if count == 0:
        raise ModelError("mean-ablation needs a non-empty reference corpus")
    return (total / count).float()


def mean_ablations(
    model, rows: Sequence[Tokens], heads: Sequence[Head], batch_size: int = 8
) -> dict[Head, MeanAblation]:
    """A `MeanAblation` for each of `heads`, fitted on the reference `rows`."""
    means = mean_outputs(model, rows, batch_size)
    return {(int(layer), int(head)): MeanAblation(means[layer, head]) for layer, head in heads}

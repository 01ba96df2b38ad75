"""Extraction: run a model on texts and write every head's attention to an attention dump.

Each text is tokenized the tokenizer's own way (BOS where it adds one) and truncated to
`max_tokens` tokens (BOS included). Batches are right-padded: with causal attention a real
token never sees a padding token, and only the real rows and columns are kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from ..dsl.errors import TokenizerError
from ..dsl.tokens import Tokens, tokenize
from ..progress import progress_bar
from .dump import DTYPES, Dump, DumpError, DumpWriter, open_dump, tri_size
from .loading import model_name, model_shape
from .substitute import Substitution, pad


def tokenize_texts(tokenizer, texts: Sequence[str], max_tokens: int | None) -> list[Tokens]:
    """Each text as `Tokens` (BOS per the tokenizer), truncated to `max_tokens`."""
    if max_tokens is not None and max_tokens < 1:
        raise TokenizerError(f"max tokens must be at least 1 (got {max_tokens})")
    return [tokenize(tokenizer, text, max_tokens) for text in texts]


@torch.inference_mode()
def packed_attention(
    sub: Substitution, rows: Sequence[Tokens], dtype: str = "float32"
) -> list[np.ndarray]:
    """For each row, its packed attention (n_layers * n_heads, n(n+1)/2) as a numpy array."""
    ids, mask, lengths = pad(rows, sub.device)
    n = ids.shape[1]
    tri_rows, tri_cols = (torch.as_tensor(a, device=sub.device) for a in np.tril_indices(n))
    out_dtype = torch.float16 if dtype == "float16" else torch.float32
    layers: dict[int, torch.Tensor] = {}

    def keep(layer: int, weights: torch.Tensor) -> None:
        layers[layer] = weights[:, :, tri_rows, tri_cols].to(out_dtype).cpu()

    sub.state.on_weights = keep
    try:
        with sub.active(rows, lengths, n):
            sub.model(input_ids=ids, attention_mask=mask, use_cache=False)
    finally:
        sub.state.on_weights = None
    shape = sub.shape
    if sorted(layers) != list(range(shape.n_layers)):
        raise RuntimeError(f"captured layers {sorted(layers)}, expected {shape.n_layers}")
    stacked = torch.stack([layers[layer] for layer in range(shape.n_layers)], dim=1)
    stacked = stacked.reshape(len(rows), shape.n_layers * shape.n_heads, tri_size(n)).numpy()
    # The packed triangle of a prefix of length m is the first m(m+1)/2 entries.
    return [stacked[b, :, : tri_size(len(row))] for b, row in enumerate(rows)]


def batches(rows: Sequence[Tokens], batch_size: int) -> Iterator[list[Tokens]]:
    """Consecutive batches of `batch_size` rows."""
    for start in range(0, len(rows), batch_size):
        yield list(rows[start : start + batch_size])


def extract(
    model,
    tokenizer,
    texts: Sequence[str],
    out: str | Path,
    *,
    max_tokens: int | None = 128,
    batch_size: int = 16,
    dtype: str = "float16",
    overwrite: bool = False,
    progress: bool = False,
    extra: dict | None = None,
) -> Dump:
    """Write the attention of every head of `model` on `texts` as a dump at `out`; open it."""
    if dtype not in DTYPES:
        raise DumpError(f"dump dtype must be float16 or float32 (got {dtype!r})")
    batch_size = max(1, int(batch_size))
    rows = tokenize_texts(tokenizer, texts, max_tokens)
    shape = model_shape(model)
    sub = Substitution(model)
    info = {"max_tokens": max_tokens, "n_kv_heads": shape.n_kv_heads, **(extra or {})}
    writer = DumpWriter(
        out,
        model=model_name(model),
        n_layers=shape.n_layers,
        n_heads=shape.n_heads,
        dtype=dtype,
        overwrite=overwrite,
        extra=info,
    )
    with writer, progress_bar(len(rows), "extracting", progress) as bar:
        for chunk in batches(rows, batch_size):
            for tokens, packed in zip(chunk, packed_attention(sub, chunk, dtype)):
                writer.add_packed(tokens, packed)
            bar.advance(len(chunk))
    return open_dump(out)

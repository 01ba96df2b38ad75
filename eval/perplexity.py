"""Perplexity by the project's protocol (docs/measures.md), with or without replaced heads.

One sequence per text: BOS (where the tokenizer adds one) + at most 512 tokens. The NLL of every
predicted token is summed over all sequences, divided by the number of predicted tokens, and
exponentiated (token-weighted). Batches are right-padded; padding is never scored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from ..dsl.tokens import Tokens, tokens_from_ids
from ..models.attention import Source
from ..models.errors import ModelError
from ..models.substitute import Head, Substitution, pad
from ..progress import progress_bar

MAX_TOKENS = 512


@dataclass(frozen=True)
class Perplexity:
    """Summed NLL (nats) over `tokens` predicted tokens."""

    nll: float
    tokens: int

    @property
    def mean_nll(self) -> float:
        return self.nll / self.tokens

    @property
    def ppl(self) -> float:
        return math.exp(self.mean_nll)


def sequences(tokenizer, texts: Sequence[str], max_tokens: int = MAX_TOKENS,
              limit: int | None = None) -> list[Tokens]:
    """Each non-blank text tokenized: leading special tokens (BOS) + at most `max_tokens`, and
    at most `limit` tokens in all (the positions of a model with learned position embeddings,
    `loading.position_limit`)."""
    special = set(tokenizer.all_special_ids)
    rows = []
    for text in texts:
        if not text.strip():
            continue
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        lead = 0
        while lead < len(ids) and ids[lead] in special:
            lead += 1
        keep = lead + max_tokens if limit is None else min(lead + max_tokens, limit)
        rows.append(tokens_from_ids(tokenizer, ids[:keep]))
    return rows


@torch.inference_mode()
def batch_nll(sub: Substitution, rows: Sequence[Tokens]) -> tuple[float, int]:
    """Summed NLL and count of the predicted (non-first, non-padding) tokens of `rows`."""
    ids, mask, _ = pad(rows, sub.device)
    logits = sub.logits(rows)
    targets = ids[:, 1:]
    scored = mask[:, 1:].bool()
    picked = logits[:, :-1][scored].float()
    nll = torch.nn.functional.cross_entropy(picked, targets[scored], reduction="sum")
    return float(nll), int(scored.sum())


def perplexity(
    model,
    rows: Sequence[Tokens],
    *,
    replace: Mapping[Head, Source] | None = None,
    batch_size: int = 8,
    progress: bool = False,
    description: str = "perplexity",
) -> Perplexity:
    """Token-weighted perplexity of `model` (heads in `replace` substituted) on `rows`."""
    sub = Substitution(model, replace)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]), reverse=True)
    scored = [rows[i] for i in order if len(rows[i]) > 1]
    if not scored:
        raise ModelError("no tokens to score: every sequence has fewer than 2 tokens")
    total, count = 0.0, 0
    batch_size = max(1, int(batch_size))
    with progress_bar(len(scored), description, progress) as bar:
        for start in range(0, len(scored), batch_size):
            chunk = scored[start : start + batch_size]
            nll, n = batch_nll(sub, chunk)
            total, count = total + nll, count + n
            bar.advance(len(chunk))
    return Perplexity(nll=total, tokens=count)


def compare(
    model,
    rows: Sequence[Tokens],
    replace: Mapping[Head, Source],
    *,
    batch_size: int = 8,
    progress: bool = False,
) -> dict:
    """Baseline and substituted perplexity on the same rows, and the relative increase."""
    base = perplexity(model, rows, batch_size=batch_size, progress=progress, description="baseline")
    new = perplexity(
        model,
        rows,
        replace=replace,
        batch_size=batch_size,
        progress=progress,
        description="substituted",
    )
    return {
        "baseline_ppl": base.ppl,
        "ppl": new.ppl,
        "relative_increase": new.ppl / base.ppl - 1.0,
        "tokens": new.tokens,
        "replaced": sorted([int(layer), int(head)] for layer, head in replace),
    }

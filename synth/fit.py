"""Fitting real-valued holes by maximising soft IoU: soft-score coefficients and mix weights.

All heads are fitted at once: the candidate's terms are shared, each head has its own numbers.
"""

from __future__ import annotations

import torch

from .packed import Packed


def segment_softmax(scores: torch.Tensor, packed: Packed) -> torch.Tensor:
    """Softmax of (heads, entries) scores within each query row's causal keys."""
    rows = packed.row.expand_as(scores)
    peak = torch.full((scores.shape[0], packed.n_rows), float("-inf"), dtype=scores.dtype)
    peak = peak.scatter_reduce(1, rows, scores.detach(), reduce="amax")
    e = torch.exp(scores - peak.gather(1, rows))
    total = torch.zeros_like(peak).index_add_(1, packed.row, e)
    return e / total.gather(1, rows)


def head_iou(weights: torch.Tensor, packed: Packed) -> torch.Tensor:
    """Mean soft IoU of per-head weights (heads, entries) against the same heads' attention."""
    mins = torch.minimum(weights, packed.attention)
    per_seq = torch.zeros(weights.shape[0], packed.n_seqs, dtype=weights.dtype)
    per_seq.index_add_(1, packed.seq, mins)
    return (per_seq / (2 * packed.lengths.to(weights.dtype) - per_seq)).mean(1)


def fit_softmax(terms: torch.Tensor, packed: Packed, steps: int = 150, lr: float = 0.2,
                l1: float = 0.0, init: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Coefficients (heads, terms) of softmax(sum_t c_t * term_t) maximising each head's IoU.

    `terms` is (terms, entries): indicator columns and the distance. An L1 penalty pushes the
    coefficients of terms that do not pay towards zero; `mask` (heads, terms) of 0/1 limits each
    head to some terms. Returns the coefficients and the IoU.
    """
    heads = packed.attention.shape[0]
    mask = torch.ones(heads, terms.shape[0]) if mask is None else mask
    coef = (init.clone() if init is not None
            else torch.zeros(heads, terms.shape[0])).requires_grad_(True)
    optimizer = torch.optim.Adam([coef], lr=lr)
    for _ in range(steps):
        weights = segment_softmax((coef * mask) @ terms, packed)
        loss = -head_iou(weights, packed).sum() + l1 * coef.abs().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        coef = coef.detach() * mask
        return coef, head_iou(segment_softmax(coef @ terms, packed), packed)

"""Fitting soft-score coefficients by maximising soft IoU, all heads of a group at once.

The soft IoU of a sequence is S / (2L - S) (`scoring.iou.overlap_iou`) with S the sum over its
entries of min(p, a), p the program's weights and a the head's attention; p is a softmax within
each query row. Its
gradient with respect to the scores is written out (`iou_gradient`): a hand-written chain rule
costs a fraction of autograd through scatter and gather.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..scoring.iou import overlap_iou
from .packed import Packed
from .terms import Terms


def segment_softmax(scores: torch.Tensor, packed: Packed) -> torch.Tensor:
    """Softmax of (heads, entries) scores within each query row's causal keys."""
    rows = packed.row.expand_as(scores)
    peak = torch.full((scores.shape[0], packed.n_rows), float("-inf"), dtype=scores.dtype)
    peak = peak.scatter_reduce(1, rows, scores, reduce="amax")
    e = torch.exp(scores - peak.index_select(1, packed.row))
    total = torch.zeros_like(peak).index_add_(1, packed.row, e)
    return e / total.index_select(1, packed.row)


def _overlaps(weights: torch.Tensor, packed: Packed) -> torch.Tensor:
    """S per (head, sequence): the sum of min(weights, attention) over the sequence."""
    mins = torch.minimum(weights, packed.attention)
    return torch.zeros(weights.shape[0], packed.n_seqs, dtype=weights.dtype).index_add_(
        1, packed.seq, mins)


def head_iou(weights: torch.Tensor, packed: Packed) -> torch.Tensor:
    """Mean soft IoU of per-head weights (heads, entries) against the same heads' attention."""
    return overlap_iou(_overlaps(weights, packed), packed.lengths.to(weights.dtype)).mean(1)


def iou_gradient(scores: torch.Tensor, packed: Packed) -> tuple[torch.Tensor, torch.Tensor]:
    """Each head's mean soft IoU of softmax(scores) and its gradient (heads, entries) with
    respect to the scores (where a higher score would pay)."""
    p = segment_softmax(scores, packed)
    overlap = _overlaps(p, packed)
    rows = packed.lengths.to(scores.dtype)
    iou = overlap_iou(overlap, rows).mean(1)
    twice = 2 * rows
    d_overlap = twice / (twice - overlap) ** 2 / packed.n_seqs  # d mean IoU / d S
    d_p = (p < packed.attention) * d_overlap.index_select(1, packed.seq)
    p_d = p * d_p
    row_mean = torch.zeros(scores.shape[0], packed.n_rows, dtype=scores.dtype).index_add_(
        1, packed.row, p_d)
    return iou, p_d - p * row_mean.index_select(1, packed.row)


def likelihood_gradient(scores: torch.Tensor, packed: Packed) -> torch.Tensor:
    """The gradient (heads, entries) of the attention's mean log-likelihood under
    softmax(scores): a - p per entry. The log-likelihood is concave in the coefficients of a
    soft score, so ascending it first finds the right basin, whatever the start."""
    return (packed.attention - segment_softmax(scores, packed)) / packed.n_rows


def ascend(coef: torch.Tensor, step: Callable[[torch.Tensor], torch.Tensor], steps: int,
           lr: float) -> torch.Tensor:
    """Adam ascent on coefficients; `step(coef)` returns the gradient of the objective."""
    coef = coef.clone()
    coef.grad = torch.zeros_like(coef)
    optimizer = torch.optim.Adam([coef], lr=lr)
    for _ in range(steps):
        coef.grad = -step(coef)
        optimizer.step()
    return coef.detach()


def fit_softmax(terms: Terms, steps: int = 150, lr: float = 0.2,
                init: torch.Tensor | None = None, mask: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """Coefficients (heads, terms) of softmax(sum_t c_t * term_t) maximising each head's IoU
    on the entries `terms` are built on.

    `terms` are shared by the heads (indicators and the distance); `mask` (heads, terms) of
    0/1 limits each head to some terms. Returns the coefficients and the IoU.
    """
    packed = terms.packed
    heads = packed.attention.shape[0]
    mask = torch.ones(heads, terms.count) if mask is None else mask
    start = torch.zeros(heads, terms.count) if init is None else init

    def gradient(coef: torch.Tensor) -> torch.Tensor:
        return terms.project(iou_gradient(terms.scores(coef * mask), packed)[1]) * mask

    coef = ascend(start, gradient, steps, lr) * mask
    return coef, head_iou(segment_softmax(terms.scores(coef), packed), packed)


def fit_selected(chosen: torch.Tensor, packed: Packed, init: torch.Tensor, steps: int,
                 lr: float, likelihood_steps: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Coefficients (heads, k) of softmax(sum_k c_k * chosen[:, k]) maximising each head's
    soft IoU, where `chosen` (heads, k, entries) holds each head's own k terms; the first
    `likelihood_steps` ascend the log-likelihood instead (concave: no local optima)."""

    def gradient_of(objective):
        def gradient(coef: torch.Tensor) -> torch.Tensor:
            scores = torch.einsum("hk,hke->he", coef, chosen)
            return torch.einsum("he,hke->hk", objective(scores), chosen)
        return gradient

    coef = init
    if likelihood_steps:
        coef = ascend(coef, gradient_of(lambda s: likelihood_gradient(s, packed)),
                      likelihood_steps, lr)
    coef = ascend(coef, gradient_of(lambda s: iou_gradient(s, packed)[1]), steps, lr)
    return coef, head_iou(segment_softmax(torch.einsum("hk,hke->he", coef, chosen), packed),
                          packed)

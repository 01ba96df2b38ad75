"""The regularisation path of soft scores: for k = 1, 2, ... terms, the best k-term score.

Forward selection with exact refits, all heads of a group at once. Each step screens every
candidate term by how much the head's attention wants it (the gradient of the log-likelihood
with respect to the new term's coefficient, at zero: the IoU's own gradient vanishes on keys the
score gives little weight, however much attention they hold), refits the current terms plus
each of the `screen` best candidates on a sample of the sequences, keeps the one that pays most
per node, and refits the chosen score on a larger sample. Step k's score is the head's k-term
candidate; `backward_path` prunes a large score back down the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .fit import fit_selected, head_iou, likelihood_gradient, segment_softmax
from .packed import Packed
from .terms import Terms


@dataclass(frozen=True)
class PathStep:
    """Every head's score after one forward step: term indices (heads, k) into the candidate
    terms, their coefficients (heads, k) and the synthesis IoU (heads,)."""

    terms: torch.Tensor
    coefs: torch.Tensor
    iou: torch.Tensor


def prefix(packed: Packed, n_seqs: int) -> tuple[Packed, int]:
    """The first `n_seqs` sequences of `packed` and how many entries they hold (a prefix)."""
    n_seqs = min(n_seqs, packed.n_seqs)
    entries = int((packed.lengths[:n_seqs] * (packed.lengths[:n_seqs] + 1) // 2).sum())
    rows = int(packed.lengths[:n_seqs].sum())
    cut = Packed(packed.tokens[:n_seqs], packed.heads, packed.attention[:, :entries],
                 packed.query[:entries], packed.key[:entries], packed.row[:entries],
                 packed.seq[:entries], packed.row_seq[:rows], packed.lengths[:n_seqs])
    return cut, entries


def _repeat(packed: Packed, times: int) -> Packed:
    """`packed` with each head's attention repeated `times` times (virtual heads h*times+m)."""
    return Packed(packed.tokens, packed.heads, packed.attention.repeat_interleave(times, 0),
                  packed.query, packed.key, packed.row, packed.seq, packed.row_seq,
                  packed.lengths)


def forward_path(terms: Terms, costs: torch.Tensor, max_terms: int = 10, screen: int = 4,
                 fit_sequences: int = 20, screen_sequences: int = 8, steps: int = 24,
                 lr: float = 0.15, say: Callable[[str], None] = lambda m: None) -> list[PathStep]:
    """Forward selection of soft-score terms from the candidate `terms`, per head.

    Coefficients are fitted on the first `fit_sequences` sequences, the `screen` trial terms
    of each step on the first `screen_sequences` (exact IoU comes later, from the compiled
    engine). Of the trials, each step keeps the one whose IoU gain per node of its term
    (`costs`, one per candidate) is largest. Returns one `PathStep` per number of terms.
    """
    packed = terms.packed
    heads, n_candidates = packed.attention.shape[0], terms.count
    fitting, fit_cut = prefix(packed, fit_sequences)
    screening, screen_cut = prefix(packed, screen_sequences)
    wide = _repeat(screening, screen)
    values = terms.dense[:, :fit_cut]
    norms = values.norm(dim=1).clamp(min=1e-6)
    chosen_terms = torch.zeros(heads, 0, dtype=torch.long)
    coefs = torch.zeros(heads, 0)
    scores = torch.zeros(heads, fit_cut)
    path: list[PathStep] = []
    for k in range(1, min(max_terms, n_candidates) + 1):
        say(f"soft-score path: {k} terms")
        relevance = (likelihood_gradient(scores, fitting) @ values.T).abs()
        relevance.scatter_(1, chosen_terms, -1)
        # half the trials by the raw gradient (favours dense terms), half by its correlation
        # (favours sparse ones such as `first`, which one entry per row can make decisive)
        picks = torch.cat([torch.argsort(r, dim=1, descending=True)[:, :half] for r, half in (
            (relevance, screen - screen // 2), (relevance / norms, screen // 2))], 1)
        trial_terms = torch.cat([chosen_terms.repeat_interleave(screen, 0),
                                 picks.reshape(-1, 1)], 1)
        init = torch.cat([coefs, torch.zeros(heads, 1)], 1)
        _, trial_iou = fit_selected(values[:, :screen_cut][trial_terms], wide,
                                    init.repeat_interleave(screen, 0), steps // 2, lr,
                                    likelihood_steps=steps // 2)
        current = head_iou(segment_softmax(scores[:, :screen_cut], screening), screening)
        gain = trial_iou.reshape(heads, screen) - current[:, None]
        best = (gain / costs[picks]).argmax(1)
        chosen_terms = torch.cat([chosen_terms, picks[torch.arange(heads), best][:, None]], 1)
        chosen = values[chosen_terms]
        fitted, iou = fit_selected(chosen, fitting, init, steps, lr, likelihood_steps=steps)
        if path:  # a refit that lost IoU keeps the previous coefficients (the new one at 0)
            worse = iou < path[-1].iou
            fitted = torch.where(worse[:, None], init, fitted)
            iou = torch.maximum(iou, path[-1].iou)
        coefs = fitted
        scores = torch.einsum("hk,hke->he", coefs, chosen)
        path.append(PathStep(chosen_terms.clone(), coefs.clone(), iou))
    return path


def backward_path(values: torch.Tensor, packed: Packed, active: torch.Tensor,
                  coefs: torch.Tensor, max_terms: int = 12, fit_sequences: int = 24,
                  steps: int = 20, lr: float = 0.1) -> list[PathStep]:
    """Pruning a large soft score back to small ones, per head.

    `active` (heads, candidates) marks each head's terms and `coefs` (heads, candidates) their
    coefficients. Terms go in order of least weight (|coefficient| times the term's spread):
    a quarter at a time while a head has more than `max_terms`, then one at a time with a
    refit after each removal. Returns one `PathStep` per removal at or below `max_terms`
    (a head with fewer terms left keeps them; unused slots have coefficient 0).
    """
    fitting, cut = prefix(packed, fit_sequences)
    width = int(active.sum(1).max())
    order = torch.argsort(active.float(), dim=1, descending=True, stable=True)[:, :width]
    keep = torch.gather(active, 1, order)
    coef = torch.gather(coefs, 1, order) * keep
    values = values[:, :cut]
    chosen = values[order]  # (heads, width, entries)
    spread = chosen.std(dim=2)
    path: list[PathStep] = []
    while int(keep.sum(1).max()) > 1:
        count = keep.sum(1)
        weight = torch.where(keep, coef.abs() * spread, torch.full_like(coef, float("inf")))
        drop = torch.where(count > max_terms, (count + 3) // 4, (count > 1).long())
        ranks = torch.argsort(torch.argsort(weight, dim=1), dim=1)
        keep = keep & ~(ranks < drop[:, None])
        coef, iou = fit_selected(chosen * keep[..., None], fitting, coef * keep, steps, lr)
        coef = coef * keep
        if int(keep.sum(1).max()) <= max_terms:
            path.append(PathStep(order.clone(), coef.clone(), iou))
    return path

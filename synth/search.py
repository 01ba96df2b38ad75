"""The enumerative proposer: candidate programs for every head, from enumerated selectors.

For each head it proposes
- the best enumerated selector on its own (uniform over its keys),
- that selector decayed with a fitted rate,
- soft-score programs `softmax(c1 * [S1] + ... + c * dist)` of growing size: the coefficients of
  a shared pool of terms are fitted to each head's soft IoU, then the weakest terms are pruned
  and the rest refitted, giving one candidate per size (the size penalty picks among them).
All heads are handled at once; every candidate's IoU is measured exactly, after rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from headcode.dsl import nodes as n

from .enumerate import enumerate_atoms, size
from .fit import fit_softmax, head_iou, segment_softmax
from .packed import Packed
from .scoring import ScoringCorpus, score_corpus

DIST_SCALE = 10.0  # distances enter the fit divided by this, so all terms have similar scale
START_TERMS = (n.First(), n.Self(), n.Prev(n.Num(1)))
SHARED_BONUS = 1.5  # a term another head already uses costs the joint fit nothing extra


@dataclass(frozen=True)
class Candidate:
    """A proposed program for one head, with its soft IoU on the synthesis sequences."""

    expr: n.Node
    iou: float
    origin: str

    @property
    def size(self) -> int:
        return size(self.expr)


def uniform_weights(indicator: torch.Tensor, packed: Packed) -> torch.Tensor:
    """A selector's pattern on packed entries: uniform over its keys, empty rows on key 0."""
    count = torch.zeros(packed.n_rows).index_add_(0, packed.row, indicator)
    per_row = count[packed.row]
    empty = (per_row == 0).float() * (packed.key == 0).float()
    return torch.where(per_row > 0, indicator / per_row.clamp(min=1), empty)


def score_gradient(coefs: torch.Tensor, terms: torch.Tensor, packed: Packed) -> torch.Tensor:
    """d(soft IoU)/d(score) on every entry, per head: where more score would pay."""
    score = (coefs @ terms).requires_grad_(True)
    head_iou(segment_softmax(score, packed), packed).sum().backward()
    return score.grad


def pursue(values: torch.Tensor, start: list[int], packed: Packed, growth: tuple[int, ...],
           steps: int, say: Callable[[str], None]) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Greedy term selection for soft scores, all heads at once (a matching pursuit).

    Every head starts from the `start` selectors and the distance; each round fits the
    coefficients, then gives every head the `growth[r]` selectors whose indicator best matches
    where its score gradient says more weight would pay. Returns (active, coefficients) per
    round, both (heads, selectors + 1) with the distance last.
    """
    heads, n_atoms = len(packed.heads), values.shape[0]
    distance = packed.distance[None] / DIST_SCALE
    active = torch.zeros(heads, n_atoms + 1, dtype=torch.bool)
    active[:, start] = True
    active[:, -1] = True
    coefs = torch.zeros(heads, n_atoms + 1)
    rounds = []
    for r, more in enumerate((*growth, 0)):
        pool = torch.nonzero(active.any(0)).flatten()
        terms = torch.cat([values[pool[:-1]], distance])
        mask = active[:, pool].float()
        say(f"soft scores: round {r + 1}, {int(mask.sum(1).max())} terms at most")
        fitted, _ = fit_softmax(terms, packed, steps=steps if r == 0 else max(steps // 2, 10),
                                init=coefs[:, pool], mask=mask, lr=0.2 if r == 0 else 0.1)
        coefs = torch.zeros_like(coefs)
        coefs[:, pool] = fitted
        rounds.append((active.clone(), coefs.clone()))
        if more:
            gradient = score_gradient(fitted, terms, packed)
            relevance = (gradient @ values.T).abs()
            relevance[:, active[:, :-1].any(0)] *= SHARED_BONUS
            relevance[active[:, :-1]] = -1
            picks = torch.argsort(relevance, dim=1, descending=True)[:, :more]
            active[torch.arange(heads)[:, None], picks] = True
    return rounds


def _round(value: float) -> float:
    """Two significant digits: readable numbers that keep the fit."""
    return float(f"{value:.2g}")


def softmax_program(coefs: torch.Tensor, exprs: list[n.Node]) -> n.Node | None:
    """`softmax(...)` from coefficients over [expr...] and a final distance coefficient."""
    terms = []
    for c, expr in zip(coefs[:-1].tolist(), exprs):
        if abs(_round(c)) >= 0.05:
            terms.append(n.Term(n.Num(_round(c)), expr))
    dist = _round(float(coefs[-1]) / DIST_SCALE)
    if abs(dist) >= 0.005:
        terms.append(n.Term(n.Num(dist), None))
    return n.Softmax(tuple(terms)) if terms else None


def propose(packed: Packed, corpus: ScoringCorpus,
            growth: tuple[int, ...] = (3, 4, 8, 16, 32), steps: int = 60,
            progress: Callable[[str], None] | None = None) -> list[list[Candidate]]:
    """Candidates for every head: `result[h]` lists head h's, each with its synthesis IoU.

    `packed` and `corpus` hold the same synthesis sequences and heads: the first for fitting,
    the second for exact scoring with the compiled engine.
    """
    say = progress or (lambda message: None)
    say("enumerating selectors")
    atoms, values = enumerate_atoms(packed)
    heads = len(packed.heads)
    result: list[list[Candidate]] = [[] for _ in range(heads)]

    say(f"scoring {len(atoms)} selectors")
    simple = score_corpus([a.expr for a in atoms], corpus)
    best = simple.argmax(0)
    for h in range(heads):
        result[h].append(Candidate(atoms[best[h]].expr, float(simple[best[h], h]), "selector"))
    decays = [n.Decay(atoms[i].expr, n.Num(r)) for i in sorted(set(best.tolist()))
              for r in (0.5, 0.7, 0.85, 0.95)]
    decay_scores = score_corpus(decays, corpus)
    for h in range(heads):
        k = int(decay_scores[:, h].argmax())
        result[h].append(Candidate(decays[k], float(decay_scores[k, h]), "decay"))

    start = [i for i, atom in enumerate(atoms) if atom.expr in START_TERMS]
    exprs = [a.expr for a in atoms]
    for active, coefs in pursue(values, start, packed, growth, steps, say):
        programs = [softmax_program(coefs[h], exprs) for h in range(heads)]
        scored = [(h, p) for h, p in enumerate(programs) if p is not None]
        ious = score_corpus([p for _, p in scored], corpus)
        for row, (h, program) in enumerate(scored):
            result[h].append(Candidate(program, float(ious[row, h]),
                                       f"softmax-{int(active[h].sum())}"))
    return result

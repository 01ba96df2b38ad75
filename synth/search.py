"""The enumerative proposer: candidate programs of every size for every head, so that each
head's size/fidelity front is well covered (`front`).

For each head it proposes
- its best selectors on their own (uniform over their keys): enumerated ones and key-token sets
  chosen from its attention (`tokensets`);
- compositions of its best selector with the selectors covering what it misses: decays,
  two-part mixtures, unions, fallbacks and query-conditioned choices, all kept;
- the soft-score path (`path`): the best score of 1, 2, ... 10 terms by forward selection,
  each term chosen for what it adds per node;
- mid-size soft scores `softmax(c1 * [S1] + ... + c * dist)` from a matching pursuit: each
  round fits the coefficients to the head's soft IoU, then adds the selectors its score
  gradient asks for (growth is kept only where it pays), one candidate per round;
- large soft scores (`shrink`): one over every candidate term, started from the pursuit's
  last, and the same pruned to its terms of most weight. These are usually the surrogates.
All heads of a group are handled at once; every candidate's IoU is measured exactly (compiled
engine), after rounding.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from headcode.dsl import nodes as n

from ..scoring import ScoringCorpus, score_corpus
from .enumerate import QUERY_CLASSES, Atom, enumerate_atoms, size
from .fit import fit_softmax, iou_gradient
from .packed import Packed
from .path import backward_path, forward_path, prefix
from .terms import DIST_SCALE, Terms
from .tokensets import set_indicator, set_selector, token_sets

START_TERMS = (n.First(), n.Self(), n.Prev(n.Num(1)))
COMPOSE_TOP = 4  # each head's best selectors that compositions are built from
DECAY_RATES = (0.5, 0.7, 0.85, 0.95)
MIX_WEIGHTS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)
SELECTORS_KEPT = 24  # each head's best selectors, kept as candidates for its front
SHARED_BONUS = 1.5  # a term another head already uses costs the joint fit nothing extra
SHRINK_LR = 0.05  # the fit over every term starts from the pursuit's last score
PURSUIT_STEPS = 60


@dataclass(frozen=True)
class Candidate:
    """A proposed program for one head, with its soft IoU on the synthesis sequences."""

    expr: n.Node
    iou: float
    origin: str

    @property
    def size(self) -> int:
        return size(self.expr)


def pursue(terms: Terms, start: list[int], growth: tuple[int, ...], steps: int,
           say: Callable[[str], None], deadline: float = math.inf,
           fit_sequences: int = 20) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Greedy term selection for soft scores, all heads at once (a matching pursuit).

    Every head starts from the `start` selectors and the distance; each round fits the
    coefficients on the first `fit_sequences` sequences, then gives every head the `growth[r]`
    selectors whose indicator best matches where its score gradient says more weight would
    pay. No round starts after `deadline` (a `time.monotonic()` value). Returns (active,
    coefficients) per round, both (heads, selectors + 1) with the distance last.
    """
    heads, n_atoms = len(terms.packed.heads), terms.count - 1
    packed, cut = prefix(terms.packed, fit_sequences)
    values, distance = terms.dense[:-1, :cut], terms.dense[-1:, :cut]
    active = torch.zeros(heads, n_atoms + 1, dtype=torch.bool)
    active[:, start] = True
    active[:, -1] = True
    coefs = torch.zeros(heads, n_atoms + 1)
    best = torch.full((heads,), -1.0)
    rounds = []
    for r, more in enumerate((*growth, 0)):
        if rounds and time.monotonic() > deadline:
            say("time budget reached: no more soft-score rounds")
            break
        pool = torch.nonzero(active.any(0)).flatten()
        mask = active[:, pool].float()
        say(f"soft scores: round {r + 1}, {int(mask.sum(1).max())} terms at most")
        fitted, iou = fit_softmax(Terms.build(values[pool[:-1]], packed),
                                  steps=steps if r == 0 else max(steps // 2, 10),
                                  init=coefs[:, pool], mask=mask, lr=0.2 if r == 0 else 0.05)
        grown = torch.zeros_like(coefs)
        grown[:, pool] = fitted
        better = iou > best  # growth is kept only where it pays
        coefs = torch.where(better[:, None], grown, coefs)
        if rounds:
            active = torch.where(better[:, None], active, rounds[-1][0])
        best = torch.maximum(best, iou)
        rounds.append((active.clone(), coefs.clone()))
        if more:
            pool = torch.nonzero(active.any(0)).flatten()
            pooled = torch.cat([values[pool[:-1]], distance])
            gradient = iou_gradient(coefs[:, pool] @ pooled, packed)[1]
            relevance = (gradient @ values.T).abs()
            relevance[:, active[:, :-1].any(0)] *= SHARED_BONUS
            relevance[active[:, :-1]] = -1
            picks = torch.argsort(relevance, dim=1, descending=True)[:, :more]
            active = active.clone()
            active[torch.arange(heads)[:, None], picks] = True
    return rounds


def shrink(terms: Terms, init: torch.Tensor, steps: int, keep: tuple[int, ...],
           say: Callable[[str], None], deadline: float = math.inf) -> list[torch.Tensor]:
    """Large soft scores, all heads at once: one over every term, then the same pruned.

    The score over every candidate term starts from `init` (heads, terms) and is fitted for
    `steps`; then each head keeps its `keep[0]`, `keep[1]`, ... terms of most weight
    (|coefficient| times the term's spread; the distance always stays), refitted after each
    cut. No cut starts after `deadline` (a `time.monotonic()` value). Returns the coefficients
    (heads, terms) of every score, largest first.
    """
    say(f"soft scores: all {terms.count} terms at once")
    coefs, _ = fit_softmax(terms, steps=steps, lr=SHRINK_LR, init=init)
    out = [coefs]
    spread = terms.dense.std(dim=1)
    for count in keep:
        if time.monotonic() > deadline:
            say("time budget reached: no more pruned soft scores")
            break
        say(f"soft scores: pruned to {count} terms")
        weight = out[-1].abs() * spread
        weight[:, -1] = math.inf
        kept = torch.argsort(weight, dim=1, descending=True)[:, :count + 1]
        mask = torch.zeros_like(coefs).scatter_(1, kept, 1.0) * (out[-1] != 0)
        pruned, _ = fit_softmax(terms, steps=max(steps // 3, 10), lr=SHRINK_LR,
                                init=out[-1] * mask, mask=mask)
        out.append(pruned)
    return out


def partners(terms: Terms, best: np.ndarray, k: int, sizes: torch.Tensor) -> list[list[int]]:
    """Per head, its best selector and the `k` selectors that cover most of the attention the
    best one misses (the residual): the parts worth composing with it. Of two that cover about
    as much (within 0.1%), the smaller comes first."""
    packed = terms.packed
    residual = (packed.attention - torch.stack([terms.uniform(int(b)) for b in best])
                ).clamp(min=0)
    relevance = terms.uniform_products(residual) * (1 - 1e-3 * sizes / sizes.max())
    relevance[torch.arange(len(best)), torch.as_tensor(best)] = -1
    order = torch.argsort(relevance, dim=1, descending=True, stable=True)[:, :k]
    return [[int(best[h]), *order[h].tolist()] for h in range(len(best))]


def compositions(pairs: list[tuple[n.Node, n.Node]]) -> dict[str, list[n.Node]]:
    """Programs built from pairs of complementary selectors (the first of the first pair is
    the head's best): decays, two-part mixtures, unions, fallbacks and query-conditioned
    choices (the greedy composition step)."""
    out: dict[str, list[n.Node]] = {"decay": [], "mix": [], "union": [], "fallback": [],
                                    "choose": []}
    if pairs:
        out["decay"] = [n.Decay(pairs[0][0], n.Num(r)) for r in DECAY_RATES]
    for a, b in pairs:
        out["mix"] += [n.Mix(((n.Num(w), a), (n.Num(_round(1 - w)), b))) for w in MIX_WEIGHTS]
        out["union"].append(n.SetOp("|", a, b))
        out["fallback"] += [n.Fallback(a, b), n.Fallback(b, a)]
        out["choose"] += [n.Choose(n.Feature("q", c), x, y) for c in QUERY_CLASSES
                          for x, y in ((a, b), (b, a))]
    return {origin: exprs for origin, exprs in out.items() if exprs}


def _round(value: float) -> float:
    """Two significant digits: readable numbers that keep the fit."""
    return float(f"{value:.2g}")


def indicator_form(expr: n.Node) -> n.Node:
    """What a soft score's `[...]` holds for a selector: `[k.punct]`, not `[keys(k.punct)]`."""
    return expr.pred if isinstance(expr, n.Keys) else expr


def softmax_program(coefs: torch.Tensor, exprs: list[n.Node]) -> n.Node | None:
    """`softmax(...)` from coefficients over [expr...] and a final distance coefficient."""
    terms = []
    for c, expr in zip(coefs[:-1].tolist(), exprs):
        if abs(_round(c)) >= 0.05:
            terms.append(n.Term(n.Num(_round(c)), indicator_form(expr)))
    dist = _round(float(coefs[-1]) / DIST_SCALE)
    if abs(dist) >= 0.005:
        terms.append(n.Term(n.Num(dist), None))
    return n.Softmax(tuple(terms)) if terms else None


def with_token_sets(atoms: list[Atom], values: torch.Tensor, packed: Packed
                    ) -> tuple[list[Atom], torch.Tensor]:
    """The enumerated selectors plus every head's key-token sets (`tokensets`)."""
    sets = list(dict.fromkeys(s for per_head in token_sets(packed) for s in per_head))
    if not sets:
        return atoms, values
    extra = [Atom(set_selector(s), size(set_selector(s))) for s in sets]
    return atoms + extra, torch.cat([values, torch.stack([set_indicator(s, packed)
                                                          for s in sets])])


def _scored(result: list[list[Candidate]], programs: list[list[tuple[n.Node, str]]],
            corpus: ScoringCorpus) -> None:
    """Score every head's new (program, origin) pairs exactly and add them as candidates."""
    pool = list(dict.fromkeys(p for per_head in programs for p, _ in per_head))
    if not pool:
        return
    scores = score_corpus(pool, corpus)
    index = {p: i for i, p in enumerate(pool)}
    for h, per_head in enumerate(programs):
        for program, origin in per_head:
            result[h].append(Candidate(program, float(scores[index[program], h]), origin))


def propose(packed: Packed, corpus: ScoringCorpus,
            growth: tuple[int, ...] = (3, 4, 8), keep: tuple[int, ...] = (160,),
            steps: int = 60,
            progress: Callable[[str], None] | None = None, max_selectors: int = 600,
            seconds: float | None = None, path_terms: int = 10) -> list[list[Candidate]]:
    """Candidates for every head: `result[h]` lists head h's, each with its synthesis IoU.

    Stages: selectors (enumerated, and key-token sets from the head's attention), their
    compositions, the soft-score path of 1 to `path_terms` terms (forward selection), the
    soft scores of a matching pursuit growing by `growth` terms a round, and the score over
    every term (fitted for `steps`) with its prunings to `keep` terms. `packed` and `corpus`
    hold the same synthesis sequences and heads: the first for fitting, the second for exact
    scoring with the compiled engine. The budget: at most `max_selectors` enumerated
    selectors, and no new pursuit round, fit over every term or pruning after `seconds`.
    """
    say = progress or (lambda message: None)
    deadline = math.inf if seconds is None else time.monotonic() + seconds
    say("enumerating selectors")
    atoms, values = with_token_sets(*enumerate_atoms(packed, limit=max_selectors), packed)
    exprs = [a.expr for a in atoms]
    heads = len(packed.heads)
    result: list[list[Candidate]] = [[] for _ in range(heads)]

    say(f"scoring {len(atoms)} selectors")
    simple = score_corpus(exprs, corpus)
    sizes = torch.tensor([float(a.size) for a in atoms])
    ranked = np.argsort(-(simple - 1e-6 * sizes.numpy()[:, None]), axis=0, kind="stable")
    ranked = ranked[:SELECTORS_KEPT]
    for h in range(heads):
        for k in ranked[:, h]:
            result[h].append(Candidate(exprs[k], float(simple[k, h]), "selector"))
    best = ranked[0]

    say("composing mixtures, unions and fallbacks")
    terms = Terms.build(values, packed)
    first = partners(terms, best, COMPOSE_TOP - 1, sizes)
    second = partners(terms, np.array([f[1] for f in first]), 2, sizes)
    programs = []
    for h in range(heads):
        anchor, *found = first[h]
        pairs = [(anchor, p) for p in found] + [(second[h][0], q) for q in second[h][1:]]
        family = compositions([(exprs[a], exprs[b]) for a, b in pairs if a != b])
        programs.append([(e, origin) for origin, group in family.items() for e in group])
    _scored(result, programs, corpus)

    costs = torch.tensor([2.0 + size(indicator_form(e)) for e in exprs] + [2.0])
    path = forward_path(terms, costs, max_terms=path_terms, say=say)
    say("soft scores: pruning the path's largest score")
    last = path[-1]
    active = torch.zeros(heads, terms.count, dtype=torch.bool).scatter_(1, last.terms, True)
    full = torch.stack([_dense(last.terms[h], last.coefs[h], terms.count)
                        for h in range(heads)])
    pruned = backward_path(terms.dense, packed, active & (full != 0), full, max_terms=path_terms)
    programs = [[(p, f"{origin}-{int((step.coefs[h] != 0).sum())}")
                 for origin, found in (("path", path), ("pruned", pruned)) for step in found
                 if (p := softmax_program(_dense(step.terms[h], step.coefs[h],
                                                 terms.count), exprs)) is not None]
                for h in range(heads)]
    _scored(result, programs, corpus)

    start = [i for i, e in enumerate(exprs) if e in START_TERMS]
    rounds = pursue(terms, start, growth, PURSUIT_STEPS, say, deadline)
    scores = [coefs for _, coefs in rounds]
    if steps and time.monotonic() <= deadline:
        scores += shrink(terms, rounds[-1][1], steps, keep, say, deadline)
    _scored(result, [[(p, f"softmax-{int((c[h] != 0).sum())}") for c in scores
                      if (p := softmax_program(c[h], exprs)) is not None]
                     for h in range(heads)], corpus)
    return result


def _dense(terms: torch.Tensor, coefs: torch.Tensor, width: int) -> torch.Tensor:
    """Coefficients over all `width` candidate terms from a head's chosen terms."""
    return torch.zeros(width).index_put_((terms,), coefs, accumulate=True)

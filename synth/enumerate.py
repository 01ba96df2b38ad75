"""Bottom-up enumeration of selectors by size, with observational-equivalence pruning.

A candidate's size is its number of syntax nodes. Enumeration builds larger selectors from
smaller ones; two candidates that select exactly the same keys on every synthesis sequence are
one (the smaller, earlier one is kept), so the search never pays twice for the same behaviour.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from headcode.dsl import nodes as n

from .packed import Packed, evaluate_packed

BOOL_FEATURES = ("bos", "word_start", "punct", "period", "comma", "quote", "newline", "capital",
                 "digit")
QUERY_CLASSES = ("punct", "period", "comma", "word_start", "capital", "newline")
UNITS = ("word", "sentence", "line")


def size(expr: n.Node) -> int:
    """The number of syntax nodes: the measure of a program's length."""
    return sum(1 for _ in expr.walk())


@dataclass(frozen=True)
class Atom:
    """A selector with its 0/1 indicator on every causal entry of the synthesis sequences."""

    expr: n.Node
    size: int


def _k(name: str) -> n.Feature:
    return n.Feature("k", name)


def _q(name: str) -> n.Feature:
    return n.Feature("q", name)


def seed_selectors(max_distance: int = 8) -> Iterator[n.Node]:
    """The grammar's leaves and one-step selectors, smallest first."""
    yield n.Self()
    yield n.First()
    for d in range(1, max_distance + 1):
        yield n.Prev(n.Num(d))
    for a, b in ((1, 2), (1, 3), (2, 4), (4, 8), (9, 16), (17, 32), (33, 64), (1, 8)):
        yield n.Window(n.Num(a), n.Num(b))
    for unit in UNITS:
        yield n.Start(unit)
    for feature in ("text", "word", "sentence", "line"):
        yield n.Same(feature)
    for name in BOOL_FEATURES:
        yield n.Keys(_k(name))
        yield n.Last(_k(name))
    for name in BOOL_FEATURES:
        yield n.Last(_k(name), n.Num(2))
    # the token before each word start or punctuation mark, and before the current word: the
    # ends of words the query has seen whole (later heads of a subword model prefer them)
    for name in ("word_start", "punct"):
        yield n.Shift(n.Keys(_k(name)), n.Num(-1))
    yield n.Shift(n.Start("word"), n.Num(-1))


def _shift_one(values: torch.Tensor, packed: Packed) -> torch.Tensor:
    """shift(S, 1) on packed entries: entry (i, j) takes (i, j - 1), in the same row."""
    out = torch.zeros_like(values)
    out[1:] = values[:-1]
    return out * (packed.key >= 1)


class _Growth:
    """The constructors that take a selector one size up, computed on packed indicators."""

    def __init__(self, packed: Packed):
        self.packed = packed
        fixed = [n.Self(), n.Same("sentence")] + [n.Keys(_q(q)) for q in QUERY_CLASSES]
        self.fixed = dict(zip(fixed, evaluate_packed(fixed, packed, as_pattern=False)))

    def __call__(self, expr: n.Node, values: torch.Tensor) -> Iterator[tuple[n.Node, torch.Tensor]]:
        yield n.SetOp("-", expr, n.Self()), values * (1 - self.fixed[n.Self()])
        yield n.Shift(expr, n.Num(1)), _shift_one(values, self.packed)
        yield n.SetOp("&", expr, n.Same("sentence")), values * self.fixed[n.Same("sentence")]
        for q in QUERY_CLASSES:
            cls = n.Keys(_q(q))
            yield n.SetOp("&", expr, cls), values * self.fixed[cls]


def seed_predicates() -> Iterator[n.Node]:
    """Key-token classes, alone and conditioned on a query-token class."""
    for name in BOOL_FEATURES:
        yield _k(name)
    for name in ("punct", "period", "comma", "word_start", "capital", "bos"):
        for q in QUERY_CLASSES:
            yield n.And(_k(name), _q(q))


def enumerate_atoms(packed: Packed, max_size: int = 9, rounds: int = 2, limit: int = 600
                    ) -> tuple[list[Atom], torch.Tensor]:
    """Distinct selectors up to `max_size` nodes and their (atoms, entries) 0/1 indicators.

    Round 0 holds the leaves, the one-step selectors and keys(P) for the seed predicates; each
    further round applies the constructors of `_Growth` to the selectors the previous round
    kept, smallest first. Candidates selecting nothing, or exactly what an earlier one selects,
    are dropped; enumeration stops at `limit` selectors.
    """
    atoms: list[Atom] = []
    kept: list[torch.Tensor] = []
    seen: set[bytes] = set()
    seeds = sorted(list(seed_selectors()) + [n.Keys(p) for p in seed_predicates()], key=size)
    candidates = zip(seeds, evaluate_packed(seeds, packed, as_pattern=False))
    grow = _Growth(packed)
    for _ in range(rounds + 1):
        fresh = []
        for expr, value in candidates:
            if len(atoms) >= limit:
                break
            mask = value > 0
            digest = hashlib.blake2b(mask.numpy().tobytes(), digest_size=16).digest()
            if size(expr) > max_size or not bool(mask.any()) or digest in seen:
                continue
            seen.add(digest)
            atoms.append(Atom(expr, size(expr)))
            kept.append(value)
            fresh.append((expr, value))
        candidates = (bigger for expr, value in fresh for bigger in grow(expr, value))
    return atoms, torch.stack(kept)

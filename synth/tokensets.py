"""Key-token sets chosen from data: `keys(k.text in {" he", " she", " it"})` for the tokens a
head's attention goes to far more than uniform attention would send there.

A token's *lift* for a head is the attention mass its occurrences as keys receive, divided by
the mass uniform causal attention would give them. The set of a head holds the tokens of
highest lift-weighted mass (mass x log lift) among those with a clear lift, largest first, so
that its first few members say most of what it does.
"""

from __future__ import annotations

import torch

from headcode.dsl import nodes as n

from .packed import Packed

MIN_LIFT = 2.0  # a member receives at least twice the attention uniform attention gives it
MIN_SHARE = 0.005  # and at least this share of the head's attention mass


def key_texts(packed: Packed) -> tuple[list[str], torch.Tensor]:
    """The distinct key texts and, per causal entry, its key token's index among them."""
    vocabulary: dict[str, int] = {}
    per_sequence = [torch.tensor([vocabulary.setdefault(t, len(vocabulary)) for t in s.texts])
                    for s in packed.tokens]
    offsets = torch.cumsum(torch.tensor([0] + [len(s) for s in per_sequence[:-1]]), 0)
    flat = torch.cat(per_sequence)
    return list(vocabulary), flat[offsets[packed.seq] + packed.key]


def token_sets(packed: Packed, sizes: tuple[int, ...] = (2, 4, 8)
               ) -> list[list[tuple[str, ...]]]:
    """Per head, its key-token sets of up to each of `sizes` members (distinct, non-empty)."""
    texts, entry_text = key_texts(packed)
    uniform = 1.0 / (packed.query + 1).float()
    expected = torch.zeros(len(texts)).index_add_(0, entry_text, uniform)
    out = []
    for attention in packed.attention:
        mass = torch.zeros(len(texts)).index_add_(0, entry_text, attention)
        lift = mass / expected.clamp(min=1e-9)
        useful = (lift >= MIN_LIFT) & (mass >= MIN_SHARE * attention.sum())
        merit = torch.where(useful, mass * torch.log(lift.clamp(min=1.0)), torch.zeros(()))
        ranked = [int(i) for i in torch.argsort(merit, descending=True) if merit[i] > 0]
        sets = list(dict.fromkeys(tuple(sorted(texts[i] for i in ranked[:k])) for k in sizes
                                  if ranked[:k]))
        out.append(sets)
    return out


def set_selector(members: tuple[str, ...]) -> n.Node:
    """`keys(k.text in {...})` (or `keys(k.text == "x")` for one member)."""
    text = n.Feature("k", "text")
    if len(members) == 1:
        return n.Keys(n.Compare("==", text, n.Str(members[0])))
    return n.Keys(n.Member(text, tuple(n.Str(m) for m in members)))


def set_indicator(members: tuple[str, ...], packed: Packed) -> torch.Tensor:
    """The 0/1 indicator of a set's selector on every causal entry."""
    texts, entry_text = key_texts(packed)
    wanted = torch.tensor([t in set(members) for t in texts])
    return wanted[entry_text].float()

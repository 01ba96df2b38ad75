"""The synthesis and held-out sequences of a run, with the real attention of the heads explained.

A run reads an attention dump: its first `n_synth` sequences are shown to the proposers, the
next `n_heldout` are kept for re-ranking and the reported figure.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from headcode.dsl.tokens import Tokens
from headcode.errors import HeadcodeError

from ..scoring import ScoringCorpus, encode_corpus
from .packed import Packed, pack


@dataclass
class Sequences:
    """Token sequences and, per sequence, the packed attention (heads, n(n+1)/2) of `heads`."""

    tokens: list[Tokens]
    attention: list[np.ndarray]
    heads: list[tuple[int, int]]

    def select(self, heads: list[tuple[int, int]]) -> Sequences:
        rows = [self.heads.index(h) for h in heads]
        return Sequences(self.tokens, [a[rows] for a in self.attention], list(heads))

    def packed(self) -> Packed:
        return pack(self.tokens, self.attention, self.heads)

    def corpus(self) -> ScoringCorpus:
        return encode_corpus(zip(self.tokens, self.attention), heads=self.heads)

    def matrices(self, head: tuple[int, int], limit: int) -> list[np.ndarray]:
        """The first `limit` sequences' full (n, n) attention of one head."""
        row = self.heads.index(head)
        out = []
        for tokens, packed in zip(self.tokens[:limit], self.attention[:limit]):
            full = np.zeros((len(tokens), len(tokens)))
            full[np.tril_indices(len(tokens))] = packed[row]
            out.append(full)
        return out


def split_dump(dump, heads: list[tuple[int, int]], n_synth: int, n_heldout: int
               ) -> tuple[Sequences, Sequences]:
    """The synthesis and held-out sequences of a dump, for the given heads."""
    if len(dump) < n_synth + n_heldout:
        raise HeadcodeError(f"the dump holds {len(dump)} sequences; {n_synth} for synthesis and "
                            f"{n_heldout} held out need {n_synth + n_heldout}")
    rows = [dump.row(layer, head) for layer, head in heads]

    def take(first: int, count: int) -> Sequences:
        tokens = [dump.tokens(s) for s in range(first, first + count)]
        attention = [np.asarray(dump.packed(s)[rows], dtype=np.float32)
                     for s in range(first, first + count)]
        return Sequences(tokens, attention, list(heads))

    return take(0, n_synth), take(n_synth, n_heldout)

"""Sequences and real attention flattened to their causal entries, the synthesizer's working form.

Every sequence of n tokens contributes its n(n+1)/2 causal entries (query i, key j <= i) in
row-major order, the order of an attention dump's packed triangle. Entries of all sequences are
concatenated; `row` numbers the query rows globally and `seq` the sequences, so row-wise softmax
and per-sequence IoU are segment sums over these ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from headcode.dsl import nodes as n
from headcode.dsl.program import Program
from headcode.dsl.tokens import Tokens
from headcode.dsl.torch_backend import TorchProgram, batch_features, indicator


@dataclass
class Packed:
    """Token sequences, their causal entries, and the real attention of some heads on them."""

    tokens: list[Tokens]
    heads: list[tuple[int, int]]
    attention: torch.Tensor  # (heads, entries) float32
    query: torch.Tensor  # (entries,) query position i
    key: torch.Tensor  # (entries,) key position j
    row: torch.Tensor  # (entries,) global query row
    seq: torch.Tensor  # (entries,) sequence index
    row_seq: torch.Tensor  # (rows,) sequence of each row
    lengths: torch.Tensor  # (sequences,)

    @property
    def n_rows(self) -> int:
        return int(self.row_seq.shape[0])

    @property
    def n_seqs(self) -> int:
        return len(self.tokens)

    @property
    def distance(self) -> torch.Tensor:
        return (self.query - self.key).float()

    def pack_matrices(self, full: torch.Tensor) -> torch.Tensor:
        """(..., sequences, n, n) padded matrices to (..., entries)."""
        return full[..., self.seq, self.query, self.key]


def pack(tokens: Sequence[Tokens], attention: Sequence[np.ndarray],
         heads: Sequence[tuple[int, int]]) -> Packed:
    """Pack sequences and their packed attention blocks (heads, n(n+1)/2) per sequence."""
    tokens = list(tokens)
    if not tokens:
        raise ValueError("no sequences to pack")
    queries, keys, seqs = [], [], []
    for s, t in enumerate(tokens):
        i, j = np.tril_indices(len(t))
        queries.append(i)
        keys.append(j)
        seqs.append(np.full(len(i), s))
    query = torch.from_numpy(np.concatenate(queries))
    key = torch.from_numpy(np.concatenate(keys))
    seq = torch.from_numpy(np.concatenate(seqs))
    lengths = torch.tensor([len(t) for t in tokens])
    row_start = torch.cumsum(lengths, 0) - lengths
    row = row_start[seq] + query
    row_seq = torch.repeat_interleave(torch.arange(len(tokens)), lengths)
    att = torch.from_numpy(np.concatenate([np.asarray(a, dtype=np.float32) for a in attention],
                                          axis=1))
    return Packed(tokens, list(heads), att, query, key, row, seq, row_seq, lengths)


def evaluate_packed(programs: Sequence[Program | n.Node], packed: Packed,
                    as_pattern: bool = True) -> torch.Tensor:
    """Each program's values on every causal entry: (programs, entries).

    With `as_pattern`, the programs' attention weights; otherwise selectors and predicates as
    0/1 indicators (a predicate P counts as keys(P)).
    """
    features = batch_features(packed.tokens)
    out = []
    for program in programs:
        expr = program.closed if isinstance(program, Program) else program
        if as_pattern:
            full = TorchProgram(expr)(features, torch.float32)
        else:
            full = indicator(expr, features).float()
        out.append(packed.pack_matrices(full))
        features.forget()  # one program at a time: nothing to share, memory to keep
    return torch.stack(out) if out else torch.zeros(0, packed.query.shape[0])

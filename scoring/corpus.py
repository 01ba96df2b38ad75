"""A corpus encoded once for scoring: feature columns and attention laid out for the kernel.

Sequences are concatenated. Token t of sequence s is column `token_starts[s] + t` of the
feature table; the attention of sequence s is packed (its causal lower triangle, row-major)
and stored with the heads innermost, (entries, heads) float32, so the kernel reads all heads of
one entry (i, j) in one contiguous run. The exact sum of each head's attention per sequence
(of the float32 values stored) is kept for the IoU's denominator: a float16 dump's rows do not
sum to exactly 1.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np

from ..dsl import ops
from ..dsl.errors import EvaluationError
from ..dsl.tokens import Tokens
from .columns import Interner, encode_features, equal_value_chains
from .layout import put_attention


def tri_size(n: int) -> int:
    """Entries of the causal lower triangle (diagonal included) of an n x n matrix."""
    return n * (n + 1) // 2


def packed_attention(attention: np.ndarray, n: int) -> np.ndarray:
    """(H, n, n) or already packed (H, n(n+1)/2) attention as packed (H, n(n+1)/2)."""
    attention = np.asarray(attention)
    if attention.ndim == 3 and attention.shape[1:] == (n, n):
        rows, cols = np.tril_indices(n)
        return attention[:, rows, cols]
    if attention.ndim == 2 and attention.shape[1] == tri_size(n):
        return attention
    raise EvaluationError(
        f"attention of shape {attention.shape} does not fit a sequence of {n} tokens: "
        f"give (heads, {n}, {n}) or packed (heads, {tri_size(n)})"
    )


@dataclass
class ScoringCorpus:
    """Encoded sequences with the attention of `n_heads` heads (see the module docstring)."""

    columns: np.ndarray  # (len(COLUMNS), n_tokens) int64
    previous: np.ndarray  # (len(COLUMNS), n_tokens) int64: see `columns.equal_value_chains`
    token_starts: np.ndarray  # (n_sequences + 1,) int64
    attention: np.ndarray  # (n_entries, n_heads) float32
    entry_starts: np.ndarray  # (n_sequences + 1,) int64
    attention_sums: np.ndarray  # (n_sequences, n_heads) float64
    has_ids: bool
    interner: Interner = field(repr=False)
    heads: list[tuple[int, int]] | None = None  # (layer, head) of each attention column

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.token_starts)

    @property
    def n_heads(self) -> int:
        return self.attention.shape[1]

    def __len__(self) -> int:
        return len(self.token_starts) - 1

    def block_starts(self, max_bytes: int) -> np.ndarray:
        """Boundaries of consecutive runs of sequences whose attention fits in `max_bytes`
        (a longer sequence gets a block of its own): block b is [starts[b], starts[b + 1])."""
        budget = max(max_bytes // (self.n_heads * self.attention.itemsize), 1)
        starts, first = [0], 0
        for s in range(1, len(self)):
            if self.entry_starts[s + 1] - self.entry_starts[first] > budget:
                starts.append(s)
                first = s
        starts.append(len(self))
        return np.array(starts, dtype=np.int64)


class CorpusBuilder:
    """Collects sequences one by one, then lays them out as a `ScoringCorpus`."""

    def __init__(self, interner: Interner | None = None,
                 heads: list[tuple[int, int]] | None = None):
        self.interner = interner if interner is not None else Interner()
        self.heads = heads
        self.tables: list[np.ndarray] = []
        self.packed: list[np.ndarray] = []
        self.has_ids = True
        self.n_heads: int | None = None

    def add(self, features: dict | Tokens, attention: np.ndarray, rows=None) -> None:
        """One sequence: its token features (a dict of `ops.features`, or `Tokens`) and its
        attention (H, n, n) or packed (H, n(n+1)/2); `rows` picks heads out of H."""
        if isinstance(features, Tokens):
            features = ops.features(features.texts, features.ids, features.special)
        table, has_ids = encode_features(features, self.interner)
        n = table.shape[1]
        if n == 0:
            raise EvaluationError(f"sequence {len(self.tables)} is empty")
        packed = packed_attention(attention, n)
        if rows is not None:
            packed = packed[rows]
        if self.n_heads is None:
            self.n_heads = packed.shape[0]
        elif packed.shape[0] != self.n_heads:
            raise EvaluationError(
                f"sequence {len(self.tables)} has {packed.shape[0]} heads, the first had "
                f"{self.n_heads}"
            )
        self.tables.append(table)
        self.packed.append(packed)
        self.has_ids &= has_ids

    def build(self) -> ScoringCorpus:
        if not self.tables:
            raise EvaluationError("the corpus has no sequences")
        lengths = np.array([t.shape[1] for t in self.tables], dtype=np.int64)
        sizes = lengths * (lengths + 1) // 2
        attention = np.empty((int(sizes.sum()), self.n_heads), dtype=np.float32)
        entry_starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        sums = np.empty((len(lengths), self.n_heads), dtype=np.float64)
        for s, packed in enumerate(self.packed):
            put_attention(attention, int(entry_starts[s]), packed, sums[s])
        columns = np.ascontiguousarray(np.concatenate(self.tables, axis=1))
        token_starts = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        return ScoringCorpus(
            columns=columns,
            previous=equal_value_chains(columns, token_starts),
            token_starts=token_starts,
            attention=attention,
            entry_starts=entry_starts,
            attention_sums=sums,
            has_ids=self.has_ids,
            interner=self.interner,
            heads=self.heads,
        )


def encode_corpus(
    sequences: Iterable[tuple[dict | Tokens, np.ndarray]],
    interner: Interner | None = None,
    heads: list[tuple[int, int]] | None = None,
) -> ScoringCorpus:
    """Encode (features, attention) pairs once, for scoring many programs against them.

    `features` is a dict of `dsl.ops.features` or a `Tokens`; `attention` holds every head
    scored, (H, n, n) or packed (H, n(n+1)/2); `heads` optionally labels the H heads.
    """
    builder = CorpusBuilder(interner, heads)
    for features, attention in sequences:
        builder.add(features, attention)
    return builder.build()


def iter_dump_corpora(dump, heads: list[tuple[int, int]], interner: Interner,
                      max_bytes: int = 16 << 20) -> Iterator[ScoringCorpus]:
    """A memory-mapped dump as consecutive `ScoringCorpus` chunks of about `max_bytes` each."""
    rows = np.array([dump.row(layer, head) for layer, head in heads], dtype=np.int64)
    per_entry = 4 * len(rows)
    builder, size = CorpusBuilder(interner, heads), 0
    for s in range(len(dump)):
        n = dump.length(s)
        builder.add(dump.features(s), dump.packed(s), rows)
        size += tri_size(n) * per_entry
        if size >= max_bytes:
            yield builder.build()
            builder, size = CorpusBuilder(interner, heads), 0
    if builder.tables:
        yield builder.build()

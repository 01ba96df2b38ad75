"""A soft score's candidate terms on packed entries: the 0/1 indicators of selectors and the
distance, with the two products every fit needs, computed sparsely.

An indicator holds few ones (3% of the causal entries on average on stories260K), so a score
`coefs @ terms` and a gradient's projection `gradient @ terms.T` are sparse products, about ten
times cheaper than dense ones; this is what lets a score over all candidate terms be fitted.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import torch

from .packed import Packed

DIST_SCALE = 10.0  # distances enter the fit divided by this, so all terms have similar scale


@dataclass(frozen=True)
class Terms:
    """Candidate terms (indicators, then the distance last) on the entries of one `Packed`."""

    dense: torch.Tensor  # (terms, entries): the indicators and the scaled distance, float32
    by_term: torch.Tensor  # sparse CSR (indicators, entries)
    by_entry: torch.Tensor  # sparse CSR (entries, indicators)
    packed: Packed

    @classmethod
    def build(cls, indicators: torch.Tensor, packed: Packed) -> Terms:
        """From the 0/1 `indicators` (selectors, entries) of selectors on `packed`."""
        dense = torch.cat([indicators, packed.distance[None] / DIST_SCALE])
        with warnings.catch_warnings():  # torch calls its sparse CSR support "beta"
            warnings.filterwarnings("ignore", message="Sparse CSR tensor support")
            by_term = indicators.to_sparse_csr()
            by_entry = indicators.T.contiguous().to_sparse_csr()
        return cls(dense, by_term, by_entry, packed)

    @property
    def count(self) -> int:
        return int(self.dense.shape[0])

    def scores(self, coefs: torch.Tensor) -> torch.Tensor:
        """(heads, terms) coefficients to (heads, entries) scores: `coefs @ dense`."""
        sparse = torch.sparse.mm(self.by_entry, coefs[:, :-1].T.contiguous()).T
        return sparse + coefs[:, -1:] * self.dense[-1]

    def project(self, gradient: torch.Tensor) -> torch.Tensor:
        """(heads, entries) to (heads, terms): `gradient @ dense.T`."""
        sparse = torch.sparse.mm(self.by_term, gradient.T.contiguous()).T
        return torch.cat([sparse, gradient @ self.dense[-1][:, None]], 1)

    def uniform(self, selector: int) -> torch.Tensor:
        """A selector's pattern on the entries: uniform over its keys, empty rows on key 0."""
        indicator, packed = self.dense[selector], self.packed
        per_row = torch.zeros(packed.n_rows).index_add_(0, packed.row, indicator)[packed.row]
        empty = (per_row == 0).float() * (packed.key == 0).float()
        return torch.where(per_row > 0, indicator / per_row.clamp(min=1), empty)

    def uniform_products(self, weights: torch.Tensor) -> torch.Tensor:
        """(heads, entries) weights to (heads, indicators): the dot product of each head's
        weights with every selector's `uniform` pattern, computed sparsely."""
        packed, crow, col = self.packed, self.by_term.crow_indices(), self.by_term.col_indices()
        selector = torch.repeat_interleave(torch.arange(len(crow) - 1), crow.diff())
        cell = selector * packed.n_rows + packed.row[col]
        count = torch.zeros((len(crow) - 1) * packed.n_rows).index_add_(
            0, cell, self.by_term.values())
        uniform = torch.sparse_csr_tensor(crow, col, 1.0 / count[cell], self.by_term.shape,
                                          check_invariants=False)
        products = torch.sparse.mm(uniform, weights.T.contiguous()).T
        empty = (count.reshape(-1, packed.n_rows) == 0).float()
        return products + weights[:, packed.key == 0] @ empty.T

"""Token features as integer columns: the table the scoring kernel reads.

Every feature of `dsl.ops.features` becomes one int64 row of a (n_columns, n_tokens) table:
texts as ids interned across the corpus (and the programs' string literals), flags as 0/1,
integer features as they are. Three more rows hold the position of the first token of the
token's word, sentence and line, for `start(...)`. One int64 table keeps the kernel simple;
it costs 8 bytes per token and column, which is small beside the attention it is scored with.
"""

from __future__ import annotations

import numpy as np

from ..dsl.checker import FEATURE_TYPES, UNITS

COLUMNS: tuple[str, ...] = (*FEATURE_TYPES, *(f"start_{unit}" for unit in UNITS))
COLUMN: dict[str, int] = {name: index for index, name in enumerate(COLUMNS)}
NO_ID = -1  # the `id` column of sequences given without token ids


class Interner:
    """Strings to dense int ids; an id, once given, never changes."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def id(self, text: str) -> int:
        """The id of `text`, a new one if it was never seen."""
        found = self.ids.get(text)
        if found is None:
            found = self.ids[text] = len(self.ids)
        return found


def unit_starts(unit: np.ndarray) -> np.ndarray:
    """For each token, the position of the first token with the same (non-decreasing) unit."""
    return np.searchsorted(unit, unit, side="left").astype(np.int64)


def encode_features(features: dict, interner: Interner) -> tuple[np.ndarray, bool]:
    """One sequence's feature dict (as `ops.features` returns it) as (n_columns, n) int64.

    Also returns whether token ids were given (the `id` column is `NO_ID` otherwise).
    """
    n = len(features["pos"])
    table = np.empty((len(COLUMNS), n), dtype=np.int64)
    has_ids = features.get("id") is not None
    for name, row in COLUMN.items():
        if name == "text":
            table[row] = [interner.id(str(t)) for t in features["text"]]
        elif name == "id":
            table[row] = features["id"] if has_ids else NO_ID
        elif name.startswith("start_"):
            table[row] = unit_starts(np.asarray(features[name[len("start_"):]]))
        else:
            table[row] = np.asarray(features[name], dtype=np.int64)
    return table, has_ids


def equal_value_chains(table: np.ndarray, token_starts: np.ndarray) -> np.ndarray:
    """For every column and token, the position (in its sequence) of the nearest earlier token
    of the same sequence with the same value, or -1: `same(f)` walks these chains."""
    n_tokens = table.shape[1]
    sequence = np.repeat(np.arange(len(token_starts) - 1), np.diff(token_starts))
    position = np.arange(n_tokens) - token_starts[sequence]
    chains = np.full(table.shape, -1, dtype=np.int64)
    for row, values in enumerate(table):
        order = np.lexsort((position, values, sequence))
        later, earlier = order[1:], order[:-1]
        same = (sequence[later] == sequence[earlier]) & (values[later] == values[earlier])
        chains[row, later[same]] = position[earlier[same]]
    return chains

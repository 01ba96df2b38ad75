"""Generated token sequences and planted attention for synthesis unit tests (no ../shared)."""

from __future__ import annotations

import numpy as np

from headcode.dsl.interpreter import run
from headcode.dsl.program import program_from_text
from headcode.dsl.tokens import Tokens
from headcode.synth.data import Sequences

WORDS = [" the", " cat", " dog", " sat", " ran", " on", " a", " mat", " he", " she", " was",
         " big", " Tom", " Sue", ",", ".", "!", " and", " said", " \""]


def sequences(count: int, length: int = 24, seed: int = 0) -> list[Tokens]:
    """Token sequences of random words, each starting with a BOS token."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        picks = rng.integers(0, len(WORDS), size=length - 1)
        texts = ["<s>"] + [WORDS[i] for i in picks]
        out.append(Tokens(ids=[0] + [int(i) + 1 for i in picks], texts=texts,
                          special=[True] + [False] * (length - 1)))
    return out


def planted(tokens: list[Tokens], programs: list[str], noise: float = 0.0, seed: int = 0
            ) -> Sequences:
    """Sequences whose 'heads' (0, k) attend exactly as `programs[k]` does, plus noise."""
    rng = np.random.default_rng(seed)
    attention = []
    for t in tokens:
        rows = []
        for text in programs:
            m = run(program_from_text(text), t.texts, t.ids, t.special)
            if noise:
                jitter = rng.dirichlet(np.ones(len(m)), size=len(m)) * np.tri(len(m))
                m = (1 - noise) * m + noise * jitter / jitter.sum(1, keepdims=True)
            rows.append(m[np.tril_indices(len(m))])
        attention.append(np.stack(rows).astype(np.float32))
    return Sequences(tokens, attention, [(0, k) for k in range(len(programs))])

"""A small generated attention dump and the reference scores of a few programs on it, shared by
the scoring engine's unit and integration tests."""

from __future__ import annotations

import numpy as np
import pytest

from headcode.dsl.interpreter import run
from headcode.dsl.program import program_from_text
from headcode.dsl.tokens import Tokens
from headcode.models.dump import open_dump, write_dump
from headcode.scoring.iou import soft_iou

PROGRAMS = [
    "prev(1)", "first", "last(k.period) ?? first", "shift(same(text) - self, 1)",
    "mix(0.5: first, 0.3: prev(1), 0.2: keys(k.punct))", "decay(causal, 0.7)",
    "softmax(2 * [k.punct] + [first] - 0.3 * dist)", "if q.capital then start(sentence) else self",
    'keys(k.text in {" the", "."} or k.word == q.word) - self ?? prev(2)',
]
TEXTS = ["<s>", "Once", " upon", " a", " time", ",", " Lily", " saw", " a", " cat", ".", "\n",
         "The", " cat", " said", ' "', "hi", '"', " 3", " times", "!", " The", " end", "."]


def tokens(start: int, size: int) -> Tokens:
    body = TEXTS[1:]
    texts = TEXTS[:1] + [body[(start + k) % len(body)] for k in range(size - 1)]
    return Tokens(ids=[hash(t) % 500 for t in texts], texts=texts,
                  special=[k == 0 for k in range(len(texts))])


def attention(seed: int, layers: int, heads: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.exponential(size=(layers, heads, size, size)) * np.tri(size)
    return a / a.sum(axis=-1, keepdims=True)


@pytest.fixture(scope="module", name="dump")
def dump_fixture(tmp_path_factory):
    """A small dump: 6 sequences of 8-23 tokens, 2 layers x 3 heads, float16."""
    path = tmp_path_factory.mktemp("dumps") / "small"
    sequences = [(tokens(s, 8 + 3 * s), attention(s, 2, 3, 8 + 3 * s)) for s in range(6)]
    write_dump(path, sequences, model="test", dtype="float16")
    return open_dump(path)


def reference(programs: list[str], dump, heads) -> np.ndarray:
    """The emitted-Python way: interpreter per sequence, NumPy IoU per head, mean."""
    out = np.zeros((len(programs), len(heads)))
    for s in range(len(dump)):
        t = dump.tokens(s)
        for p, text in enumerate(programs):
            matrix = run(program_from_text(text), t.texts, t.ids, t.special)
            for k, (layer, head) in enumerate(heads):
                a = dump.head(s, layer, head).astype(np.float64)
                out[p, k] += soft_iou(matrix, a)
    return out / len(dump)

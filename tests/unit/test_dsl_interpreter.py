"""The reference interpreter on hand-checked cases: every construct, and the empty-row rule."""

from __future__ import annotations

import numpy as np
import pytest

from headcode.dsl.errors import EvaluationError
from headcode.dsl.interpreter import run
from headcode.dsl.program import program_from_text

#         0      1       2       3      4      5        6       7
TEXTS = ["<s>", " Lily", " ran", ",", " Lily", " sat", ".", " Lily"]
SPECIAL = [True] + [False] * 7


def rows(text: str) -> list[list[int]]:
    """For each query, the keys with non-zero weight."""
    m = run(program_from_text(text), TEXTS, None, SPECIAL)
    return [np.flatnonzero(row).tolist() for row in m]


def matrix(text: str) -> np.ndarray:
    return run(program_from_text(text), TEXTS, None, SPECIAL)


def test_selectors():
    assert rows("self") == [[i] for i in range(8)]
    assert rows("prev(1)") == [[0]] + [[i - 1] for i in range(1, 8)]  # row 0 empty -> key 0
    assert rows("first") == [[0]] * 8
    assert rows("causal") == [list(range(i + 1)) for i in range(8)]
    assert rows("window(1, 2)")[5] == [3, 4]
    assert rows("last(k.comma)") == [[0], [0], [0], [3], [3], [3], [3], [3]]
    assert rows("last(k.text == \" Lily\", 2)")[7] == [4]
    assert rows("keys(k.text in {\" Lily\", \",\"})")[4] == [1, 3, 4]
    assert rows("same(text)")[7] == [1, 4, 7]
    assert rows("shift(same(text) - self, 1)")[7] == [2, 5]  # induction
    assert rows("shift(last(k.comma), -1)")[5] == [2]
    assert rows("start(sentence)")[7] == [7]
    assert rows("start(word)")[3] == [2]  # "," belongs to the word " ran"
    assert rows("keys(k.word == q.word)")[3] == [2, 3]
    assert rows("causal - self & keys(k.capital)")[4] == [1]  # `-` binds tighter than `&`
    assert rows("causal - (self & keys(k.capital))")[4] == [0, 1, 2, 3]
    assert rows("prev(1) | first")[5] == [0, 4]


def test_patterns():
    np.testing.assert_allclose(matrix("mix(0.5: first, 0.5: prev(1))")[3],
                               [.5, 0, .5, 0, 0, 0, 0, 0])
    np.testing.assert_allclose(matrix("mix(3: first, 1: self)")[2], [.75, 0, .25, 0, 0, 0, 0, 0])
    d = matrix("decay(causal, 0.5)")[2]
    np.testing.assert_allclose(d, np.array([0.25, 0.5, 1, 0, 0, 0, 0, 0]) / 1.75)
    assert rows("last(k.comma) ?? self")[:4] == [[0], [1], [2], [3]]
    assert rows("if q.capital then first else self")[1:3] == [[0], [2]]
    s = matrix("softmax(2 * [k.comma] - dist)")[4]
    expected = np.exp([-4, -3, -2, 2 - 1, 0, -np.inf, -np.inf, -np.inf])
    np.testing.assert_allclose(s, expected / expected.sum())


def test_empty_row_rule_at_every_pattern_node():
    # each component of a mix falls back to key 0 on its own
    np.testing.assert_allclose(matrix("mix(1: last(k.comma), 1: self)")[2],
                               [.5, 0, .5, 0, 0, 0, 0, 0])
    # `??` tests the first pattern's own selection, before the rule
    assert rows("last(k.period) ?? prev(1)")[3] == [2]
    # decay of an empty selection is one-hot on key 0
    assert rows("decay(last(k.period), 0.5)")[2] == [0]


def test_unfilled_holes_and_missing_ids_are_clear_errors():
    with pytest.raises(EvaluationError, match="unfilled holes"):
        run(program_from_text("prev(?)"), TEXTS)
    with pytest.raises(EvaluationError, match="pass token ids"):
        run(program_from_text("same(id)"), TEXTS)
    with pytest.raises(EvaluationError, match="empty"):
        run(program_from_text("self"), [])

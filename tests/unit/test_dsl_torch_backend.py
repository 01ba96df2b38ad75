"""The torch back end agrees with the reference interpreter (1e-6 in float32), batched with
padding, on generated programs and sequences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import fill_holes, patterns, token_sequences

from headcode.dsl.errors import EvaluationError
from headcode.dsl.interpreter import run
from headcode.dsl.program import program_from_text
from headcode.dsl.tokens import Tokens
from headcode.dsl.torch_backend import TorchProgram


def _tokens(seq) -> Tokens:
    texts, ids, special = seq
    return Tokens(ids, texts, special)


@given(patterns(), st.lists(token_sequences(), min_size=1, max_size=3), st.integers(0, 3))
def test_torch_equals_the_interpreter_batched_with_padding(program, seqs, seed):
    program = fill_holes(program, seed)
    batch = [_tokens(s) for s in seqs]
    got = TorchProgram(program).on_tokens(batch, dtype=torch.float32)
    size = max(len(t) for t in batch)
    assert got.shape == (len(batch), size, size) and got.dtype == torch.float32
    for row, tokens in enumerate(batch):
        expected = run(program, tokens.texts, tokens.ids, tokens.special)
        length = len(tokens)
        np.testing.assert_allclose(got[row, :length, :length].numpy(), expected, atol=1e-6)
        assert torch.all(got[row, :length, length:] == 0)  # padding never receives weight


def test_float64_and_half_precision():
    program = program_from_text("mix(0.3: decay(causal, 0.8), 0.7: last(k.period) ?? first)")
    tokens = Tokens([1, 5, 6, 7], ["<s>", " a", ".", " b"], [True, False, False, False])
    expected = run(program, tokens.texts, tokens.ids, tokens.special)
    exact = TorchProgram(program).on_tokens([tokens], dtype=torch.float64)[0].numpy()
    np.testing.assert_allclose(exact, expected, atol=1e-12)
    half = TorchProgram(program).on_tokens([tokens], dtype=torch.float16)
    assert half.dtype == torch.float16
    np.testing.assert_allclose(half[0].float().numpy(), expected, atol=1e-3)


def test_holes_are_refused():
    with pytest.raises(EvaluationError, match="unfilled holes"):
        TorchProgram(program_from_text("prev(?)"))


@given(patterns(), patterns(), st.lists(token_sequences(), min_size=1, max_size=3))
def test_programs_sharing_a_batch_share_sub_expressions_safely(a, b, seqs):
    """Lowered sub-expressions are kept per batch and reused by later programs: the result is
    the same as lowering each program on its own."""
    from headcode.dsl.torch_backend import batch_features

    a, b = fill_holes(a), fill_holes(b)
    batch = [_tokens(s) for s in seqs]
    shared = batch_features(batch)
    first, second = TorchProgram(a)(shared), TorchProgram(b)(shared)
    assert shared.memo  # something was kept
    assert torch.equal(first, TorchProgram(a).on_tokens(batch))
    assert torch.equal(second, TorchProgram(b).on_tokens(batch))
    shared.forget()
    assert not shared.memo

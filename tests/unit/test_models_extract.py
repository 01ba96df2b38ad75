"""Extraction: dumps equal the eager model's attention, batched or not, padding never leaks."""

import numpy as np
import pytest
import torch
from conftest import random_rows as make_rows

from headcode.models.extract import packed_attention
from headcode.models.substitute import Substitution
from headcode.models.tiny import FAMILIES, tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


def eager_attention(eager, row):
    """(layers, heads, n, n) from transformers' own eager attention with output_attentions."""
    with torch.no_grad():
        out = eager(input_ids=torch.tensor([row.ids]), output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]).numpy()


@pytest.mark.parametrize("family", FAMILIES)
def test_packed_attention_is_the_eager_attention_batched_or_not(family):
    model, eager = tiny_model(family), tiny_model(family, attn_implementation="eager")
    rows = make_rows([6, 13, 2], model.config.vocab_size)
    sub = Substitution(model)
    batched = packed_attention(sub, rows)
    for row, packed in zip(rows, batched):
        n = len(row)
        rows_, cols = np.tril_indices(n)
        reference = eager_attention(eager, row).reshape(-1, n, n)
        np.testing.assert_allclose(packed, reference[:, rows_, cols], atol=1e-5)
        np.testing.assert_allclose(packed_attention(sub, [row])[0], packed, atol=1e-5)
        # the dropped upper triangle really was zero
        assert np.abs(np.triu(reference, 1)).max() == 0


def test_a_rows_attention_does_not_depend_on_its_batch():
    model = tiny_model("llama")
    rows = make_rows([4, 11], model.config.vocab_size, seed=2)
    sub = Substitution(model)
    alone = packed_attention(sub, rows)
    # padded to another length, next to another row
    longer = packed_attention(sub, rows + make_rows([15], model.config.vocab_size, seed=3))
    for x, y in zip(alone, longer):
        np.testing.assert_allclose(x, y, atol=1e-5)



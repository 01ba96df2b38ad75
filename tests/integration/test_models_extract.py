"""Extraction: dumps equal the eager model's attention, batched or not, padding never leaks."""

import numpy as np
import pytest
import torch
from conftest import SHARED, STORIES
from conftest import VALID_TEXT as VALID

from headcode.models.dump import open_dump
from headcode.models.extract import extract
from headcode.models.loading import load_model
from headcode.models.tokenizer import load_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")


def eager_attention(eager, row):
    """(layers, heads, n, n) from transformers' own eager attention with output_attentions."""
    with torch.no_grad():
        out = eager(input_ids=torch.tensor([row.ids]), output_attentions=True)
    return torch.stack([a[0] for a in out.attentions]).numpy()


def test_extract_stories260k_dump(tmp_path):
    if not (STORIES.is_dir() and VALID.is_file()):
        pytest.skip(f"stories260K or valid-a.txt not found under {SHARED} (../shared is absent)")
    from headcode.models.corpus import load_corpus

    model = load_model(STORIES, device="cpu")
    tokenizer = load_tokenizer(str(STORIES))
    texts = load_corpus(VALID, n=6)
    dump = extract(
        model, tokenizer, texts, tmp_path / "d", max_tokens=40, batch_size=4, dtype="float32"
    )
    assert len(dump) == 6 and (dump.n_layers, dump.n_heads) == (5, 8)
    assert dump.meta["extra"]["max_tokens"] == 40 and dump.meta["extra"]["n_kv_heads"] == 4
    eager = load_model(STORIES, device="cpu", attn_implementation="eager")
    for s in range(len(dump)):
        tokens = dump.tokens(s)
        assert len(tokens) <= 40 and tokens.ids[0] == 1 and tokens.special[0]
        assert tokens.ids == tokenizer(texts[s], add_special_tokens=True)["input_ids"][:40]
        np.testing.assert_allclose(dump.attention(s), eager_attention(eager, tokens), atol=1e-5)
    assert dump.features(0)["bos"][0]
    again = open_dump(tmp_path / "d")
    assert again.tokens(5) == dump.tokens(5)
    half = extract(model, tokenizer, texts, tmp_path / "h", max_tokens=40, batch_size=1)
    np.testing.assert_allclose(half.attention(3), dump.attention(3), atol=2e-3)  # float16

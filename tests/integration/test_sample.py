"""Sampling a corpus from a model, and the paragraph file it is written to."""

from __future__ import annotations

import pytest
from conftest import STORIES, need_shared

from headcode.models.errors import ModelError


@pytest.fixture(scope="module")
def stories(one_thread):
    from headcode.models.loading import load_model
    from headcode.models.tokenizer import load_tokenizer

    need_shared(STORIES)
    return load_model(STORIES, device="cpu"), load_tokenizer(str(STORIES))


def test_sampling_is_seeded_and_gives_n_paragraphs(stories):
    from headcode.models.sample import sample_texts

    model, tok = stories
    first = sample_texts(model, tok, 5, max_new_tokens=40, seed=3, batch_size=4)
    again = sample_texts(model, tok, 5, max_new_tokens=40, seed=3, batch_size=4)
    other = sample_texts(model, tok, 5, max_new_tokens=40, seed=4, batch_size=4)
    assert first == again
    assert first != other
    assert len(first) == 5
    assert all(len(t) >= 40 and "\n\n" not in t and t == t.strip() for t in first)
    assert any("Once" in t or "once" in t for t in first)  # TinyStories-like, not noise


def test_sampling_rejects_bad_counts(stories):
    from headcode.models.sample import sample_texts

    model, tok = stories
    with pytest.raises(ModelError, match="at least 1"):
        sample_texts(model, tok, 0)
    with pytest.raises(ModelError, match="usable texts"):
        sample_texts(model, tok, 2, max_new_tokens=3, min_chars=10_000, batch_size=2)



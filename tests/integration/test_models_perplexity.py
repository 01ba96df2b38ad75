"""Perplexity: the protocol's figure on stories260K, batching, substitution in one call."""


import pytest
from conftest import SHARED, STORIES
from conftest import VALID_TEXT as VALID

from headcode.eval.perplexity import perplexity, sequences
from headcode.models.corpus import load_corpus
from headcode.models.loading import load_model
from headcode.models.tokenizer import load_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sequences_keep_bos_and_at_most_max_tokens():
    if not STORIES.is_dir():
        pytest.skip(f"stories260K not found at {STORIES} (../shared is absent)")
    tokenizer = load_tokenizer(str(STORIES))
    rows = sequences(tokenizer, ["Once upon a time " * 200, "Hi.", "  "], max_tokens=512)
    assert [r.ids[0] for r in rows] == [1, 1]
    assert len(rows[0]) == 513 and len(rows[1]) < 10


def test_stories260k_perplexity_is_5_40():
    if not (STORIES.is_dir() and VALID.is_file()):
        pytest.skip(f"stories260K or valid-a.txt not found under {SHARED} (../shared is absent)")
    model = load_model(STORIES, device="cpu")
    rows = sequences(load_tokenizer(str(STORIES)), load_corpus(VALID))
    result = perplexity(model, rows, batch_size=16)
    assert len(rows) == 3226
    assert round(result.ppl, 2) == 5.40



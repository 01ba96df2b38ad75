"""Token texts and features per dsl.md, from real tokenizers and from plain texts."""

from __future__ import annotations

import pytest
from conftest import GPT2_TOKENIZER, STORIES, need_shared

from headcode.dsl.errors import TokenizerError
from headcode.dsl.tokens import tokenize
from headcode.models.tokenizer import load_tokenizer

TEXT = 'Once upon a time, Lily said "Hi!"\n\nThe end. 123 café'


def test_stories260k_texts_turn_the_sentencepiece_marker_into_a_space():
    tok = load_tokenizer(str(need_shared(STORIES)))
    tokens = tokenize(tok, TEXT)
    assert tokens.ids[0] == 1 and tokens.texts[0] == "<s>" and tokens.special[0]
    assert tokens.texts[1:5] == [" Once", " upon", " a", " time"]
    assert "\n" in tokens.texts  # the byte token <0x0A> is decoded
    assert not any(t.startswith("\u2581") for t in tokens.texts)
    assert sum(tokens.special) == 1


def test_gpt2_texts_decode_bytes_and_add_no_bos():
    tok = load_tokenizer(str(need_shared(GPT2_TOKENIZER)))
    tokens = tokenize(tok, TEXT + " \U0001F600")
    assert tokens.texts[:4] == ["Once", " upon", " a", " time"]
    assert " café" in tokens.texts and "\n" in tokens.texts
    assert not any(tokens.special)
    assert not any("\u0120" in t for t in tokens.texts)  # no raw Ġ left
    assert any("\\x" in t for t in tokens.texts)  # the split emoji is escaped, not garbled


def test_bad_tokenizer_and_empty_text_are_clear_errors():
    with pytest.raises(TokenizerError, match="no such directory"):
        load_tokenizer("/no/such/tokenizer")
    tok = load_tokenizer(str(need_shared(STORIES)))
    with pytest.raises(TokenizerError, match="empty"):
        tokenize(tok, "   \n ")



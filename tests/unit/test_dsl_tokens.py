"""Token texts and features per dsl.md, from real tokenizers and from plain texts."""

from __future__ import annotations

import numpy as np
import pytest

from headcode.dsl import ops
from headcode.dsl.tokens import token_text

TEXT = 'Once upon a time, Lily said "Hi!"\n\nThe end. 123 café'


def test_token_text_rules():
    assert token_text("\u2581the", byte_level=False) == " the"
    assert token_text("<0x0A>", byte_level=False) == "\n"
    assert token_text("<0xE2>", byte_level=False) == "\\xe2"
    assert token_text("\u0120the", byte_level=True) == " the"
    assert token_text("\u010a", byte_level=True) == "\n"


def test_features_follow_dsl_md():
    texts = ["<s>", "Once", " upon", ",", " Lily", ".", "\n", "The", " \u201c", "12", "'s", "!"]
    f = ops.features(texts, list(range(len(texts))), [True] + [False] * 11)
    assert f["bos"].tolist() == [True] + [False] * 11
    # word_start: leading space/newline, or after BOS, or after a newline-ending token
    assert f["word_start"].tolist() == [
        False, True, True, False, True, False, True, True, True, False, False, False]
    assert f["word"].tolist() == [0, 1, 2, 2, 3, 3, 4, 5, 6, 6, 6, 6]
    assert f["punct"].tolist() == [
        False, False, False, True, False, True, False, False, True, False, False, True]
    assert np.flatnonzero(f["period"]).tolist() == [5, 11]
    assert np.flatnonzero(f["comma"]).tolist() == [3]
    assert np.flatnonzero(f["quote"]).tolist() == [8]
    assert np.flatnonzero(f["newline"]).tolist() == [6]
    assert np.flatnonzero(f["capital"]).tolist() == [1, 4, 7]
    assert np.flatnonzero(f["digit"]).tolist() == [9]
    # a sentence ends after a period token, a line after a newline token
    assert f["sentence"].tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1]
    assert f["line"].tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]
    assert f["pos"].tolist() == list(range(12))
    assert f["text"].tolist() == texts


def test_features_without_ids_refuse_the_id_feature():
    f = ops.features(["a", " b"])
    with pytest.raises(ValueError, match="pass token ids"):
        ops.key(f, "id")

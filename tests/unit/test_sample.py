"""Sampling a corpus from a model, and the paragraph file it is written to."""

from __future__ import annotations

import pytest

from headcode.models.corpus import read_text
from headcode.models.demo import write_corpus
from headcode.models.errors import ModelError


def test_corpus_file_reads_back_as_the_same_paragraphs(tmp_path):
    texts = ["One day, Tom went out.\nHe saw a cat.", "The end."]
    path = write_corpus(tmp_path / "corpus.txt", texts)
    assert read_text(path) == texts
    with pytest.raises(ModelError, match="blank line"):
        write_corpus(tmp_path / "bad.txt", ["a\n\nb"])

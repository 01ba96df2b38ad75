"""Corpora: paragraphs of text files, JSONL fields, first-N and seeded samples, clear errors."""


import pytest
from conftest import SHARED

from headcode.models.corpus import load_corpus


def test_tinystories_valid_a():
    path = SHARED / "data" / "tinystories" / "valid-a.txt"
    if not path.is_file():
        pytest.skip(f"{path} not found (../shared is absent)")
    texts = load_corpus(path)
    assert len(texts) == 3226
    assert texts[0].startswith("Spot. Spot saw the shiny car")

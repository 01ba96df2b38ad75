"""The scoring engine's API: dumps streamed chunk by chunk, encoded corpora, errors, the CLI."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SHARED, STORIES
from conftest import VALID_TEXT as VALID
from scoring_data import PROGRAMS, reference

from headcode.dsl.program import program_from_text
from headcode.scoring import (
    score,
)

FUSED = ["keys(k.digit)", "mix(0.4: keys(k.digit), 0.6: prev(3))", "mix(1: prev(1), 1: prev(1))",
         "mix(0.2: causal, 0.8: same(word))", "mix(0.7: last(k.quote), 0.3: first)"]
SOFT = ["softmax(3 * [k.punct] + 2 * [same(word)] - 0.4 * dist + 0.1 * dist)",
        "softmax(40 * [first] - 9 * dist)", "softmax(-2 * [prev(1)])"]


# ---------------------------------------------------------------- the real model


@pytest.fixture(scope="module")
def stories_dump(tmp_path_factory):
    if not (STORIES.is_dir() and VALID.is_file()):
        pytest.skip(f"stories260K or valid-a.txt not found under {SHARED} (../shared is absent)")
    from headcode.models.corpus import load_corpus
    from headcode.models.extract import extract
    from headcode.models.loading import load_model
    from headcode.models.tokenizer import load_tokenizer

    path = tmp_path_factory.mktemp("stories") / "dump"
    model = load_model(str(STORIES), device="cpu")
    texts = load_corpus(VALID, n=6)
    return extract(model, load_tokenizer(str(STORIES)), texts, path, max_tokens=48)


def test_stories260k_scores_equal_the_reference(stories_dump):
    heads = [(0, 0), (2, 5), (4, 7)]
    got = score([program_from_text(t) for t in PROGRAMS], stories_dump, heads)
    np.testing.assert_allclose(got, reference(PROGRAMS, stories_dump, heads), atol=1e-6, rtol=0)


# ---------------------------------------------------------------- the command line



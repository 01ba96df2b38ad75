"""Planted programs: matrices generated from known programs, with noise, on real token
sequences, are recovered by the enumerative search (held-out IoU >= 0.95 against the planted
matrices) for programs of every construct family, as explanations of about their own size."""

from __future__ import annotations

import pytest
from conftest import STORIES, VALID_TEXT, need_shared
from synth_data import planted

from headcode.dsl.program import program_from_text
from headcode.dsl.tokens import tokenize
from headcode.models.tokenizer import load_tokenizer
from headcode.scoring import score_corpus
from headcode.synth.enumerate import size
from headcode.synth.pipeline import synthesize_group
from headcode.synth.settings import SynthSettings

PLANTED = [
    "prev(2)",                                   # selectors
    "first",
    "self",
    "window(1, 3)",
    "last(k.period) ?? first",                   # fallback
    "last(k.comma, 2) ?? first",
    "start(word)",
    "start(sentence)",
    "shift(same(text) - self, 1) ?? first",      # induction, set algebra, shift
    "keys(k.punct) ?? first",                    # keys of a predicate
    "keys(k.word == q.word)",                    # comparison of features
    "decay(causal, 0.7)",                        # decay
    "mix(0.6: first, 0.4: prev(1))",             # mixture
    "if q.punct then first else prev(1)",        # query-conditioned
    "softmax(3 * [first] + 1.5 * [k.punct] - 0.3 * dist)",  # soft score
    "last(k.capital) | prev(1)",                 # union
]
N_SYNTH, N_HELDOUT, NOISE = 30, 10, 0.02


@pytest.fixture(scope="module")
def sequences():
    tokenizer = load_tokenizer(str(need_shared(STORIES)))
    paragraphs = [p for p in VALID_TEXT.read_text().split("\n\n") if p.strip()]
    return [tokenize(tokenizer, p, max_tokens=64) for p in paragraphs[: N_SYNTH + N_HELDOUT]]


def test_planted_programs_are_recovered(sequences):
    synth_tokens, held_tokens = sequences[:N_SYNTH], sequences[N_SYNTH:]
    synth = planted(synth_tokens, PLANTED, noise=NOISE)
    heldout = planted(held_tokens, PLANTED, noise=NOISE, seed=1)
    results = synthesize_group(synth, heldout, SynthSettings(), lambda message: None)
    clean = planted(held_tokens, PLANTED).corpus()
    explanations = [r.explanation for r in results]
    scores = score_corpus([program_from_text(e.program) for e in explanations], clean)
    recovered = {PLANTED[k]: float(scores[k, k]) for k in range(len(PLANTED))}
    missed = {p: (round(iou, 3), e.program[:80]) for (p, iou), e in zip(recovered.items(),
                                                                          explanations)
              if iou < 0.95}
    assert not missed, missed
    planted_sizes = [size(program_from_text(p).closed) for p in PLANTED]
    too_big = {p: e.program for p, e, n in zip(PLANTED, explanations, planted_sizes)
               if e.size > max(2 * n, n + 6)}
    assert not too_big, too_big

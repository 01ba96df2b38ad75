"""Synthesis stages on generated tokens and planted attention: the soft-IoU gradient, key-token
sets, the soft-score paths, and a whole group's fronts (no ../shared)."""

from __future__ import annotations

import torch
from synth_data import planted, sequences

from headcode.dsl.parser import parse_expr
from headcode.scoring import score_corpus
from headcode.synth.enumerate import enumerate_atoms, size
from headcode.synth.fit import head_iou, iou_gradient, segment_softmax
from headcode.synth.packed import evaluate_packed
from headcode.synth.path import backward_path, forward_path
from headcode.synth.pipeline import synthesize_group
from headcode.synth.search import partners, shrink
from headcode.synth.settings import SynthSettings
from headcode.synth.terms import Terms
from headcode.synth.tokensets import set_indicator, token_sets

SOFT = "softmax(3 * [first] + 2 * [k.punct] - 0.5 * dist)"
SETS = "keys(k.text in {\" cat\", \" dog\"}) ?? first"


def test_iou_gradient_matches_autograd():
    packed = planted(sequences(4, 16), [SOFT, "prev(1)"]).packed()
    scores = torch.randn(2, packed.query.shape[0], dtype=torch.float64)
    with_grad = scores.clone().requires_grad_(True)
    head_iou(segment_softmax(with_grad, packed), packed).sum().backward()
    iou, gradient = iou_gradient(scores, packed)
    assert torch.allclose(gradient, with_grad.grad, atol=1e-12)
    assert torch.allclose(iou, head_iou(segment_softmax(scores, packed), packed))


def test_token_sets_find_the_tokens_a_head_attends_to():
    packed = planted(sequences(12, 24), [SETS]).packed()
    sets = token_sets(packed)[0]
    assert (" cat", " dog") in sets
    indicator = set_indicator((" cat", " dog"), packed)
    assert 0 < float(indicator.mean()) < 0.5


def _terms(packed):
    atoms, values = enumerate_atoms(packed, limit=200)
    exprs = [a.expr for a in atoms]
    costs = torch.tensor([2.0 + size(e) for e in exprs] + [2.0])
    return exprs, Terms.build(values, packed), costs


def test_sparse_products_equal_dense_ones():
    packed = planted(sequences(6, 18), [SOFT, "prev(1)"]).packed()
    exprs, terms, _ = _terms(packed)
    coefs = torch.randn(2, terms.count)
    weights = torch.rand(2, terms.dense.shape[1])
    assert torch.allclose(terms.scores(coefs), coefs @ terms.dense, atol=1e-5)
    assert torch.allclose(terms.project(weights), weights @ terms.dense.T, atol=1e-3)
    uniform = torch.stack([terms.uniform(i) for i in range(terms.count - 1)])
    assert torch.allclose(terms.uniform_products(weights), weights @ uniform.T, atol=1e-4)
    # a selector's uniform pattern is what the language makes of the selector as a pattern
    assert torch.allclose(uniform[:40], evaluate_packed(exprs[:40], packed), atol=1e-6)


def test_partners_cover_what_the_best_selector_misses():
    packed = planted(sequences(8, 20), ["mix(0.5: prev(1), 0.5: first)"]).packed()
    exprs, terms, _ = _terms(packed)
    best = exprs.index(parse_expr("prev(1)"))
    sizes = torch.tensor([float(size(e)) for e in exprs])
    found = partners(terms, [best], 2, sizes)[0]
    assert found[0] == best and exprs[found[1]] == parse_expr("first")


def test_shrink_fits_every_term_then_keeps_fewer():
    packed = planted(sequences(12, 20), [SOFT]).packed()
    _, terms, _ = _terms(packed)
    scores = shrink(terms, torch.zeros(1, terms.count), 80, (12, 3), lambda m: None)
    counts = [int((c != 0).sum()) for c in scores]
    assert counts[0] > 100 and counts[1:] == [13, 4]  # the distance stays besides the kept
    iou = [float(head_iou(segment_softmax(terms.scores(c), packed), packed)[0]) for c in scores]
    assert iou[0] > 0.85 and min(iou[1:]) > 0.4  # pruning costs fit: small scores come from paths


def test_forward_path_grows_one_term_a_step_and_fits_a_planted_score():
    packed = planted(sequences(16, 20), [SOFT, "prev(2)"]).packed()
    exprs, terms, costs = _terms(packed)
    path = forward_path(terms, costs, max_terms=4, fit_sequences=16,
                        screen_sequences=8, steps=60)
    assert [step.terms.shape for step in path] == [(2, k) for k in range(1, 5)]
    ious = [float(step.iou[0]) for step in path]
    assert ious == sorted(ious) and ious[-1] > 0.85 and ious[-1] > ious[0] + 0.3
    assert float(path[0].iou[1]) > 0.9  # prev(2) alone, as a one-term score


def test_backward_path_prunes_to_ever_fewer_terms():
    packed = planted(sequences(8, 20), [SOFT]).packed()
    exprs, terms, costs = _terms(packed)
    active = torch.zeros(1, terms.count, dtype=torch.bool)
    active[0, :20] = True
    active[0, -1] = True
    path = backward_path(terms.dense, packed, active, torch.full((1, terms.count), 0.1),
                         max_terms=6, steps=5)
    counts = [int((step.coefs != 0).sum()) for step in path]
    assert counts == sorted(counts, reverse=True) and counts[0] <= 6 and counts[-1] == 1


def test_a_group_gets_fronts_and_recovers_planted_programs_as_explanations():
    programs = ["prev(1)", "mix(0.7: prev(1), 0.3: first)", SOFT, "last(k.period) ?? first"]
    tokens = sequences(30, 24)
    synth = planted(tokens[:20], programs, noise=0.02)
    heldout = planted(tokens[20:], programs, noise=0.02, seed=1)
    results = synthesize_group(synth, heldout, SynthSettings(), lambda message: None)
    clean = planted(tokens[20:], programs).corpus()
    for k, result in enumerate(results):
        sizes = [p.size for p in result.front]
        ious = [p.heldout_iou for p in result.front]
        assert sizes == sorted(sizes) and ious == sorted(ious)  # a front: bigger must be better
        assert result.explanation in result.front and result.surrogate in result.front
        assert result.explanation.size <= result.surrogate.size
        recovered = score_corpus([parse_expr(result.explanation.program)], clean)[0, k]
        assert recovered >= 0.95, (programs[k], result.explanation)
        planted_size = size(parse_expr(programs[k]))
        assert result.explanation.size <= max(2 * planted_size, planted_size + 6)

"""The one soft-IoU reference: sum(min)/sum(max), and its S / (2n - S) form for row-stochastic
matrices (what the fitting and the compiled kernel compute)."""

import numpy as np
import torch
from synth_data import planted, sequences

from headcode.scoring.iou import overlap_iou, soft_iou
from headcode.synth.fit import head_iou
from headcode.synth.llm.views import row_iou


def _causal(n: int, rng) -> np.ndarray:
    m = rng.random((n, n)) * np.tri(n)
    return m / m.sum(1, keepdims=True)


def test_soft_iou_bounds_and_the_overlap_form_agree():
    rng = np.random.default_rng(0)
    for n in (2, 7, 30):
        p, a = _causal(n, rng), _causal(n, rng)
        assert soft_iou(p, p) == 1.0 and 0 < soft_iou(p, a) < 1
        assert np.isclose(soft_iou(p, a), overlap_iou(np.minimum(p, a).sum(), n))
    assert soft_iou(np.zeros(3), np.zeros(3)) == 1.0
    assert soft_iou(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 0.0


def test_the_fitting_and_the_llm_views_use_the_reference():
    seqs = planted(sequences(3, 9), ["prev(1)"])
    packed = seqs.packed()
    uniform = torch.ones(1, packed.query.shape[0], dtype=torch.float64)
    totals = torch.zeros(packed.n_rows, dtype=torch.float64).index_add_(0, packed.row, uniform[0])
    weights = uniform / totals[packed.row]
    expected = []
    for t, a in zip(seqs.tokens, seqs.attention):
        n = len(t)
        full_a = np.zeros((n, n))
        full_a[np.tril_indices(n)] = a[0]
        full_p = np.tri(n) / np.arange(1, n + 1)[:, None]
        expected.append(soft_iou(full_p, full_a))
    assert np.isclose(float(head_iou(weights, packed)[0]), np.mean(expected))
    row = np.array([0.2, 0.3, 0.5])
    assert row_iou(row, row[::-1]) == soft_iou(row[::-1], row)

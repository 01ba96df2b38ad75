"""The substitution curve: perplexity at each fraction of heads, programs beside controls."""

from __future__ import annotations

import json

import pytest
from conftest import random_rows

from headcode.dsl.errors import ModelError
from headcode.dsl.program import load_file
from headcode.eval.curve import FRACTIONS, SOURCES, evaluations, substitution_curve, write_curve
from headcode.models.perplexity import perplexity
from headcode.models.tiny import tiny_model

PROGRAMS = """\
head 0.0 = first  # held-out IoU 0.300, synthesis IoU 0.310, size 1, enum
head 1.2 = prev(1)  # held-out IoU 0.900, synthesis IoU 0.910, size 2, enum
head 0.3 = self  # held-out IoU 0.500, synthesis IoU 0.520, size 1, enum
head 1.1 = causal  # held-out IoU 0.700, synthesis IoU 0.700, size 1, enum
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory, one_thread):
    path = tmp_path_factory.mktemp("curve") / "programs.hc"
    path.write_text(PROGRAMS)
    return tiny_model("llama"), random_rows([9, 14, 6, 11], vocab=96), load_file(path)


def test_curve_replaces_heads_in_iou_order_and_matches_direct_perplexity(setup):
    model, rows, loaded = setup
    calls = []
    curve = substitution_curve(model, rows, loaded, advance=calls.append)
    assert [p["fraction"] for p in curve["points"]] == list(FRACTIONS)
    # 8 heads: round(0.1 * 8) = 1, round(0.25 * 8) = 2, round(0.5 * 8) = 4, all 4 assigned at 100%
    assert [p["heads"] for p in curve["points"]] == [0, 1, 2, 4, 4]
    assert curve["points"][2]["replaced"] == [[1, 2], [1, 1]]
    assert len(calls) == evaluations(FRACTIONS, 4, 8) == 1 + 4 * len(SOURCES)
    base = perplexity(model, rows).ppl
    assert curve["baseline_ppl"] == pytest.approx(base, rel=1e-6)
    assert all(v == curve["baseline_ppl"] for v in curve["points"][0]["ppl"].values())
    from headcode.models.programs import ProgramSource

    direct = perplexity(model, rows, replace={
        (1, 2): ProgramSource(loaded.heads[(1, 2)]), (1, 1): ProgramSource(loaded.heads[(1, 1)])
    }).ppl
    assert curve["points"][2]["ppl"]["program"] == pytest.approx(direct, rel=1e-6)
    assert curve["points"][1]["replaced"] == [[1, 2]]
    # the controls replace the same heads by something else
    quarter = curve["points"][2]["ppl"]
    assert quarter["uniform"] != quarter["program"] and quarter["mean"] != quarter["program"]
    assert curve["sequences"] == 4 and curve["tokens"] == sum(len(r) - 1 for r in rows)


def test_curve_file_round_trips(setup, tmp_path):
    model, rows, loaded = setup
    curve = substitution_curve(model, rows, loaded, fractions=(0.0, 0.25))
    path = write_curve(tmp_path / "curve.json", curve)
    assert json.loads(path.read_text()) == json.loads(json.dumps(curve))


def test_curve_rejects_a_file_without_heads_or_with_unknown_heads(setup, tmp_path):
    model, rows, _ = setup
    empty = tmp_path / "empty.hc"
    empty.write_text("a = first\n")
    with pytest.raises(ModelError, match="assigns no head"):
        substitution_curve(model, rows, load_file(empty))
    wrong = tmp_path / "wrong.hc"
    wrong.write_text("head 5.0 = first  # held-out IoU 0.5\n")
    with pytest.raises(ModelError, match="does not exist"):
        substitution_curve(model, rows, load_file(wrong))

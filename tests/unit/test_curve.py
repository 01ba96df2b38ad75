"""The substitution curve: perplexity at each fraction of heads, programs beside controls."""

from __future__ import annotations

import json

import pytest
from conftest import random_rows

from headcode.dsl.program import load_file
from headcode.eval.curve import FRACTIONS, SOURCES, evaluations, substitution_curve, write_curve
from headcode.eval.perplexity import perplexity
from headcode.models.errors import ModelError
from headcode.models.tiny import tiny_model

PROGRAMS = """\
head 0.0 = first  # held-out IoU 0.300, synthesis IoU 0.310, size 1, enum
head 1.2 = prev(1)  # held-out IoU 0.900, synthesis IoU 0.910, size 2, enum
head 0.3 = self  # held-out IoU 0.500, synthesis IoU 0.520, size 1, enum
head 1.1 = causal  # held-out IoU 0.700, synthesis IoU 0.700, size 1, enum
"""
SURROGATES = """\
head 0.0 = mix(0.5: first, 0.5: prev(1))  # held-out IoU 0.950, synthesis IoU 0.960, size 5, path-4
head 1.2 = prev(1)  # held-out IoU 0.900, synthesis IoU 0.910, size 2, enum
head 0.3 = self  # held-out IoU 0.500, synthesis IoU 0.520, size 1, enum
head 1.1 = mix(0.75: causal, 0.25: first)  # held-out IoU 0.720, synthesis IoU 0.71, size 5, path-2
"""


@pytest.fixture(scope="module")
def setup(tmp_path_factory, one_thread):
    folder = tmp_path_factory.mktemp("curve")
    (folder / "programs.hc").write_text(PROGRAMS)
    (folder / "surrogates.hc").write_text(SURROGATES)
    return (tiny_model("llama"), random_rows([9, 14, 6, 11], vocab=96),
            load_file(folder / "programs.hc"), load_file(folder / "surrogates.hc"))


def test_curve_replaces_heads_in_iou_order_and_matches_direct_perplexity(setup):
    model, rows, loaded, _ = setup
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
    assert all("surrogate" not in p["ppl"] and "replaced_surrogate" not in p
               for p in curve["points"])


def test_surrogates_replace_heads_in_their_own_order(setup):
    model, rows, loaded, surrogates = setup
    calls = []
    curve = substitution_curve(model, rows, loaded, surrogates, fractions=(0.0, 0.25, 1.0),
                               advance=calls.append)
    assert len(calls) == evaluations((0.0, 0.25, 1.0), 4, 8, 4) == 1 + 2 * (len(SOURCES) + 1)
    zero, quarter, full = curve["points"]
    assert zero["ppl"]["surrogate"] == curve["baseline_ppl"] and zero["replaced_surrogate"] == []
    # the explanations' order is 1.2, 1.1, ...; the surrogates' is 0.0, 1.2, 1.1, 0.3
    assert quarter["replaced"] == [[1, 2], [1, 1]]
    assert quarter["replaced_surrogate"] == [[0, 0], [1, 2]]
    assert full["replaced_surrogate"] == [[0, 0], [1, 2], [1, 1], [0, 3]]
    from headcode.models.programs import ProgramSource

    direct = perplexity(model, rows, replace={
        head: ProgramSource(surrogates.heads[head]) for head in [(0, 0), (1, 2)]}).ppl
    assert quarter["ppl"]["surrogate"] == pytest.approx(direct, rel=1e-6)
    assert quarter["ppl"]["surrogate"] != quarter["ppl"]["program"]
    # the explanations and controls are measured as without surrogates
    alone = substitution_curve(model, rows, loaded, fractions=(0.25,))["points"][0]["ppl"]
    assert {k: v for k, v in quarter["ppl"].items() if k != "surrogate"} == pytest.approx(alone)


def test_curve_file_round_trips(setup, tmp_path):
    model, rows, loaded, _ = setup
    curve = substitution_curve(model, rows, loaded, fractions=(0.0, 0.25))
    path = write_curve(tmp_path / "curve.json", curve)
    assert json.loads(path.read_text()) == json.loads(json.dumps(curve))


def test_curve_rejects_a_file_without_heads_or_with_unknown_heads(setup, tmp_path):
    model, rows, _, _ = setup
    empty = tmp_path / "empty.hc"
    empty.write_text("a = first\n")
    with pytest.raises(ModelError, match="assigns no head"):
        substitution_curve(model, rows, load_file(empty))
    wrong = tmp_path / "wrong.hc"
    wrong.write_text("head 5.0 = first  # held-out IoU 0.5\n")
    with pytest.raises(ModelError, match="does not exist"):
        substitution_curve(model, rows, load_file(wrong))
    with pytest.raises(ModelError, match=r"wrong\.hc: head 5\.0 does not exist"):
        substitution_curve(model, rows, setup[2], load_file(wrong))

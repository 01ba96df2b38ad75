"""A run's surrogates.hc works wherever programs.hc does: perplexity, qa and the lm-eval
adapter read it as any program file, replacing heads in the surrogates' own held-out order."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli

from headcode.dsl.program import load_file
from headcode.models import programs as plan
from headcode.models.demo import demo_model_dir
from headcode.synth.front import Choice, Point
from headcode.synth.rundir import HeadResult, RunDir

pytestmark = pytest.mark.usefixtures("one_thread")

# per head: (explanation, its IoU), (surrogate, its IoU); the surrogates rank 3.1 first
FRONTS = {
    (0, 0): (("first", 0.60), ("mix(0.5: first, 0.5: prev(1))", 0.62)),
    (1, 2): (("prev(1)", 0.90), ("mix(0.875: prev(1), 0.125: first)", 0.92)),
    (2, 3): (("self", 0.50), ("mix(0.5: self, 0.5: prev(1))", 0.52)),
    (3, 1): (("causal", 0.40), ("mix(0.25: causal, 0.75: prev(2))", 0.95)),
}
TEXT = "\n\n".join([
    "Once upon a time, there was a little girl named Lily. She liked to play outside.",
    "Tom had a red ball. He threw it to his dog, and the dog ran after it.",
    "The sun was warm. The birds sang in the big tree, and everyone was happy.",
])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A run directory of the bundled demo model (4 x 4 heads) with four finished heads."""
    path = tmp_path_factory.mktemp("surrogates") / "run"
    choice = Choice(tolerance=0.6)  # the explanation: size 1, the surrogate: size 5
    rundir = RunDir(path, settings={"model": str(demo_model_dir())}, choice=choice)
    results = []
    for (layer, head), ((short, low), (long, high)) in FRONTS.items():
        front = [Point(short, 1, low, low, "enum"), Point(long, 5, high, high, "path-2")]
        results.append(HeadResult.choose(layer, head, front, choice, 2))
    rundir.record(results)
    rundir.write_programs()
    (path / "text.txt").write_text(TEXT + "\n")
    return path


def test_the_run_writes_two_different_program_files(run):
    explanations, surrogates = (load_file(run / name).heads for name in
                                ("programs.hc", "surrogates.hc"))
    assert set(explanations) == set(surrogates) == set(FRONTS)
    assert all(explanations[h] != surrogates[h] for h in FRONTS)
    assert [a.head for a in plan.programs_by_iou(load_file(run / "surrogates.hc"))] == [
        (3, 1), (1, 2), (0, 0), (2, 3)]


def _perplexity(monkeypatch, capsys, run, name: str) -> dict:
    code, out, err = run_cli(monkeypatch, capsys, "perplexity", "--model", demo_model_dir(),
                             "--text", run / "text.txt", "--programs", run / name,
                             "--replace", 0.25, "--device", "cpu", "--json")
    assert code == 0, err
    return json.loads(out)


def test_perplexity_replaces_heads_by_their_surrogates(run, monkeypatch, capsys):
    from headcode.eval.perplexity import perplexity, sequences
    from headcode.models.loading import load_model
    from headcode.models.tokenizer import load_tokenizer

    got = _perplexity(monkeypatch, capsys, run, "surrogates.hc")
    assert got["replaced"] == [[3, 1], [1, 2], [0, 0], [2, 3]]  # 25% of 16 heads
    model = load_model(str(demo_model_dir()), device="cpu")
    rows = sequences(load_tokenizer(str(demo_model_dir())), TEXT.split("\n\n"))
    surrogates = load_file(run / "surrogates.hc")
    replace = plan.replacements(plan.programs_by_iou(surrogates), plan.library(surrogates))
    assert got["ppl"] == pytest.approx(perplexity(model, rows, replace=replace).ppl, rel=1e-5)
    explained = _perplexity(monkeypatch, capsys, run, "programs.hc")
    assert explained["replaced"] == [[1, 2], [0, 0], [2, 3], [3, 1]]
    assert explained["ppl"] != pytest.approx(got["ppl"], rel=1e-4)


def test_qa_replaces_heads_by_their_surrogates(run, monkeypatch, capsys):
    code, out, err = run_cli(monkeypatch, capsys, "qa", "--model", demo_model_dir(),
                             "--programs", run / "surrogates.hc", "--replace", 0.125,
                             "--device", "cpu", "--json")
    assert code == 0, err
    assert json.loads(out)["replaced"] == [[3, 1], [1, 2]]


def test_the_lm_eval_adapter_reads_surrogates(run):
    pytest.importorskip("lm_eval.models.huggingface", reason="needs the lm-eval extra")
    from headcode.eval.lm_eval_adapter import program_sources
    from headcode.models.loading import load_model

    model = load_model(str(demo_model_dir()), device="cpu")
    sources, chosen = program_sources(model, run / "surrogates.hc", replace=0.125)
    surrogates = load_file(run / "surrogates.hc").heads
    assert chosen == [(3, 1), (1, 2)]
    assert {h: s.program for h, s in sources.items()} == {h: surrogates[h] for h in chosen}

"""The remaining synthesis stages on generated tokens and planted attention (no ../shared):
filling holes, the enumerative proposer, the library, and a whole run from a dump, resumed."""

from __future__ import annotations

import numpy as np
import pytest
from synth_data import planted, sequences

from headcode.dsl.interpreter import run
from headcode.dsl.parser import parse_expr
from headcode.dsl.printer import show
from headcode.dsl.program import program_from_text
from headcode.models.dump import open_dump, write_dump
from headcode.synth.data import split_dump
from headcode.synth.fill import fit_holes
from headcode.synth.library import constrained_curve, deduplicate
from headcode.synth.pipeline import synthesize
from headcode.synth.rundir import RunDir
from headcode.synth.search import propose
from headcode.synth.settings import SynthSettings

PLANTED = ["prev(2)", "last(k.period) ?? first"]


def test_fit_holes_finds_the_planted_number():
    corpus = planted(sequences(10, 20), ["prev(3)"]).corpus()
    filled, iou = fit_holes(parse_expr("prev(?)"), corpus, 0)
    assert show(filled) == "prev(3)" and iou > 0.99


def test_the_enumerative_proposer_finds_planted_selectors():
    synth = planted(sequences(8, 16), PLANTED)
    candidates = propose(synth.packed(), synth.corpus(), growth=(3,), steps=10,
                         max_selectors=100, path_terms=2)
    assert len(candidates) == len(PLANTED)
    for k, found in enumerate(candidates):
        best = max(found, key=lambda c: c.iou)
        assert best.iou > 0.95, (PLANTED[k], show(best.expr))
        assert {c.origin for c in found} and all(0 <= c.iou <= 1 + 1e-9 for c in found)


def test_the_proposer_finds_the_ends_of_earlier_words():
    program = "softmax(2 * [shift(keys(k.word_start), -1)] - 0.3 * dist)"
    synth = planted(sequences(8, 16), [program])
    found = propose(synth.packed(), synth.corpus(), growth=(3,), steps=10, path_terms=2)[0]
    best = max(found, key=lambda c: c.iou)
    assert best.iou > 0.95 and "shift(keys(k.word_start), -1)" in show(best.expr), show(best.expr)


def test_deduplicate_keeps_the_smallest_of_equal_behaviours():
    packed = planted(sequences(6, 16), ["first"]).packed()
    texts = ["shift(self, 1)", "prev(1)", "first", "prev(1)", "window(1, 1)"]
    exprs = [parse_expr(t) for t in texts]
    assert [show(e) for e in deduplicate(exprs, packed)] == ["first", "prev(1)"]


def test_constrained_curve_adds_the_program_that_helps_most():
    scores = np.array([[0.9, 0.1, 0.1], [0.2, 0.8, 0.7], [0.5, 0.5, 0.5]])
    curve = constrained_curve(scores, [1, 2, 5])
    assert [p["n"] for p in curve] == [1, 2, 3]
    assert curve[0]["programs"] == [1]  # mean 0.567, the best single program
    assert curve[1]["programs"] == [1, 0]
    assert np.isclose(curve[1]["mean_iou"], (0.9 + 0.8 + 0.7) / 3)


def _dump(path, tokens, programs):
    """A dump of one layer whose heads attend exactly as `programs` do."""
    rows = []
    for t in tokens:
        heads = [run(program_from_text(p), t.texts, t.ids, t.special) for p in programs]
        rows.append((t, np.stack(heads)[None]))
    return write_dump(path, rows, model="planted", dtype="float32")


def test_a_run_from_a_dump_writes_its_programs_and_resumes(tmp_path, monkeypatch):
    import headcode.synth.rundir as rundir

    dump = open_dump(_dump(tmp_path / "dump", sequences(10, 16), PLANTED))
    synth, heldout = split_dump(dump, [(0, 1)], 6, 4)
    assert len(synth.tokens) == 6 and len(heldout.tokens) == 4 and synth.heads == [(0, 1)]
    settings = SynthSettings(n_synth=6, n_heldout=4, steps=10, max_selectors=100, seconds=0)
    run_dir = RunDir(tmp_path / "run", settings={"dump": "dump"}, choice=settings.choice)
    done: list[int] = []
    with monkeypatch.context() as patch:  # the files are written from the search's trees
        patch.setattr(rundir, "parse_expr", lambda text: pytest.fail(f"parsed {text}"))
        results = synthesize(dump, dump.heads, run_dir, settings, advance=done.append)
    assert [r.key for r in results] == [(0, 0), (0, 1)] and sum(done) == 2
    assert all(r.explanation.heldout_iou > 0.95 for r in results)
    programs = (tmp_path / "run" / "programs.hc").read_text()
    assert "head 0.0 =" in programs and "head 0.1 =" in programs
    files = ("programs.hc", "surrogates.hc", "explanations.py", "surrogates.py")
    written = [(tmp_path / "run" / name).read_text() for name in files]
    RunDir.open(tmp_path / "run").write_programs()  # the same, parsed from results.jsonl
    assert [(tmp_path / "run" / name).read_text() for name in files] == written
    again: list[int] = []
    resumed = synthesize(dump, dump.heads, run_dir, settings, advance=again.append)
    assert again == [2] and [r.explanation for r in resumed] == [r.explanation for r in results]


def test_an_interrupted_run_writes_the_programs_of_its_finished_groups(tmp_path, monkeypatch):
    import headcode.synth.pipeline as pipeline

    dump = open_dump(_dump(tmp_path / "dump", sequences(10, 16), PLANTED))
    settings = SynthSettings(n_synth=6, n_heldout=4, group=1, steps=10, max_selectors=100,
                             seconds=0)
    run_dir = RunDir(tmp_path / "run", settings={"dump": "dump"}, choice=settings.choice)
    real = pipeline.synthesize_group

    def stop_at_the_second(synth, heldout, *args):
        if synth.heads == [(0, 1)]:
            raise KeyboardInterrupt
        return real(synth, heldout, *args)

    monkeypatch.setattr(pipeline, "synthesize_group", stop_at_the_second)
    try:
        synthesize(dump, dump.heads, run_dir, settings)
    except KeyboardInterrupt:
        pass
    else:
        raise AssertionError("the interruption did not reach the caller")
    for name in ("programs.hc", "surrogates.hc", "explanations.py", "surrogates.py"):
        text = (tmp_path / "run" / name).read_text()
        assert "0.0" in text or "(0, 0)" in text, name
        assert "head 0.1" not in text and "(0, 1)" not in text, name

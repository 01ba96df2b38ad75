"""`headcode demo`: corpus, extraction, synthesis, substitution curve and report in one command."""

from __future__ import annotations

import json
import re

import pytest
from conftest import run_cli

SMALL = ["--synth-sequences", "4", "--heldout-sequences", "2", "--ppl-sequences", "3",
         "--max-tokens", "32", "--heads", "0.0,1.1"]


def _check_run(out, heads: int) -> dict:
    programs = (out / "programs.hc").read_text()
    assert programs.count("head ") == heads
    curve = json.loads((out / "curve.json").read_text())
    assert [p["fraction"] for p in curve["points"]] == [0.0, 0.1, 0.25, 0.5, 1.0]
    assert curve["points"][-1]["heads"] == heads
    assert set(curve["points"][-1]["ppl"]) == {"program", "surrogate", "uniform", "mean",
                                               "random"}
    surrogates = (out / "surrogates.hc").read_text()
    assert surrogates.count("head ") == heads
    assert sorted(map(tuple, curve["points"][-1]["replaced_surrogate"])) == sorted(
        map(tuple, curve["points"][-1]["replaced"]))
    page = (out / "report.html").read_text()
    assert "<table" in page and "data:image/png;base64," in page
    assert (out / "report.md").is_file() and list((out / "figures").glob("*.png"))
    return curve


def test_demo_on_the_bundled_model_samples_its_own_corpus(tmp_path, monkeypatch, capsys,
                                                          one_thread):
    out = tmp_path / "demo"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "demo", "--out", out, *SMALL,
                                   "--device", "cpu")
    assert code == 0, stderr
    assert "mean held-out IoU" in stdout and f"report: {out / 'report.html'}" in stdout
    assert re.search(r"perplexity [0-9.]+ -> [0-9.]+ \([+-][0-9.]+%\) with explanations, "
                     r"[0-9.]+ \([+-][0-9.]+%\) with surrogates at the 25% point: [0-9]+ heads "
                     r"replaced",
                     stdout), stdout
    corpus = (out / "corpus.txt").read_text().split("\n\n")
    assert len(corpus) == 9
    curve = _check_run(out, heads=2)
    assert json.loads((out / "run.json").read_text())["text"] == str(out / "corpus.txt")
    assert curve["sequences"] == 3


@pytest.mark.parametrize("args, message", [
    (["--model", "no/such/dir/model"], "no/such/dir/model"),
    (["--heads", "9.9"], "9.9"),
])
def test_demo_errors_are_one_line(tmp_path, monkeypatch, capsys, args, message):
    code, _, stderr = run_cli(monkeypatch, capsys, "demo", "--out", tmp_path / "d", *SMALL[:-2],
                              *args, "--device", "cpu")
    assert code == 2
    assert message in stderr and "Traceback" not in stderr


def test_demo_refuses_a_file_as_its_directory(tmp_path, monkeypatch, capsys):
    target = tmp_path / "taken"
    target.write_text("not a directory")
    code, _, stderr = run_cli(monkeypatch, capsys, "demo", "--out", target, *SMALL)
    assert code == 2 and "exists and is not a directory" in stderr
    assert target.read_text() == "not a directory"



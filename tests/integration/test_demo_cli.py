"""`headcode demo`: corpus, extraction, synthesis, substitution curve and report in one command."""

from __future__ import annotations

import json

from conftest import STORIES, VALID_TEXT, need_shared, run_cli

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


def test_demo_on_any_model_and_text(tmp_path, monkeypatch, capsys, one_thread):
    need_shared(STORIES)
    out = tmp_path / "stories"
    code, stdout, stderr = run_cli(monkeypatch, capsys, "demo", "--model", STORIES,
                                   "--text", VALID_TEXT, "--out", out, *SMALL, "--device", "cpu")
    assert code == 0, stderr
    assert not (out / "corpus.txt").exists()
    first = _check_run(out, heads=2)
    assert "perplexity" in stdout

    # `report --curve` measures the same curve again from the run's own settings
    (out / "curve.json").unlink()
    (out / "report.html").unlink()
    code, stdout, stderr = run_cli(monkeypatch, capsys, "report", out, "--curve",
                                   "--ppl-sequences", "3", "--device", "cpu")
    assert code == 0, stderr
    again = _check_run(out, heads=2)
    assert again == first
    code, _, stderr = run_cli(monkeypatch, capsys, "report", out, "--text", VALID_TEXT)
    assert code == 2 and "--text needs --curve" in stderr


def test_demo_needs_enough_paragraphs(tmp_path, monkeypatch, capsys):
    need_shared(STORIES)
    text = tmp_path / "short.txt"
    text.write_text("One day, Tom went out.\n\nHe saw a cat.\n")
    code, _, stderr = run_cli(monkeypatch, capsys, "demo", "--model", STORIES, "--text", text,
                              "--out", tmp_path / "d", *SMALL, "--device", "cpu")
    assert code == 2 and "holds 2 paragraphs" in stderr

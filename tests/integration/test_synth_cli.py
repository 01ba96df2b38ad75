"""`headcode synth` end to end on stories260K: outputs, resuming after SIGKILL, the LLM
proposer against a scripted OpenAI-protocol server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import STORIES, VALID_TEXT, need_shared
from test_llm_http import FakeServer, chat
from typer.testing import CliRunner

from headcode.cli import app
from headcode.dsl.program import load_file

runner = CliRunner()
HEADS = [f"{layer}.{head}" for layer in range(3) for head in range(4)]
SMALL = ["--synth-sequences", "6", "--heldout-sequences", "3"]


@pytest.fixture(scope="module")
def dump(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "dump"
    result = runner.invoke(app, [
        "extract", "--model", str(need_shared(STORIES)), "--text", str(VALID_TEXT),
        "--sequences", "9", "--max-tokens", "48", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


def _synth(dump, out, *extra):
    return [sys.executable, "-m", "headcode", "synth", "--dump", str(dump), "--out", str(out),
            *SMALL, *extra]


def _lines(path):
    return path.read_text().splitlines() if path.exists() else []


def test_synth_writes_programs_results_and_explanations(dump, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["synth", "--dump", str(dump), "--heads", "0.0,2.5",
                                 "--out", str(out), *SMALL])
    assert result.exit_code == 0, result.output
    assert "2 heads: mean held-out IoU: explanations" in result.stdout
    assert "surrogates" in result.stdout
    results = [json.loads(line) for line in _lines(out / "results.jsonl")]
    assert [(r["layer"], r["head"]) for r in results] == [(0, 0), (2, 5)]
    for r in results:
        for point in (r["explanation"], r["surrogate"], *r["front"]):
            assert 0 < point["heldout_iou"] <= 1 and 0 < point["synthesis_iou"] <= 1
            assert point["size"] > 0
        assert r["explanation"] in r["front"] and r["surrogate"] in r["front"]
        assert r["explanation"]["size"] <= 24
    for programs, module in (("programs.hc", "explanations.py"),
                             ("surrogates.hc", "surrogates.py")):
        loaded = load_file(out / programs)
        assert set(loaded.heads) == {(0, 0), (2, 5)}
        assert "held-out IoU" in (out / programs).read_text()
        namespace: dict = {}
        exec(compile((out / module).read_text(), module, "exec"), namespace)
        assert set(namespace["HEADS"]) == {(0, 0), (2, 5)}
    explained = {(r["layer"], r["head"]): r["explanation"]["program"] for r in results}
    assert {h: a.text for h, a in load_file(out / "programs.hc").heads.items()} == explained
    library = json.loads((out / "library.json").read_text())
    assert library["curve"][0]["n"] == 1 and library["library"]


def test_a_run_killed_at_any_moment_continues_and_loses_nothing(dump, tmp_path):
    out = tmp_path / "run"
    command = _synth(dump, out, "--heads", ",".join(HEADS), "--group-size", "4")
    kept: list[str] = []
    for delay in (0.5, 4.0, None):  # early, mid-run, and right after a group is saved
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        start = time.monotonic()
        while process.poll() is None and time.monotonic() - start < 240:
            lines = _lines(out / "results.jsonl")
            if (delay is not None and time.monotonic() - start > delay) or (
                    delay is None and len(lines) > len(kept)):
                break
            time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        now = _lines(out / "results.jsonl")
        assert now[: len(kept)] == kept  # what was saved stays saved
        kept = now
    finished = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert finished.returncode == 0, finished.stderr
    final = _lines(out / "results.jsonl")
    assert final[: len(kept)] == kept
    assert sorted((r["layer"], r["head"]) for r in map(json.loads, final)) == sorted(
        tuple(map(int, h.split("."))) for h in HEADS)
    assert len(load_file(out / "programs.hc").heads) == len(HEADS)


def test_parallel_jobs_and_budgets(dump, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["synth", "--dump", str(dump), "--heads", "0.0,0.1,3.2",
                                 "--out", str(out), "--jobs", "2", "--group-size", "1",
                                 "--max-selectors", "40", "--time-budget", "0", *SMALL])
    assert result.exit_code == 0, result.output
    results = [json.loads(line) for line in _lines(out / "results.jsonl")]
    assert sorted((r["layer"], r["head"]) for r in results) == [(0, 0), (0, 1), (3, 2)]
    origins = {p["origin"] for r in results for p in r["front"]}
    assert not any(o.startswith("softmax-") and o != "softmax-4" for o in origins), origins


def test_a_run_with_other_settings_is_refused(dump, tmp_path):
    out = tmp_path / "run"
    assert runner.invoke(app, ["synth", "--dump", str(dump), "--heads", "0.0", "--out",
                               str(out), *SMALL]).exit_code == 0
    result = runner.invoke(app, ["synth", "--dump", str(dump), "--heads", "0.1", "--out",
                                 str(out), *SMALL])
    assert result.exit_code == 2 and "other settings (heads)" in result.stderr


@pytest.mark.parametrize("proposer", ["llm", "both"])
def test_llm_proposer_through_a_local_openai_server(dump, tmp_path, monkeypatch, proposer):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("HEADCODE_API_KEY", "test-key")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    reply = chat("last(k.period) ?? first\ndecay(causal, ?)\nprev(")
    repair = chat("prev(1)")
    more = chat("self")  # the proposer asks again for the candidates still missing
    with FakeServer(reply, repair, more) as server:
        result = runner.invoke(app, [
            "synth", "--dump", str(dump), "--heads", "1.3", "--out", str(tmp_path / "run"),
            "--proposer", proposer, "--llm-model", "scripted", "--base-url", server.url,
            *SMALL])
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 3  # the malformed `prev(` was sent back for repair
        assert "prev(" in json.dumps(server.requests[1]["body"])
    program = load_file(tmp_path / "run" / "programs.hc").heads[(1, 3)].text
    result = json.loads(_lines(tmp_path / "run" / "results.jsonl")[0])
    if proposer == "both":  # the enumerative candidates compete with the LLM's
        assert result["candidates"] > 3
        return
    assert result["explanation"]["origin"] == "llm"
    assert result["candidates"] == 4  # programs with holes fitted, those without scored as they are
    assert program in {"last(k.period) ?? first", "prev(1)", "self"} or program.startswith(
        "decay(causal")
    assert "?" not in program
    log = (tmp_path / "run" / "llm-log.jsonl").read_text().splitlines()
    assert len(log) == 3 and "tokens" in log[0]


def test_a_head_without_any_candidate_falls_back_to_a_baseline(dump, tmp_path, monkeypatch):
    """What a small model said to an untyped grammar: numbers, through every repair round."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    replies = [chat("1.06795\n2.34868"), chat("4"), chat("1\n2\n3")] * 2
    with FakeServer(*replies) as server:
        result = runner.invoke(app, [
            "synth", "--dump", str(dump), "--heads", "1.3,2.0", "--out", str(tmp_path / "run"),
            "--proposer", "llm", "--llm-model", "scripted", "--base-url", server.url,
            "--llm-candidates", "2", "--llm-prompt", "compact", *SMALL])
        assert result.exit_code == 0, result.output
        assert len(server.requests) == 6
    assert "LLM: 6 unconstrained requests" in result.stdout
    assert "0 checked, 12 rejected" in result.stdout
    results = [json.loads(line) for line in _lines(tmp_path / "run" / "results.jsonl")]
    assert len(results) == 2
    for r in results:
        assert r["explanation"]["origin"] == "baseline" and r["candidates"] == 1
        assert r["explanation"]["program"] in ("first", "self", "prev(1)", "causal")
    assert len(load_file(tmp_path / "run" / "programs.hc").heads) == 2
    assert json.loads((tmp_path / "run" / "library.json").read_text())["library"]


def test_bad_arguments_are_clear_errors(dump, tmp_path):
    cases = [
        (["--heads", "9.9"], "out of range"),
        (["--heads", "x"], "write LAYER.HEAD"),
        (["--proposer", "magic"], "--proposer must be enum, llm or both"),
        (["--proposer", "llm"], "--llm-model"),
        (["--proposer", "llm", "--llm-model", "m", "--llm-prompt", "tiny"],
         "--llm-prompt must be full or compact"),
    ]
    for k, (extra, message) in enumerate(cases):
        result = runner.invoke(app, ["synth", "--dump", str(dump), "--out",
                                     str(tmp_path / f"bad{k}"), *SMALL, *extra])
        assert result.exit_code == 2, (extra, result.output)
        assert message in result.stderr, (extra, result.stderr)


def test_front_prints_each_heads_front_and_a_new_tolerance_chooses_again(dump, tmp_path):
    out = tmp_path / "run"
    args = ["synth", "--dump", str(dump), "--heads", "0.0,1.1", "--out", str(out), *SMALL]
    assert runner.invoke(app, args).exit_code == 0
    shown = runner.invoke(app, ["front", str(out), "--heads", "1.1", "--json"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)
    assert record["head"] == "1.1" and record["explanation"] in record["front"]
    table = runner.invoke(app, ["front", str(out)])
    assert table.exit_code == 0 and "head 0.0" in table.stdout and "head 1.1" in table.stdout
    assert " E" in table.stdout or "│ E" in table.stdout
    # the smallest program on the front, whatever it loses, with a tolerance of 1
    assert runner.invoke(app, [*args, "--tolerance", "1"]).exit_code == 0
    smallest = json.loads(runner.invoke(app, ["front", str(out), "--heads", "1.1",
                                              "--json"]).stdout)["front"][0]["program"]
    assert load_file(out / "programs.hc").heads[(1, 1)].text == smallest
    for bad, message in ((["--heads", "7.7"], "no result for head 7.7"),
                         (["--heads", "x"], "LAYER.HEAD")):
        result = runner.invoke(app, ["front", str(out), *bad])
        assert result.exit_code == 2 and message in result.stderr, result.output
    missing = runner.invoke(app, ["front", str(tmp_path / "nowhere")])
    assert missing.exit_code == 2 and "not a synthesis run" in missing.stderr

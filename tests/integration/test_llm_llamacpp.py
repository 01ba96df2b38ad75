"""`headcode synth --proposer llm --llm-backend llamacpp` against a real llama.cpp server
(llama-cpp-python's, serving SmolLM2-135M-Instruct from ../shared) on two heads of a small
stories260K dump: every reply grammar-constrained, parsed and checked, the LLM's candidates
re-ranked, and the server stopped afterwards."""

from __future__ import annotations

import json

import pytest
from conftest import SHARED, STORIES, VALID_TEXT, need_shared
from typer.testing import CliRunner

from headcode.cli import app

GGUF = SHARED / "models" / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"
runner = CliRunner()


def test_synth_with_a_real_llama_cpp_server(tmp_path, monkeypatch):
    pytest.importorskip("llama_cpp.server", reason="needs llama-cpp-python[server] (README)")
    from headcode.synth.llm.local_server import _ready, llama_server

    need_shared(GGUF)
    dump = tmp_path / "dump"
    made = runner.invoke(app, ["extract", "--model", str(need_shared(STORIES)), "--text",
                               str(need_shared(VALID_TEXT)), "--sequences", "6",
                               "--max-tokens", "32", "--out", str(dump)])
    assert made.exit_code == 0, made.output
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no cached replies
    run = tmp_path / "run"
    with llama_server(GGUF, context=2048) as server:
        result = runner.invoke(app, [
            "synth", "--dump", str(dump), "--heads", "1.3,3.6", "--out", str(run),
            "--synth-sequences", "4", "--heldout-sequences", "2", "--proposer", "llm",
            "--llm-backend", "llamacpp", "--llm-model", "smollm2", "--base-url", server.url,
            "--llm-prompt", "compact", "--llm-candidates", "3", "--llm-max-tokens", "96"])
        assert result.exit_code == 0, result.output
    assert not server.running and not _ready(server.url)

    log = [json.loads(line) for line in (run / "llm-log.jsonl").read_text().splitlines()]
    assert log and all(e["status"] == "ok" and e["grammar"] and not e["cached"] for e in log)
    assert all(e["input_tokens"] < 2048 for e in log)
    summary = next(line for line in result.stdout.splitlines() if line.startswith("LLM:"))
    assert f"LLM: {len(log)} grammar-constrained requests" in summary
    assert " 0 rejected" in summary, summary  # every candidate parsed and checked
    results = [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines()]
    assert [(r["layer"], r["head"]) for r in results] == [(1, 3), (3, 6)]
    for r in results:  # the LLM's candidates were re-ranked on held-out text
        assert r["front"] and all(p["origin"] == "llm" for p in r["front"]), r

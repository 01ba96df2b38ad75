"""The LLM client and proposer against a real HTTP server on 127.0.0.1, written here: it speaks
enough of `POST /v1/chat/completions` and `POST /v1/responses` for the openai client, answers
from a script, and records every request body."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from headcode.dsl.program import program_from_text
from headcode.synth.llm import (
    HeadView,
    LLMClient,
    LLMConfig,
    LLMProposer,
    RowMiss,
    Scored,
    read_log,
    served_gbnf,
    served_lark,
    totals,
)
from headcode.synth.llm.errors import LLMError

# ------------------------------------------------------------------ the scripted server


@dataclass
class Action:
    """One scripted answer: a status and JSON body, sent after `delay` seconds."""

    status: int = 200
    body: dict = field(default_factory=dict)
    delay: float = 0.0
    headers: dict = field(default_factory=dict)


def chat(text: str, prompt_tokens: int = 100, completion_tokens: int = 20) -> Action:
    return Action(body={
        "id": "chatcmpl-1", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens},
    })


def tool_calls(*inputs: str, text: str | None = None) -> Action:
    output = [{"type": "custom_tool_call", "id": f"ctc_{i}", "call_id": f"call_{i}",
               "name": "head_program", "input": program, "status": "completed"}
              for i, program in enumerate(inputs)]
    if text is not None:
        output.append({"type": "message", "id": "msg_1", "role": "assistant", "status":
                       "completed", "content": [{"type": "output_text", "text": text}]})
    return Action(body={
        "id": "resp_1", "object": "response", "created_at": 0, "model": "m",
        "status": "completed", "output": output,
        "usage": {"input_tokens": 300, "output_tokens": 40, "total_tokens": 340},
    })


def error(status: int, message: str, **headers: str) -> Action:
    return Action(status, {"error": {"message": message, "type": "error", "code": None}},
                  headers={k.replace("_", "-"): v for k, v in headers.items()})


class FakeServer:
    """Answers each POST with the next scripted action; records path, headers and body."""

    def __init__(self, *script: Action):
        self.script = deque(script)
        self.requests: list[dict] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def bodies(self) -> list[dict]:
        return [r["body"] for r in self.requests]

    def __enter__(self) -> FakeServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - the http.server name
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests.append({"path": self.path, "headers": {
                        k.lower(): v for k, v in self.headers.items()},
                                            "body": body})
                    action = server.script.popleft() if server.script else error(
                        400, "the test script has no more replies")
                time.sleep(action.delay)
                payload = json.dumps(action.body).encode()
                try:
                    self.send_response(action.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in action.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (a timeout test)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


# ------------------------------------------------------------------ fixtures

@pytest.fixture(autouse=True)
def no_keys(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("HEADCODE_API_KEY", raising=False)


def head_view() -> HeadView:
    texts = ["<s>", " Lily", " ran", ".", " She", " sat", "."]
    n = len(texts)
    attention = np.zeros((n, n))
    attention[0, 0] = 1.0
    for i in range(1, n):
        attention[i, i - 1] = 0.8
        attention[i, 0] += 0.2
    return HeadView((texts,), (attention,), layer=2, head=5, model="tiny")


def client(server: FakeServer, tmp_path, backend: str = "plain", sleeps: list | None = None,
           **options) -> LLMClient:
    config = LLMConfig(backend=backend, model=options.pop("model", "tiny-local"),
                       base_url=server.url, cache_dir=options.pop("cache_dir", tmp_path / "cache"),
                       backoff=0.01, timeout=options.pop("timeout", 5.0), **options)
    return LLMClient(config, sleep=(sleeps.append if sleeps is not None else time.sleep))


def texts(programs) -> list[str]:
    return [p.text for p in programs]


# ------------------------------------------------------------------ backends: what is sent

def test_vllm_sends_the_gbnf_lines_grammar_in_structured_outputs(tmp_path):
    with FakeServer(chat("prev(1)\nlast(k.period) ?? first\ndecay(causal, ?)")) as server:
        proposal = LLMProposer(client(server, tmp_path, "vllm")).propose_detailed(
            head_view(), n=3)
    assert texts(proposal.programs) == ["prev(1)", "last(k.period) ?? first", "decay(causal, ?)"]
    assert texts(proposal.with_holes) == ["decay(causal, ?)"]
    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["authorization"] == "Bearer headcode-no-key"
    body = request["body"]
    assert body["structured_outputs"] == {"grammar": served_gbnf(3)}
    assert body["model"] == "tiny-local"
    system, user = body["messages"]
    assert system["role"] == "system" and "## Grammar of one program (Lark)" in system["content"]
    assert "' ran'[2] -> ' Lily'[1] (0.80)" in user["content"]


def test_vllm_can_send_lark_for_its_guidance_backend(tmp_path):
    with FakeServer(chat("first")) as server:
        llm = client(server, tmp_path, "vllm", grammar_dialect="lark")
        LLMProposer(llm, repair_rounds=0).propose(head_view(), n=2)
    assert server.bodies()[0]["structured_outputs"] == {"grammar": served_lark(2)}


def test_llamacpp_sends_gbnf_in_the_grammar_field(tmp_path):
    with FakeServer(chat("self\nfirst")) as server:
        LLMProposer(client(server, tmp_path, "llamacpp")).propose(head_view(), n=2)
    body = server.bodies()[0]
    assert body["grammar"] == served_gbnf(2) and "structured_outputs" not in body


def test_plain_sends_no_grammar_and_reads_untidy_replies(tmp_path):
    reply = "Here you go:\n```\n1. `prev(1)`\n- window(1, 3)\n```\n"
    with FakeServer(chat(reply)) as server:
        proposal = LLMProposer(client(server, tmp_path, "plain"), repair_rounds=0) \
            .propose_detailed(head_view(), n=2)
    body = server.bodies()[0]
    assert "grammar" not in body and "structured_outputs" not in body
    assert texts(proposal.programs) == ["prev(1)", "window(1, 3)"]
    assert [v.text for v in proposal.rejected] == ["Here you go:"]


def test_responses_sends_a_custom_tool_with_the_lark_grammar(tmp_path):
    with FakeServer(tool_calls("prev(1)", "first", "shift(same(text) - self, 1)")) as server:
        programs = LLMProposer(client(server, tmp_path, "openai-responses")).propose(
            head_view(), n=3)
    assert texts(programs) == ["prev(1)", "first", "shift(same(text) - self, 1)"]
    (request,) = server.requests
    assert request["path"] == "/v1/responses"
    body = request["body"]
    (tool,) = body["tools"]
    assert tool["type"] == "custom" and tool["name"] == "head_program"
    assert tool["format"] == {"type": "grammar", "syntax": "lark", "definition": served_lark()}
    assert body["tool_choice"] == "required"
    assert "## Examples" in body["instructions"]
    assert body["input"][0]["role"] == "user"


# ------------------------------------------------------------------ repair

def test_repair_round_quotes_errors_and_keeps_the_conversation(tmp_path):
    with FakeServer(chat("prev(1)\nmix(0.5 first)\nlast(prev(1))"),
                    chat("mix(0.5: first, 0.5: self)\nlast(k.period)")) as server:
        proposal = LLMProposer(client(server, tmp_path, "plain")).propose_detailed(
            head_view(), n=3)
    assert texts(proposal.programs) == ["prev(1)", "mix(0.5: first, 0.5: self)",
                                        "last(k.period)"]
    assert [v.text for v in proposal.rejected] == ["mix(0.5 first)", "last(prev(1))"]
    assert proposal.requests == 2
    first, second = server.bodies()
    messages = second["messages"]
    assert messages[:2] == first["messages"]
    assert messages[2] == {"role": "assistant",
                           "content": "prev(1)\nmix(0.5 first)\nlast(prev(1))"}
    repair = messages[3]["content"]
    assert "`mix(0.5 first)` was rejected:\n    mix(0.5 first)\n            ^\n    1:9: " \
           "unexpected 'first'" in repair
    assert "1:6: last(...): a selector where a predicate is due" in repair
    assert "Send 2 more programs" in repair


def test_responses_repair_answers_each_tool_call(tmp_path):
    with FakeServer(tool_calls("prev(1)", "keys(k.peroid)"), tool_calls("keys(k.period)")) \
            as server:
        programs = LLMProposer(client(server, tmp_path, "openai-responses")).propose(
            head_view(), n=2)
    assert texts(programs) == ["prev(1)", "keys(k.period)"]
    items = server.bodies()[1]["input"]
    outputs = {i["call_id"]: i["output"] for i in items
               if i.get("type") == "custom_tool_call_output"}
    assert outputs["call_0"] == "accepted"
    assert outputs["call_1"].startswith("rejected: 1:6: unknown feature 'peroid'")
    calls = [i for i in items if i.get("type") == "custom_tool_call"]
    assert [c["input"] for c in calls] == ["prev(1)", "keys(k.peroid)"]
    assert items[-1]["role"] == "user" and "Send 1 more programs" in items[-1]["content"]


def test_repair_rounds_are_bounded(tmp_path):
    with FakeServer(*[chat("prev(") for _ in range(5)]) as server:
        proposal = LLMProposer(client(server, tmp_path, "plain"), repair_rounds=2) \
            .propose_detailed(head_view(), n=2)
    assert proposal.programs == [] and proposal.requests == 3 and len(server.requests) == 3
    assert proposal.rejected[0].error == "1:6: unexpected end of program (an expression or a " \
        "closing bracket is missing)"


def test_history_goes_into_the_prompt_and_is_not_proposed_again(tmp_path):
    head = head_view()
    guess = np.eye(7)
    miss = RowMiss(0, 4, head.attention[0][4, :5], guess[4, :5])
    history = [Scored(program_from_text("self"), 0.21, (miss,)),
               Scored(program_from_text("prev(1)"), 0.62)]
    with FakeServer(chat("prev(1)\nmix(0.8: prev(1), 0.2: first)")) as server:
        proposal = LLMProposer(client(server, tmp_path, "plain"), repair_rounds=0) \
            .propose_detailed(head, history, n=2)
    assert texts(proposal.programs) == ["mix(0.8: prev(1), 0.2: first)"]
    assert [v.text for v in proposal.repeated] == ["prev(1)"]
    user = server.bodies()[0]["messages"][1]["content"]
    assert user.index("1. IoU 0.620: prev(1)") < user.index("2. IoU 0.210: self")
    assert ("misses sequence 1, row ' She'[4]: head '.'[3] 0.80, '<s>'[0] 0.20; "
            "program ' She'[4] 1.00") in user


# ------------------------------------------------------------------ retries and errors

def test_429_is_retried_with_backoff(tmp_path):
    sleeps: list[float] = []
    with FakeServer(error(429, "slow down"), error(503, "busy"), chat("first")) as server:
        programs = LLMProposer(client(server, tmp_path, sleeps=sleeps)).propose(head_view(), n=1)
    assert texts(programs) == ["first"] and len(server.requests) == 3
    assert sleeps == [0.01, 0.02]
    (entry,) = read_log(tmp_path / "cache" / "requests.jsonl")
    assert entry["attempts"] == 3 and entry["status"] == "ok"


def test_retry_after_is_honoured_but_bounded(tmp_path):
    sleeps: list[float] = []
    with FakeServer(error(429, "later", retry_after="0.05"), error(429, "much later",
                    retry_after="3600"), chat("first")) as server:
        llm = client(server, tmp_path, sleeps=sleeps, max_backoff=0.5)
        LLMProposer(llm).propose(head_view(), n=1)
    assert sleeps == [0.05, 0.5]


def test_a_request_that_timed_out_is_not_sent_again(tmp_path):
    """The server may still be computing it: a second copy would only queue behind it."""
    slow = chat("first")
    slow.delay = 0.6
    with FakeServer(slow, chat("self")) as server:
        llm = client(server, tmp_path, timeout=0.15)
        with pytest.raises(LLMError, match=r"no answer within 0.15 s \(not sent again.*"
                                           r"--llm-timeout.*--llm-prompt compact"):
            LLMProposer(llm).propose(head_view(), n=1)
    assert len(server.requests) == 1 and llm.stats.attempts == 1


def test_a_refused_connection_is_retried_then_reported(tmp_path):
    with FakeServer() as server:
        url = server.url
    config = LLMConfig(backend="plain", model="m", base_url=url, cache_dir=None, backoff=0.01,
                       retries=2)
    llm = LLMClient(config, sleep=lambda s: None)
    with pytest.raises(LLMError, match=r"no answer after 3 attempts \(last: connection failed"):
        LLMProposer(llm).propose(head_view(), n=1)
    assert llm.stats.attempts == 3


def test_a_reply_cut_off_at_max_tokens_loses_its_unfinished_line(tmp_path):
    cut = chat("prev(1)\nlast(k.period) ?? fi")
    cut.body["choices"][0]["finish_reason"] = "length"
    with FakeServer(cut) as server:
        proposal = LLMProposer(client(server, tmp_path, max_tokens=12), repair_rounds=0) \
            .propose_detailed(head_view(), n=2)
    assert texts(proposal.programs) == ["prev(1)"] and proposal.rejected == []


def test_a_failed_repair_round_keeps_the_programs_already_accepted(tmp_path):
    with FakeServer(chat("prev(1)\nprev("), error(400, "context full")) as server:
        llm = client(server, tmp_path)
        proposer = LLMProposer(llm, repair_rounds=1)
        proposal = proposer.propose_detailed(head_view(), n=2)
    assert texts(proposal.programs) == ["prev(1)"] and "context full" in proposal.repair_error
    assert proposer.counts["failed_repairs"] == 1
    assert "1 checked, 1 rejected" in proposer.summary()


def test_the_summary_counts_tokens_and_candidates(tmp_path):
    with FakeServer(chat("prev(1)\nfirst", prompt_tokens=1234, completion_tokens=9)) as server:
        proposer = LLMProposer(client(server, tmp_path, "llamacpp"))
        proposer.propose(head_view(), n=2)
    line = proposer.summary()
    assert line.startswith("LLM: 1 grammar-constrained requests (0 from the cache), 1234 prompt "
                           "+ 9 completion tokens")
    assert line.endswith("2 candidates: 2 checked, 0 rejected, 0 repeated")
    (entry,) = read_log(tmp_path / "cache" / "requests.jsonl")
    assert entry["grammar"] is True and entry["input_tokens"] == 1234


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_is_a_clear_error_without_retries(tmp_path, status):
    with FakeServer(error(status, "Incorrect API key provided")) as server:
        with pytest.raises(LLMError, match="needs an API key .* set HEADCODE_API_KEY or "
                                           "OPENAI_API_KEY"):
            LLMProposer(client(server, tmp_path)).propose(head_view(), n=1)
    assert len(server.requests) == 1


def test_a_refused_key_is_named(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    with FakeServer(error(401, "Incorrect API key provided")) as server:
        with pytest.raises(LLMError, match=r"refused the API key \(401: Incorrect API key"):
            LLMProposer(client(server, tmp_path)).propose(head_view(), n=1)
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-wrong"
    log = read_log(tmp_path / "cache" / "requests.jsonl")
    assert log[0]["status"] == "error" and log[0]["attempts"] == 1


def test_headcode_key_comes_first(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai")
    monkeypatch.setenv("HEADCODE_API_KEY", "sk-headcode")
    with FakeServer(chat("first")) as server:
        LLMProposer(client(server, tmp_path)).propose(head_view(), n=1)
    assert server.requests[0]["headers"]["authorization"] == "Bearer sk-headcode"


def test_openai_without_a_key_fails_before_any_request():
    with pytest.raises(LLMError, match="no API key for https://api.openai.com/v1: set "
                                       "HEADCODE_API_KEY or OPENAI_API_KEY"):
        LLMClient(LLMConfig(backend="openai-responses", model="gpt-5-mini", cache_dir=None))


def test_other_client_errors_are_not_retried(tmp_path):
    with FakeServer(error(400, "grammar is not supported")) as server:
        with pytest.raises(LLMError, match=r"rejected the request \(400\): grammar is not "):
            LLMProposer(client(server, tmp_path, "vllm")).propose(head_view(), n=1)
    assert len(server.requests) == 1


# ------------------------------------------------------------------ cache and run log

def test_a_rerun_is_answered_from_the_disk_cache(tmp_path):
    with FakeServer(chat("prev(1)\nfirst")) as server:
        first = LLMProposer(client(server, tmp_path)).propose(head_view(), n=2)
        again = LLMProposer(client(server, tmp_path)).propose(head_view(), n=2)
    assert len(server.requests) == 1
    assert texts(first) == texts(again) == ["prev(1)", "first"]
    log = read_log(tmp_path / "cache" / "requests.jsonl")
    assert [e["cached"] for e in log] == [False, True]
    assert log[0]["run"] != log[1]["run"]


def test_the_same_request_twice_in_a_run_is_two_draws(tmp_path):
    with FakeServer(chat("prev(1)"), chat("first")) as server:
        proposer = LLMProposer(client(server, tmp_path), repair_rounds=0)
        runs = [texts(proposer.propose(head_view(), n=1)) for _ in range(2)]
        replay = LLMProposer(client(server, tmp_path), repair_rounds=0)
        replays = [texts(replay.propose(head_view(), n=1)) for _ in range(2)]
    assert runs == replays == [["prev(1)"], ["first"]]
    assert len(server.requests) == 2


def test_the_run_log_has_tokens_and_costs(tmp_path):
    with FakeServer(chat("first", 1000, 200), tool_calls("self")) as server:
        LLMProposer(client(server, tmp_path, model="gpt-4o-mini")).propose(head_view(), n=1)
        log_path = tmp_path / "run.jsonl"
        LLMProposer(client(server, tmp_path, "openai-responses", cache_dir=None,
                           log_path=log_path)).propose(head_view(), n=1)
    (priced,) = read_log(tmp_path / "cache" / "requests.jsonl")
    assert priced["input_tokens"] == 1000 and priced["output_tokens"] == 200
    assert priced["cost_usd"] == pytest.approx((1000 * 0.15 + 200 * 0.60) / 1e6)
    (local,) = read_log(log_path)
    assert (local["input_tokens"], local["output_tokens"], local["cost_usd"]) == (300, 40, None)
    assert local["backend"] == "openai-responses" and local["model"] == "tiny-local"
    assert totals(read_log(log_path)) == {"requests": 1, "cached": 0, "failed": 0,
                                          "input_tokens": 300, "output_tokens": 40,
                                          "cost_usd": None}

"""The proposer's prompt and the pieces around it: attention summaries, history, repair
messages, reading candidates, costs, and the request each backend builds (no server here)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from headcode.dsl.parser import parse_expr
from headcode.dsl.program import program_from_text
from headcode.synth.llm.backends import make_backend
from headcode.synth.llm.candidates import judge, split_candidates
from headcode.synth.llm.costs import cost_usd, totals, usage_tokens
from headcode.synth.llm.errors import LLMError
from headcode.synth.llm.prompt import (
    SummaryLimits,
    attention_summary,
    first_message,
    history_summary,
    language_reference,
    quote_token,
    repair_message,
    sequence_summary,
)
from headcode.synth.llm.served import served_gbnf
from headcode.synth.llm.views import HeadView, RowMiss, Scored, row_iou, worst_rows

TOKENS = ["<s>", " The", " cat", " sat", ".", " It", " sat", "."]


def attention(rows: dict[int, dict[int, float]], n: int = len(TOKENS)) -> np.ndarray:
    """Rows given as {query: {key: weight}}; unlisted rows attend to key 0."""
    matrix = np.zeros((n, n))
    for i in range(n):
        for j, w in rows.get(i, {0: 1.0}).items():
            matrix[i, j] = w
    return matrix


# ------------------------------------------------------------------ the reference

def test_the_reference_is_the_documentation_and_the_served_grammar():
    text = language_reference()
    assert "## Token features" in text and "## Types and expressions" in text
    assert "| `word_start` | predicate |" in text
    assert "start: pattern" in text and "q_pred" in text  # the typed served grammar
    examples = re.findall(r"^- `(.+?)`: ", text.split("## Examples", 1)[1], flags=re.M)
    assert len(examples) >= 17 and "shift(same(text) - self, 1) ?? first" in examples
    for example in examples:
        parse_expr(example)


def test_a_missing_reference_is_a_clear_error(tmp_path):
    with pytest.raises(LLMError, match="the language reference for the LLM prompt is missing"):
        language_reference(tmp_path / "none.md")
    (tmp_path / "short.md").write_text("## Token features\n\nx\n")
    with pytest.raises(LLMError, match="no section 'Types and expressions'"):
        language_reference(tmp_path / "short.md")


# ------------------------------------------------------------------ attention summaries

def test_tokens_are_quoted_and_escaped():
    assert quote_token(" it's") == "' it\\'s'"
    assert quote_token("\n\t\\") == "'\\n\\t\\\\'"


def test_self_and_first_token_edges_are_folded_not_listed():
    rows = {i: {0: 0.3, i: 0.5, i - 1: 0.2} for i in range(2, len(TOKENS))}
    text = sequence_summary(TOKENS, attention(rows), 1, SummaryLimits())
    edges = re.findall(r"\[(\d+)\] -> '[^']*'\[(\d+)\]", text)
    assert edges and all(i != j and j != "0" for i, j in edges)
    assert "self edges (folded): 6 of 7 rows put >= 0.05 there (mean 0.50" in text
    assert "edges to the first token [0] (folded): 7 of 7 rows" in text
    assert "mean weight per row: first token 0.40, self 0.43, previous token 0.17" in text


def test_edges_are_stratified_by_weight():
    rows = {3: {2: 0.9, 0: 0.1}, 4: {1: 0.3, 3: 0.3, 0: 0.4}, 6: {2: 0.1, 5: 0.04, 0: 0.86}}
    text = sequence_summary(TOKENS, attention(rows), 2, SummaryLimits())
    assert "high (>= 0.5): ' sat'[3] -> ' cat'[2] (0.90)\n" in text
    assert "mid (0.2-0.5): '.'[4] -> ' The'[1] (0.30), '.'[4] -> ' sat'[3] (0.30)\n" in text
    assert text.endswith("low (0.05-0.2): ' sat'[6] -> ' cat'[2] (0.10)")
    assert "(0.04)" not in text


def test_strata_keep_to_their_budget_and_count_the_rest():
    n = 40
    matrix = np.tril(np.full((n, n), 1.0))
    matrix /= matrix.sum(1, keepdims=True)
    text = sequence_summary([f" t{i}" for i in range(n)], matrix, 1, SummaryLimits(low=3))
    low = next(line for line in text.splitlines() if line.strip().startswith("low"))
    assert low.count("->") == 3 and re.search(r"\(\+\d+ more\)$", low)


def test_long_sequences_are_cut_and_few_sequences_shown():
    head = HeadView([TOKENS] * 5, [attention({})] * 5, layer=1, head=0)
    text = attention_summary(head, SummaryLimits(sequences=2, tokens=4))
    assert text.startswith("Attention of head L1.H0.")
    assert text.count("Sequence ") == 2
    assert "(8 tokens, the first 4 shown): [0]'<s>' [1]' The' [2]' cat' [3]' sat'\n" in text


# ------------------------------------------------------------------ history and repair

def head_view() -> HeadView:
    real = attention({i: {i - 1: 1.0} for i in range(1, len(TOKENS))})
    return HeadView([TOKENS], [real], layer=0, head=3)


def test_worst_rows_are_the_rows_a_program_misses_most():
    head = head_view()
    guess = head.attention[0].copy()
    guess[5] = 0
    guess[5, 0] = 1.0
    guess[2] = 0
    guess[2, :3] = [0.5, 0.5, 0]
    worst = worst_rows(head, [guess], k=2)
    assert [(m.sequence, m.row) for m in worst] == [(0, 5), (0, 2)]
    assert row_iou(worst[1].real, worst[1].program) == pytest.approx(0.5 / 1.5)


def test_history_shows_the_best_programs_first_with_their_misses():
    head = head_view()
    miss = RowMiss(0, 5, head.attention[0][5, :6], np.eye(6)[0])
    history = [Scored(program_from_text(text), iou, (miss,) if text == "first" else ())
               for text, iou in [("first", 0.1), ("prev(1)", 0.97), ("self", 0.05),
                                 ("window(1, 2)", 0.6)]]
    text = history_summary(head, history, SummaryLimits(history=3))
    lines = text.splitlines()
    assert lines[0] == "Programs tried so far (4), best first:"
    assert lines[1:4] == ["1. IoU 0.970: prev(1)", "2. IoU 0.600: window(1, 2)",
                          "3. IoU 0.100: first"]
    assert lines[4] == "   misses sequence 1, row ' It'[5]: head '.'[4] 1.00; program '<s>'[0] 1.00"
    assert "self" not in text


def test_a_compact_history_leaves_out_long_programs():
    head = head_view()
    long = "softmax(" + " + ".join(f"{k}.5 * [prev({k})]" for k in range(1, 12)) + ")"
    history = [Scored(program_from_text(long), 0.9), Scored(program_from_text("prev(1)"), 0.5)]
    text = history_summary(head, history, SummaryLimits(program_chars=120))
    assert len(long) > 120 and "softmax" not in text and "1. IoU 0.500: prev(1)" in text
    assert "softmax" in history_summary(head, history, SummaryLimits())


def test_first_message_asks_for_n_programs():
    message = first_message(head_view(), [], 6, "INSTRUCTION")
    assert message.endswith("Propose 6 different candidate programs for this head. INSTRUCTION")
    assert "Programs tried so far" not in message


def test_repair_message_points_at_each_error():
    seen: set[str] = set()
    verdicts = [judge(t, seen) for t in ["prev(1)", "window(3, 1)", "prev(1)", "mix(0.5 first)"]]
    text = repair_message(verdicts, 3, "INSTRUCTION")
    assert "- `window(3, 1)` was rejected:\n    window(3, 1)\n    ^\n    1:1: window(a, b) " \
           "needs a <= b" in text
    assert "- `prev(1)` is not new (prev(1) was proposed before)." in text
    assert "    mix(0.5 first)\n            ^\n    1:9: unexpected 'first'" in text
    assert text.endswith("Send 3 more programs: corrected versions of the rejected ones and new "
                         "ideas. INSTRUCTION")


# ------------------------------------------------------------------ candidates

def test_replies_split_into_candidate_lines():
    reply = "```headcode\n1. prev(1)\n2) `first`\n* self\n\u2022 causal\n- window(1, 2)\n```\n\n"
    assert split_candidates(reply) == ["prev(1)", "first", "self", "causal", "window(1, 2)"]


def test_candidates_are_parsed_and_checked_never_run():
    seen: set[str] = set()
    ok = judge("decay(causal,?)", seen)
    assert ok.accepted and ok.has_holes and ok.program.text == "decay(causal, ?)"
    assert judge("k.period", seen).program.text == "keys(k.period)"
    assert judge("decay(causal, ?)", seen).repeats == "decay(causal, ?)"
    bad = judge("last(prev(1))", seen)
    assert not bad.accepted and bad.error.startswith("1:6: last(...): a selector where")
    assert judge("__import__('os')", seen).error.startswith("1:1: unknown function '__import__'")
    assert judge("x = prev(1)", seen).error == "1:3: unexpected character '='"


# ------------------------------------------------------------------ costs

def test_costs_come_from_the_price_table():
    assert cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_usd("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert cost_usd("Qwen/Qwen3-8B", 1000, 10) is None
    assert cost_usd("mine", 2_000_000, 0, prices={"mine": (1.0, 2.0)}) == pytest.approx(2.0)
    assert usage_tokens({"usage": {"prompt_tokens": 3, "completion_tokens": 4}}) == (3, 4)
    assert usage_tokens({"usage": {"input_tokens": 5, "output_tokens": 6}}) == (5, 6)
    assert usage_tokens({}) == (None, None)


def test_totals_count_only_what_reached_a_server():
    entries = [
        {"run": "a", "status": "ok", "cached": False, "input_tokens": 10, "output_tokens": 2,
         "cost_usd": 0.5},
        {"run": "a", "status": "ok", "cached": True, "input_tokens": 10, "output_tokens": 2,
         "cost_usd": 0.0},
        {"run": "b", "status": "error", "cached": False},
    ]
    assert totals(entries, run="a") == {"requests": 2, "cached": 1, "failed": 0,
                                        "input_tokens": 10, "output_tokens": 2, "cost_usd": 0.5}
    assert totals(entries)["failed"] == 1


# ------------------------------------------------------------------ backends

def test_backends_build_their_requests():
    vllm = make_backend("vllm", "m", temperature=0.7, max_tokens=200)
    request = vllm.start("SYSTEM", "USER", 4)
    assert request.endpoint == "chat"
    assert request.params == {"model": "m", "temperature": 0.7, "max_tokens": 200, "messages": [
        {"role": "system", "content": "SYSTEM"}, {"role": "user", "content": "USER"}]}
    assert request.body()["structured_outputs"] == {"grammar": served_gbnf(4)}
    responses = make_backend("openai-responses", "gpt-5-mini", max_tokens=900).start("S", "U", 3)
    assert responses.params["max_output_tokens"] == 900 and "temperature" not in responses.params
    assert responses.params["instructions"] == "S"
    with pytest.raises(LLMError, match="unknown LLM backend 'ollama'"):
        make_backend("ollama", "m")
    with pytest.raises(LLMError, match="grammar dialect"):
        make_backend("vllm", "m", grammar_dialect="regex")


def test_responses_without_tool_calls_fall_back_to_text():
    backend = make_backend("openai-responses", "m")
    reply = {"output": [{"type": "reasoning", "summary": []},
                        {"type": "message", "content": [
                            {"type": "output_text", "text": "prev(1)\nfirst"}]}]}
    assert backend.candidates(reply) == ["prev(1)", "first"]


def test_head_view_checks_shapes():
    with pytest.raises(ValueError, match="3 tokens but attention of shape"):
        HeadView([["a", "b", "c"]], [np.eye(2)])
    with pytest.raises(ValueError, match="one attention matrix per sequence"):
        HeadView([], [])

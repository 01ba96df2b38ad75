"""Multiple-choice QA: item validation, the tokenization rule, scores against a direct
computation, substitution, and the `headcode qa` command on stories260K."""

from __future__ import annotations

import json

import pytest
from conftest import GPT2_TOKENIZER, STORIES, need_shared, run_cli

from headcode.eval.qa import (
    STORIES_QA,
    encode_choice,
    load_items,
    score,
)

pytestmark = pytest.mark.usefixtures("one_thread")


class CharTokenizer:
    """Characters as tokens (id = code - 30), BOS id 1 first, and "ab" merged into id 99."""

    all_special_ids = [1]

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict:
        ids, i = [], 0
        while i < len(text):
            if text.startswith("ab", i):
                ids.append(99)
                i += 2
            else:
                ids.append(ord(text[i]) - 30)
                i += 1
        return {"input_ids": ([1] if add_special_tokens else []) + ids}

    def convert_ids_to_tokens(self, ids):
        return ["<s>" if i == 1 else "ab" if i == 99 else chr(i + 30) for i in ids]

    def get_vocab(self) -> dict:
        return {t: i for i, t in enumerate(self.convert_ids_to_tokens(range(1, 100)), start=1)}


# ---------------------------------------------------------------- validation


GOOD = {"prompt": "The ball is", "choices": [" red", " blue"], "answer": 1}


# ---------------------------------------------------------------- tokenization


def test_gpt2_merge_across_the_boundary():
    from headcode.models.tokenizer import load_tokenizer

    tok = load_tokenizer(str(need_shared(GPT2_TOKENIZER)))
    assert tok("hello world")["input_ids"][:2] != tok("hello wor")["input_ids"]
    context, choice = encode_choice(tok, "hello wor", "ld")
    assert context == tok("hello wor")["input_ids"] and choice == tok("ld")["input_ids"]
    context, choice = encode_choice(tok, "hello", " world")
    assert context + choice == tok("hello world")["input_ids"]


def test_stories_tokenizer_keeps_bos_in_the_context():
    from headcode.models.tokenizer import load_tokenizer

    tok = load_tokenizer(str(need_shared(STORIES)))
    prompt = "Lily was very hungry, so her mom gave her an"
    context, choice = encode_choice(tok, prompt, " apple")
    assert context[0] == 1 and context == tok(prompt)["input_ids"]
    assert context + choice == tok(prompt + " apple")["input_ids"]


# ---------------------------------------------------------------- scores


# ---------------------------------------------------------------- the command


PROGRAMS = """\
head 0.0 = first  # held-out IoU 0.5
head 1.2 = prev(1)  # held-out IoU 0.7
"""


def test_qa_command_on_stories260k(monkeypatch, capsys, tmp_path):
    need_shared(STORIES)
    code, out, err = run_cli(monkeypatch, capsys, "qa", "--model", STORIES, "--device", "cpu",
                             "--json")
    assert code == 0, err
    plain = json.loads(out)
    assert plain["items"] == 60 and plain["data"] == str(STORIES_QA)
    assert round(plain["accuracy_sum"], 3) == 0.700  # measured: docs/qa.md
    assert round(plain["accuracy_mean"], 3) == 0.667

    heads = tmp_path / "heads.hc"
    heads.write_text(PROGRAMS)
    code, out, err = run_cli(monkeypatch, capsys, "qa", "--model", STORIES, "--device", "cpu",
                             "--programs", heads, "--replace", 0.05, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["replaced"] == [[1, 2], [0, 0]]  # by descending held-out IoU
    assert result["baseline_accuracy_sum"] == plain["accuracy_sum"]
    assert result["baseline_accuracy_mean"] == plain["accuracy_mean"]
    assert result["accuracy_sum"] == pytest.approx(direct_accuracy(heads, 0.05))

    code, out, err = run_cli(monkeypatch, capsys, "qa", "--model", STORIES, "--device", "cpu",
                             "--programs", heads, "--replace", 0.025, "--order", "file",
                             "--control", "mean")
    assert code == 0, err
    assert "heads replaced by control mean" in out and out.splitlines()[-1] == "replaced: 0.0"


def direct_accuracy(heads, fraction: float) -> float:
    """Sum-accuracy with the programs of `heads` swapped in, through the library directly."""
    from headcode.dsl.program import load_file
    from headcode.models import programs as plan
    from headcode.models.loading import load_model
    from headcode.models.tokenizer import load_tokenizer

    model = load_model(STORIES, device="cpu")
    loaded = load_file(heads)
    chosen, _ = plan.choose(plan.programs_by_iou(loaded), fraction, 40)
    replace = plan.replacements(chosen, plan.library(loaded))
    tok = load_tokenizer(str(STORIES))
    return score(model, tok, load_items(STORIES_QA), replace=replace).accuracy_sum



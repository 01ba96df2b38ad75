"""Multiple-choice QA: item validation, the tokenization rule, scores against a direct
computation, substitution, and the `headcode qa` command on stories260K."""

from __future__ import annotations

import json
import math

import pytest
import torch
from conftest import run_cli

from headcode.errors import HeadcodeError
from headcode.eval.qa import (
    STORIES_QA,
    Item,
    QAError,
    encode_choice,
    load_items,
    parse_items,
    prompt_rows,
    score,
)
from headcode.models.substitute import IdentitySource, UniformSource
from headcode.models.tiny import tiny_model

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


def line(**fields) -> str:
    return json.dumps(fields)


GOOD = {"prompt": "The ball is", "choices": [" red", " blue"], "answer": 1}


@pytest.mark.parametrize("text, message", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "expected a JSON object"),
    (line(prompt="p", choices=[" a", " b"]), "missing field answer"),
    (line(choices=[" a", " b"], answer=0), "missing field prompt"),
    (line(prompt="  ", choices=[" a", " b"], answer=0), "prompt must be a non-empty string"),
    (line(prompt=3, choices=[" a", " b"], answer=0), "prompt must be a non-empty string"),
    (line(prompt="p", choices=" a b", answer=0), "choices must be a list of strings"),
    (line(prompt="p", choices=[" a", 2], answer=0), "choices must be a list of strings"),
    (line(prompt="p", choices=[" a"], answer=0), "at least 2 strings (got 1)"),
    (line(prompt="p", choices=[" a", " "], answer=0), "non-blank"),
    (line(prompt="p", choices=[" a", " a"], answer=0), "distinct"),
    (line(prompt="p", choices=[" a", " b"], answer=2), "answer 2 is out of range for 2"),
    (line(prompt="p", choices=[" a", " b"], answer=-1), "answer -1 is out of range"),
    (line(prompt="p", choices=[" a", " b"], answer=True), "answer must be an integer"),
    (line(prompt="p", choices=[" a", " b"], answer="0"), "answer must be an integer"),
])
def test_malformed_lines_name_file_and_line(text, message):
    lines = [json.dumps(GOOD), "", text]
    with pytest.raises(QAError) as error:
        parse_items(lines, "items.jsonl")
    assert str(error.value).startswith("items.jsonl:3: ")
    assert message in str(error.value) and "\n" not in str(error.value)
    assert isinstance(error.value, HeadcodeError)


def test_items_load_with_blank_lines_and_extra_fields(tmp_path):
    path = tmp_path / "qa.jsonl"
    path.write_text("\n" + json.dumps({**GOOD, "id": "x"}) + "\n\n" + json.dumps(GOOD) + "\n")
    items = load_items(path)
    assert [i.where for i in items] == [f"{path}:2", f"{path}:4"]
    assert items[0] == Item("The ball is", [" red", " blue"], 1, f"{path}:2")


def test_empty_and_missing_files_are_errors(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n  \n")
    with pytest.raises(QAError, match="empty.jsonl: no items"):
        load_items(tmp_path / "empty.jsonl")
    with pytest.raises(QAError, match="nope.jsonl: no such file"):
        load_items(tmp_path / "nope.jsonl")


def test_bundled_items_are_valid():
    items = load_items(STORIES_QA)
    assert 50 <= len(items) <= 80
    assert {i.answer for i in items} == {0, 1, 2}  # the right answer is not always first


# ---------------------------------------------------------------- tokenization


def test_choice_tokens_are_the_rest_of_the_whole_encoding():
    tok = CharTokenizer()
    context, choice = encode_choice(tok, "x y", " za")
    assert context == tok("x y")["input_ids"] and context[0] == 1
    assert context + choice == tok("x y za")["input_ids"]


def test_trailing_prompt_space_moves_to_the_choice():
    tok = CharTokenizer()
    assert encode_choice(tok, "x y ", "za") == encode_choice(tok, "x y", " za")


def test_a_merge_across_the_boundary_keeps_the_context():
    tok = CharTokenizer()  # "a" + "b" merges into one token: the whole does not start with "a"
    assert tok("xabc")["input_ids"][:3] != tok("xa")["input_ids"]
    context, choice = encode_choice(tok, "xa", "bc")
    assert context == tok("xa")["input_ids"]
    assert choice == tok("bc", add_special_tokens=False)["input_ids"] == [68, 69]


# ---------------------------------------------------------------- scores


def random_items(n: int, seed: int = 0) -> list[Item]:
    gen = torch.Generator().manual_seed(seed)
    letters = "abcdefghij klmnop"

    def text(lo: int, hi: int) -> str:
        k = int(torch.randint(lo, hi, (1,), generator=gen))
        return "".join(letters[int(i)] for i in torch.randint(0, len(letters), (k,), generator=gen))

    items = []
    for _ in range(n):
        choices = list(dict.fromkeys(" " + text(1, 6) for _ in range(3)))
        while len(choices) < 2:
            choices.append(" " + text(1, 6))
        answer = int(torch.randint(0, len(choices), (1,), generator=gen))
        items.append(Item("q " + text(3, 14), choices, answer))
    return items


def direct_sums(model, tokenizer, item: Item) -> list[float]:
    """Summed log-likelihood of each choice, one plain forward pass per choice."""
    sums = []
    for choice in item.choices:
        context, continuation = encode_choice(tokenizer, item.prompt, choice)
        ids = torch.tensor([context + continuation])
        with torch.no_grad():
            logp = model(input_ids=ids).logits[0].float().log_softmax(-1)
        sums.append(sum(float(logp[t - 1, ids[0, t]]) for t in range(len(context), ids.shape[1])))
    return sums


def test_scores_and_accuracy_match_a_direct_computation():
    tok = CharTokenizer()
    model = tiny_model("llama", vocab_size=128)
    plain = tiny_model("llama", attn_implementation="eager", vocab_size=128)  # same weights
    items = random_items(12)
    expected = [direct_sums(plain, tok, item) for item in items]
    for batch_size in (1, 5, 64):
        result = score(model, tok, items, batch_size=batch_size)
        for got, sums, item in zip(result.items, expected, items):
            assert got.sums == pytest.approx(sums, abs=1e-4)
            lengths = [len(encode_choice(tok, item.prompt, c)[1]) for c in item.choices]
            assert got.tokens == lengths
            assert got.means == pytest.approx([s / k for s, k in zip(sums, lengths)], abs=1e-4)
        right_sum = sum(max(range(len(s)), key=s.__getitem__) == i.answer
                        for s, i in zip(expected, items))
        assert math.isclose(result.accuracy_sum, right_sum / len(items))
    assert 0 < result.accuracy_sum < 1  # the random items are neither all right nor all wrong


def test_ties_go_to_the_first_choice():
    from headcode.eval.qa import ItemScores

    scores = ItemScores(answer=1, sums=[-2.0, -1.0, -1.0], means=[-0.5, -0.5, -1.0],
                        tokens=[4, 2, 1])
    assert scores.predicted_sum == 1 and scores.predicted_mean == 0


def test_identity_substitution_changes_nothing_and_uniform_does():
    tok = CharTokenizer()
    model = tiny_model("qwen2", vocab_size=128)
    items = random_items(8, seed=1)
    base = score(model, tok, items, batch_size=3)
    same = score(model, tok, items, batch_size=3,
                 replace={(0, 1): IdentitySource(), (1, 3): IdentitySource()})
    assert [s.sums for s in same.items] == [s.sums for s in base.items]
    other = score(model, tok, items, batch_size=3,
                  replace={(0, 1): UniformSource(), (1, 3): UniformSource()})
    assert [s.sums for s in other.items] != [s.sums for s in base.items]


def test_prompt_rows_are_the_contexts():
    tok = CharTokenizer()
    items = random_items(3, seed=2)
    rows = prompt_rows(tok, items)
    assert [r.ids for r in rows] == [tok(i.prompt.rstrip())["input_ids"] for i in items]


# ---------------------------------------------------------------- the command


PROGRAMS = """\
head 0.0 = first  # held-out IoU 0.5
head 1.2 = prev(1)  # held-out IoU 0.7
"""


def test_qa_command_errors_are_one_line(monkeypatch, capsys, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(GOOD) + "\n" + line(prompt="p", choices=[" a"], answer=0) + "\n")
    code, _, err = run_cli(monkeypatch, capsys, "qa", "--model", tmp_path, "--data", bad)
    assert code == 2 and err == f"error: {bad}:2: choices must hold at least 2 strings (got 1)\n"
    code, _, err = run_cli(monkeypatch, capsys, "qa", "--model", tmp_path, "--replace", 0.5)
    assert code == 2 and "need --programs" in err

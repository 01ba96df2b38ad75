"""Program heads on stories260K: ProgramSource, head choice by held-out IoU, and the
`perplexity --programs` command with its controls and errors."""

import json

import pytest
import torch
from conftest import STORIES, VALID_TEXT, need_shared
from conftest import run_cli as run

from headcode.dsl.program import load_file, program_from_text
from headcode.dsl.tokens import Tokens
from headcode.eval.perplexity import sequences
from headcode.models import programs as plan
from headcode.models.attention import Batch
from headcode.models.corpus import load_corpus
from headcode.models.errors import ModelError
from headcode.models.loading import load_model, model_shape
from headcode.models.programs import FeatureCache, ProgramSource
from headcode.models.substitute import Substitution, UniformSource
from headcode.models.tokenizer import load_tokenizer

REALISTIC = "mix(0.5: last(k.period) ?? first, 0.5: decay(causal, 0.8))"
SOFT = "softmax(2 * [first] + 1.5 * [keys(k.punct)] - 0.1 * dist)"

# 12 assigned heads, in no particular order of their (invented) held-out IoU
HEADS_FILE = f"""\
sentence_end = last(k.period) ?? first
head 0.0 = prev(1)  # held-out IoU 0.31, synthesis IoU 0.30, size 2
head 0.3 = first  # held-out IoU 0.72, synthesis IoU 0.70, size 1
head 1.2 = sentence_end  # held-out IoU 0.55
head 1.7 = decay(causal, 0.8)  # held-out IoU 0.12, synthesis IoU 0.13, size 3
head 2.5 = {REALISTIC}  # held-out IoU 0.432
head 2.1 = {SOFT}  # held-out IoU 0.61
head 3.0 = self  # held-out IoU 0.05
head 3.4 = shift(same(text) - self, 1) ?? first  # held-out IoU 0.48
head 4.6 = same(sentence)  # held-out IoU 0.29
head 4.2 = causal  # held-out IoU 0.20
head 2.2 = start(sentence)  # held-out IoU 0.66
head 1.1 = window(0, 3)  # held-out IoU 0.39
"""
BY_IOU = [[0, 3], [2, 2], [2, 1], [1, 2], [3, 4], [2, 5], [1, 1], [0, 0], [4, 6], [4, 2]]
TOL = 1e-5

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def stories():
    """(model, rows): stories260K and 6 paragraphs of valid-a.txt cut to 9 to 41 tokens."""
    need_shared(STORIES)
    need_shared(VALID_TEXT)
    model = load_model(STORIES, device="cpu")
    rows = sequences(load_tokenizer(str(STORIES)), load_corpus(VALID_TEXT, n=6), 40)
    cut = [41, 23, 35, 9, 30, 17]
    return model, [Tokens(r.ids[:k], r.texts[:k], r.special[:k]) for r, k in zip(rows, cut)]


@pytest.fixture
def heads_file(tmp_path):
    path = tmp_path / "heads.hc"
    path.write_text(HEADS_FILE, encoding="utf-8")
    return path


def program_sources(text, heads):
    program = program_from_text(text)
    return {head: ProgramSource(program) for head in heads}


# ---------------------------------------------------------------- ProgramSource


def test_causal_program_is_the_uniform_control(stories):
    model, rows = stories
    heads = [(0, 1), (2, 3), (2, 4), (4, 7)]
    uniform = Substitution(model, {h: UniformSource() for h in heads}).logits(rows)
    program = Substitution(model, program_sources("causal", heads)).logits(rows)
    assert (uniform - program).abs().max() <= TOL


@pytest.mark.parametrize("text", [REALISTIC, SOFT])
def test_program_changes_only_its_layer_on(stories, text):
    model, rows = stories
    base = Substitution(model).forward(rows, output_hidden_states=True).hidden_states
    sub = Substitution(model, program_sources(text, [(2, 5)]))
    new = sub.forward(rows, output_hidden_states=True).hidden_states
    # hidden_states[k] is the input of layer k
    for k in range(3):
        assert torch.equal(base[k], new[k])
    assert (base[3] - new[3]).abs().max() > 1e-4


def test_padded_batch_equals_one_by_one(stories):
    model, rows = stories
    assert len({len(r) for r in rows}) > 1
    sub = Substitution(model, program_sources(REALISTIC, [(0, 2), (1, 5), (3, 0)]))
    batched = sub.logits(rows)
    for b, row in enumerate(rows):
        alone = sub.logits([row])[0]
        # float32 matmuls of other shapes differ by ~1e-5 even in the eager model itself
        assert (batched[b, : len(row)] - alone).abs().max() <= 1e-4


def test_matrices_of_a_padded_batch_are_each_rows_own(stories):
    _, rows = stories
    source = ProgramSource(program_from_text(SOFT))
    n = max(len(r) for r in rows)
    lengths = torch.tensor([len(r) for r in rows])
    batched = source.matrices(Batch(rows, lengths, n), "cpu", torch.float32)
    for b, row in enumerate(rows):
        m = len(row)
        alone = source.matrices(Batch([row], torch.tensor([m]), m), "cpu", torch.float32)[0]
        assert (batched[b, :m, :m] - alone).abs().max() <= 1e-6
        assert not batched[b, :m, m:].any()


def test_features_are_computed_once_per_forward_pass(stories, monkeypatch):
    model, rows = stories
    calls = []
    real = plan.batch_features
    monkeypatch.setattr(plan, "batch_features", lambda *a: calls.append(1) or real(*a))
    cache = FeatureCache()
    program = program_from_text(REALISTIC)
    heads = [(layer, head) for layer in range(5) for head in (1, 6)]
    sub = Substitution(model, {h: ProgramSource(program, cache) for h in heads})
    sub.logits(rows)
    sub.logits(rows[:2])
    assert len(calls) == 2


def test_program_without_tokens_is_a_clear_error(stories):
    model, rows = stories
    source = ProgramSource(program_from_text("first"))
    with pytest.raises(ModelError, match="needs the batch's tokens"):
        source.matrices(Batch([], torch.tensor([4]), 4), "cpu", torch.float32)


# ---------------------------------------------------------------- choosing heads


def test_bad_head_names_the_head_and_the_shape(stories, tmp_path):
    path = tmp_path / "big.hc"
    path.write_text("head 1.0 = first\nhead 5.2 = prev(1)\n", encoding="utf-8")
    items = plan.assignments(load_file(path))
    with pytest.raises(ModelError, match=r"head 5\.2 does not exist.*5 layers x 8 heads"):
        plan.check_heads(items, model_shape(stories[0]), str(path))


# ---------------------------------------------------------------- the command


def perplexity(monkeypatch, capsys, *args, sequences=20):
    need_shared(STORIES)
    need_shared(VALID_TEXT)
    return run(
        monkeypatch, capsys, "perplexity", "--model", STORIES, "--text", VALID_TEXT,
        "--sequences", sequences, "--device", "cpu", *args,
    )  # fmt: skip


def test_perplexity_with_programs_json(monkeypatch, capsys, heads_file):
    code, out, err = perplexity(
        monkeypatch, capsys, "--programs", heads_file, "--replace", 0.25, "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert set(result) == {"baseline_ppl", "ppl", "relative_increase", "tokens", "replaced"}
    assert result["replaced"] == BY_IOU
    assert abs(result["baseline_ppl"] - 3.974) < 1e-3 and result["tokens"] == 2099
    assert result["ppl"] > result["baseline_ppl"]
    assert result["relative_increase"] == pytest.approx(result["ppl"] / result["baseline_ppl"] - 1)


@pytest.mark.parametrize("control", ["uniform", "mean", "random"])
def test_controls_replace_the_same_heads(monkeypatch, capsys, heads_file, control):
    code, out, err = perplexity(
        monkeypatch, capsys, "--programs", heads_file, "--control", control, "--json",
        sequences=5,
    )  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["replaced"] == BY_IOU
    assert result["ppl"] != result["baseline_ppl"]


def test_file_order_and_too_few_heads(monkeypatch, capsys, heads_file):
    code, out, err = perplexity(
        monkeypatch, capsys, "--programs", heads_file, "--order", "file", "--replace", 0.5,
        "--json", sequences=3,
    )  # fmt: skip
    assert code == 0, err
    replaced = json.loads(out)["replaced"]
    assert replaced[:3] == [[0, 0], [0, 3], [1, 2]] and len(replaced) == 12
    assert "20 of 40 heads requested" in err and "replacing all 12" in err


def test_text_output(monkeypatch, capsys, heads_file):
    code, out, _ = perplexity(
        monkeypatch, capsys, "--programs", heads_file, "--replace", 0.1, sequences=3
    )
    assert code == 0
    assert "with 4 of 40 heads replaced by their programs" in out
    assert out.splitlines()[1] == "replaced: 0.3 2.2 2.1 1.2"


@pytest.mark.parametrize(
    ("file_text", "args", "message"),
    [
        ("head 5.0 = first  # held-out IoU 0.5\n", [],
         "head 5.0 does not exist: the model has 5 layers x 8 heads"),
        ("head 1.8 = first  # held-out IoU 0.5\n", [], "head 1.8 does not exist"),
        ("head 1.0 = first  # held-out IoU 0.5\nhead 2.0 = prev(1)\n", [],
         "none for head 2.0 (use --order file)"),
        (HEADS_FILE, ["--replace", 1.5], "--replace must be a fraction in [0, 1] (got 1.5)"),
        (HEADS_FILE, ["--replace", -0.5], "--replace must be a fraction in [0, 1]"),
        (HEADS_FILE, ["--control", "zero"], "--control must be uniform, mean, random"),
        (HEADS_FILE, ["--order", "size"], "--order must be iou or file"),
        ("x = first\n", [], "the file assigns no head"),
        ("head 1.0 = last(k.peroid)\n", [], "f.hc:1:"),
        ("head 1.0 = decay(causal, ?)  # held-out IoU 0.5\n", ["--replace", 0.025],
         "head 1.0: the program has unfilled holes"),
    ],
)
def test_errors_are_one_line(monkeypatch, capsys, tmp_path, file_text, args, message):
    path = tmp_path / "f.hc"
    path.write_text(file_text, encoding="utf-8")
    code, out, err = perplexity(monkeypatch, capsys, "--programs", path, *args, sequences=2)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_control_without_programs_is_an_error(monkeypatch, capsys):
    code, _, err = perplexity(monkeypatch, capsys, "--control", "uniform", sequences=2)
    assert code == 2 and "need --programs" in err

"""The real GGUF file in ../shared (SmolLM2-135M-Instruct, Q4_1): it loads and runs, `headcode
convert` gives a directory with identical logits and tokens, and `extract --model FILE.gguf`
writes a dump, and `demo --model FILE.gguf` writes its report. Reading the file takes about 10 s,
so it is read once per process here."""

import html
import json
import subprocess
import sys

import pytest
import torch
from conftest import SMOLLM2_GGUF, VALID_TEXT, need_shared
from conftest import run_cli as run

from headcode.dsl.gloss import gloss
from headcode.dsl.program import load_file
from headcode.models.dump import open_dump
from headcode.models.gguf import MARKER
from headcode.models.loading import load_model, model_shape
from headcode.models.tokenizer import load_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")

TEXTS = [
    "Once upon a time, there was a little girl named Lily.",
    "Tom said, \"Look at the café!\" 🙂 He ran to it, fast.",
]


@pytest.fixture(scope="module")
def gguf_file():
    return need_shared(SMOLLM2_GGUF)


@pytest.fixture(scope="module")
def loaded(gguf_file):
    """The model and tokenizer read from the GGUF file."""
    return load_model(gguf_file, device="cpu"), load_tokenizer(str(gguf_file))


@pytest.fixture(scope="module")
def converted(gguf_file, tmp_path_factory):
    """`headcode convert FILE.gguf OUT_DIR`, run as a user runs it."""
    out = tmp_path_factory.mktemp("convert") / "smollm2"
    done = subprocess.run([sys.executable, "-m", "headcode", "convert", gguf_file, out],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {out}\n"
    assert "reading" in done.stderr and "converted in" in done.stderr
    return out


def _logits(model, tokenizer):
    batch = tokenizer(TEXTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**batch).logits


def test_the_gguf_file_loads_dequantised_and_continues_a_story(loaded, gguf_file):
    model, tokenizer = loaded
    shape = model_shape(model)
    assert (shape.n_layers, shape.n_heads, shape.n_kv_heads, shape.head_dim) == (30, 9, 3, 64)
    assert model.name_or_path == str(gguf_file)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert type(model.model.layers[0].self_attn.q_proj) is torch.nn.Linear  # not kept packed
    ids = tokenizer(TEXTS[0], return_tensors="pt").input_ids
    assert ids[0, 0].item() != tokenizer.bos_token_id  # its tokenizer adds no BOS
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=5, do_sample=False)
    assert tokenizer.decode(out[0, ids.shape[1]:]) == " She was a curious and"


def test_convert_gives_identical_logits_and_tokens(loaded, converted, gguf_file):
    model, tokenizer = loaded
    marker = json.loads((converted / MARKER).read_text())
    assert marker["source"] == str(gguf_file) and marker["dtype"] == "float32"
    reloaded, retokenizer = load_model(converted, device="cpu"), load_tokenizer(str(converted))
    for text in TEXTS:
        assert retokenizer(text).input_ids == tokenizer(text).input_ids
    assert torch.equal(_logits(reloaded, retokenizer), _logits(model, tokenizer))


def test_extract_reads_the_gguf_file(gguf_file, loaded, tmp_path, monkeypatch, capsys):
    paragraphs = need_shared(VALID_TEXT).read_text(encoding="utf-8").split("\n\n")[:3]
    text = tmp_path / "three.txt"
    text.write_text("\n\n".join(paragraphs), encoding="utf-8")
    out = tmp_path / "dump"
    code, stdout, err = run(monkeypatch, capsys, "extract", "--model", gguf_file, "--text", text,
                            "--sequences", 3, "--max-tokens", 24, "--device", "cpu", "--out", out)
    assert code == 0, err
    assert stdout.startswith(f"wrote {out}: 3 sequences") and "30 layers x 9 heads" in stdout
    dump = open_dump(out)
    assert dump.meta["model"] == str(gguf_file)
    tokenizer = loaded[1]
    for s, paragraph in enumerate(paragraphs):
        assert dump.tokens(s).ids == tokenizer(paragraph).input_ids[:24]


def test_demo_reads_the_gguf_file_and_writes_its_report(gguf_file, tmp_path, monkeypatch,
                                                        capsys):
    out = tmp_path / "demo"
    code, stdout, err = run(monkeypatch, capsys, "demo", "--model", gguf_file,
                            "--text", need_shared(VALID_TEXT), "--out", out,
                            "--heads", "0.0,29.8", "--synth-sequences", 6,
                            "--heldout-sequences", 3, "--ppl-sequences", 3,
                            "--max-tokens", 32, "--device", "cpu")
    assert code == 0, err
    assert "perplexity" in stdout and "report:" in stdout
    assert json.loads((out / "run.json").read_text())["model"] == str(gguf_file)
    curve = json.loads((out / "curve.json").read_text())
    assert curve["points"][-1]["heads"] == 2
    assert set(curve["points"][-1]["ppl"]) == {"program", "surrogate", "uniform", "mean",
                                               "random"}
    page = (out / "report.html").read_text()
    explanations = load_file(out / "programs.hc")
    assert sorted(explanations.heads) == [(0, 0), (29, 8)]
    for program in explanations.heads.values():  # each explanation and its gloss is on the page
        assert html.escape(gloss(program.expr, explanations.definitions)) in page
    assert page.count("data:image/png;base64,") >= 5  # two heatmaps, two fronts, the curve

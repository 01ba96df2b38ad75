"""Perplexity: the protocol's figure on stories260K, batching, substitution in one call."""

import math

import pytest
import torch
from conftest import random_rows as make_rows

from headcode.eval.perplexity import compare, perplexity, sequences
from headcode.models.loading import load_model
from headcode.models.substitute import IdentitySource, UniformSource
from headcode.models.tiny import tiny_model
from headcode.models.tokenizer import load_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")


def reference_nll(model, rows):
    """Summed NLL and count, one sequence at a time, straight from the model's logits."""
    total, count = 0.0, 0
    for row in rows:
        ids = torch.tensor([row.ids])
        with torch.no_grad():
            logits = model(ids).logits[0, :-1]
        total += float(torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="sum"))
        count += len(row) - 1
    return total, count


def test_batched_perplexity_is_token_weighted():
    model = tiny_model("gpt_neox")
    rows = make_rows([3, 20, 7, 1, 12], model.config.vocab_size)
    total, count = reference_nll(model, [r for r in rows if len(r) > 1])
    for batch_size in (1, 2, 8):
        result = perplexity(model, rows, batch_size=batch_size)
        assert result.tokens == count == 2 + 19 + 6 + 11
        assert math.isclose(result.ppl, math.exp(total / count), rel_tol=1e-5)


def test_compare_reports_baseline_and_substituted():
    model = tiny_model("qwen2")
    rows = make_rows([9, 14], model.config.vocab_size)
    same = compare(model, rows, {(0, 1): IdentitySource()}, batch_size=2)
    assert math.isclose(same["ppl"], same["baseline_ppl"], rel_tol=1e-5)
    result = compare(model, rows, {(1, 0): UniformSource(), (0, 3): UniformSource()})
    assert set(result) == {"baseline_ppl", "ppl", "relative_increase", "tokens", "replaced"}
    assert result["replaced"] == [[0, 3], [1, 0]] and result["tokens"] == 21
    assert math.isclose(result["relative_increase"], result["ppl"] / result["baseline_ppl"] - 1)
    assert result["ppl"] != result["baseline_ppl"]


def test_sequences_stop_at_a_model_s_learned_positions(one_thread):
    """The bundled GPT-2 reads 512 positions: BOS + 512 tokens would run past its table."""
    from headcode.models.demo import demo_model_dir
    from headcode.models.errors import ModelError
    from headcode.models.loading import position_limit

    path = demo_model_dir()
    model, tok = load_model(path, device="cpu"), load_tokenizer(str(path))
    assert position_limit(model) == 512
    assert position_limit(tiny_model("llama")) is None  # rotary: no table to run past
    long_text = " ".join(["Tom saw a big red ball and ran to it."] * 80)
    (unlimited,) = sequences(tok, [long_text])
    (limited,) = sequences(tok, [long_text], limit=512)
    assert len(unlimited) == 513 and len(limited) == 512
    assert limited.ids == unlimited.ids[:512]
    with pytest.raises(ModelError, match="longer than the 512 positions"):
        perplexity(model, [unlimited])
    assert math.isfinite(perplexity(model, [limited]).ppl)

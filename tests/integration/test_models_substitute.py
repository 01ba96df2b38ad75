"""Head substitution: exactness against eager, identity, locality, GQA independence, padding."""

import pytest
import torch
from conftest import STORIES

from headcode.dsl.tokens import Tokens
from headcode.models.attention import Batch
from headcode.models.loading import load_model
from headcode.models.substitute import (
    IdentitySource,
    Substitution,
    UniformSource,
    pad,
)
from headcode.models.tiny import FAMILIES, tiny_model

TOL = 1e-5

pytestmark = pytest.mark.usefixtures("one_thread")


def make_rows(lengths, vocab, seed=0):
    gen = torch.Generator().manual_seed(seed)
    rows = []
    for n in lengths:
        ids = [1] + torch.randint(3, vocab, (n - 1,), generator=gen).tolist()
        rows.append(
            Tokens(ids=ids, texts=[f"t{i}" for i in ids], special=[True] + [False] * (n - 1))
        )
    return rows


def _stories():
    if not STORIES.is_dir():
        pytest.skip(f"stories260K not found at {STORIES} (../shared is absent)")
    return load_model(STORIES, device="cpu"), load_model(
        STORIES, device="cpu", attn_implementation="eager"
    )


@pytest.fixture(scope="module", params=[*FAMILIES, "stories260K"])
def models(request):
    """(headcode model, eager twin with the same weights, vocab size) for each family."""
    if request.param == "stories260K":
        model, eager = _stories()
    else:
        model, eager = (
            tiny_model(request.param),
            tiny_model(request.param, attn_implementation="eager"),
        )
    return model, eager, model.config.vocab_size


def eager_logits(eager, rows):
    ids, mask, _ = pad(rows, "cpu")
    with torch.no_grad():
        return eager(input_ids=ids, attention_mask=mask).logits


def test_nothing_substituted_is_eager(models):
    model, eager, vocab = models
    rows = make_rows([9, 17, 4], vocab)
    diff = (Substitution(model).logits(rows) - eager_logits(eager, rows)).abs().max()
    assert diff <= TOL


def test_identity_source_changes_nothing(models):
    model, eager, vocab = models
    rows = make_rows([9, 17, 4], vocab)
    replace = {(layer, head): IdentitySource() for layer in (0, 1) for head in (0, 1, 3)}
    diff = (Substitution(model, replace).logits(rows) - eager_logits(eager, rows)).abs().max()
    assert diff <= TOL


def test_replacement_changes_the_model(models):
    model, eager, vocab = models
    rows = make_rows([12], vocab)
    diff = Substitution(model, {(1, 2): UniformSource()}).logits(rows) - eager_logits(eager, rows)
    assert diff.abs().max() > 1e-3


def test_layers_before_the_replaced_head_are_untouched(models):
    model, _, vocab = models
    rows = make_rows([10, 15], vocab)
    base = Substitution(model).forward(rows, output_hidden_states=True).hidden_states
    new = Substitution(model, {(1, 0): UniformSource()}).forward(rows, output_hidden_states=True)
    new = new.hidden_states
    # hidden_states[k] is the input of layer k: layers 0 and 1 see identical inputs.
    assert torch.equal(base[0], new[0]) and torch.equal(base[1], new[1])
    assert (base[2] - new[2]).abs().max() > 1e-4


def test_padded_batch_equals_one_by_one(models):
    # float32 matmuls of other shapes differ by ~1e-5 even in the eager model itself
    model, _, vocab = models
    rows = make_rows([5, 16, 9], vocab, seed=1)
    sub = Substitution(model, {(0, 1): UniformSource(), (1, 3): IdentitySource()})
    batched = sub.logits(rows)
    for b, row in enumerate(rows):
        alone = sub.logits([row])[0]
        assert (batched[b, : len(row)] - alone).abs().max() <= 1e-4


def test_padding_never_leaks(models):
    # Same shapes, only the padding ids differ: real positions must be bit-identical.
    model, _, vocab = models
    rows = make_rows([5, 16, 9], vocab, seed=1)
    sub = Substitution(model, {(0, 1): UniformSource(), (1, 3): IdentitySource()})
    a = sub.forward(rows, pad_id=0).logits
    b = sub.forward(rows, pad_id=vocab - 1).logits
    for i, row in enumerate(rows):
        assert torch.equal(a[i, : len(row)], b[i, : len(row)])
    assert not torch.equal(a[0], b[0])


def head_outputs(sub, rows, layer):
    """Per-head outputs (batch, n, heads, d) of `layer` under a substitution."""
    seen = {}
    sub.state.on_output = lambda lay, out: seen.setdefault(lay, out.clone())
    sub.forward(rows)
    sub.state.on_output = None
    return seen[layer]


def test_gqa_heads_sharing_a_kv_head_are_replaced_independently():
    model, _ = _stories()
    assert model.config.num_key_value_heads == 4 and model.config.num_attention_heads == 8
    rows = make_rows([14, 20], 512)
    base = head_outputs(Substitution(model), rows, 2)
    one = head_outputs(Substitution(model, {(2, 0): UniformSource()}), rows, 2)
    # heads 0 and 1 share key/value head 0; only head 0 changes
    assert (one[:, :, 0] - base[:, :, 0]).abs().max() > 1e-4
    assert torch.equal(one[:, :, 1:], base[:, :, 1:])
    both = head_outputs(
        Substitution(model, {(2, 0): UniformSource(), (2, 1): IdentitySource()}), rows, 2
    )
    assert torch.equal(both[:, :, 0], one[:, :, 0])
    assert (both[:, :, 1] - base[:, :, 1]).abs().max() <= TOL


def test_the_future_is_masked(models):
    # the trap of docs: a custom attention name without its mask function sees the future
    model, _, vocab = models
    a = make_rows([10], vocab, seed=4)[0]
    b = Tokens(ids=a.ids[:-1] + [(a.ids[-1] + 1) % vocab], texts=a.texts, special=a.special)
    sub = Substitution(model, {(0, 2): IdentitySource(), (1, 1): UniformSource()})
    la, lb = sub.logits([a])[0], sub.logits([b])[0]
    assert torch.equal(la[:-1], lb[:-1]) and not torch.equal(la[-1], lb[-1])


class FirstTokenSource:
    """A token-aware test source: every query attends to the first token of its row."""

    def __init__(self):
        self.seen = []

    def matrices(self, batch: Batch, device, dtype):
        self.seen.append((batch.layer, batch.head, [list(t.ids) for t in batch.tokens]))
        out = torch.zeros(len(batch.tokens), batch.n, batch.n, device=device, dtype=dtype)
        out[:, :, 0] = 1.0
        return out



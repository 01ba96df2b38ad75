"""Head substitution: exactness against eager, identity, locality, GQA independence, padding."""

import pytest
import torch

from headcode.dsl.tokens import Tokens
from headcode.models.attention import Batch
from headcode.models.errors import ModelError
from headcode.models.substitute import (
    IdentitySource,
    MeanAblation,
    RandomProgramSource,
    Substitution,
    UniformSource,
    mean_ablations,
    mean_outputs,
    pad,
)
from headcode.models.tiny import tiny_model

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


def eager_logits(eager, rows):
    ids, mask, _ = pad(rows, "cpu")
    with torch.no_grad():
        return eager(input_ids=ids, attention_mask=mask).logits


def head_outputs(sub, rows, layer):
    """Per-head outputs (batch, n, heads, d) of `layer` under a substitution."""
    seen = {}
    sub.state.on_output = lambda lay, out: seen.setdefault(lay, out.clone())
    sub.forward(rows)
    sub.state.on_output = None
    return seen[layer]


def test_output_attentions_report_the_substituted_matrices():
    model = tiny_model("llama")
    rows = make_rows([5], model.config.vocab_size)
    sub = Substitution(model, {(0, 1): UniformSource()})
    seen = sub.forward(rows, output_attentions=True).attentions[0][0]
    expected = torch.tril(torch.ones(5, 5)) / torch.arange(1, 6)[:, None]
    assert torch.allclose(seen[1], expected)
    assert not torch.allclose(seen[0], expected)


class FirstTokenSource:
    """A token-aware test source: every query attends to the first token of its row."""

    def __init__(self):
        self.seen = []

    def matrices(self, batch: Batch, device, dtype):
        self.seen.append((batch.layer, batch.head, [list(t.ids) for t in batch.tokens]))
        out = torch.zeros(len(batch.tokens), batch.n, batch.n, device=device, dtype=dtype)
        out[:, :, 0] = 1.0
        return out


def test_sources_see_the_rows_tokens_and_their_head():
    model = tiny_model("llama")
    rows = make_rows([6, 3], model.config.vocab_size)
    source = FirstTokenSource()
    Substitution(model, {(1, 2): source}).logits(rows)
    assert source.seen == [(1, 2, [r.ids for r in rows])]


def test_non_causal_source_entries_are_ignored():
    model = tiny_model("gpt2")
    rows = make_rows([8], model.config.vocab_size)

    class Future:
        def matrices(self, batch, device, dtype):
            return torch.full((1, batch.n, batch.n), 1.0, device=device, dtype=dtype).triu(1) + (
                torch.eye(batch.n, device=device, dtype=dtype)
            )

    class Diagonal:
        def matrices(self, batch, device, dtype):
            return torch.eye(batch.n, device=device, dtype=dtype).expand(1, batch.n, batch.n)

    a = Substitution(model, {(0, 0): Future()}).logits(rows)
    b = Substitution(model, {(0, 0): Diagonal()}).logits(rows)
    assert (a - b).abs().max() <= TOL


def test_mean_ablation_outputs_the_reference_mean():
    model = tiny_model("qwen2")
    reference = make_rows([7, 11, 4], model.config.vocab_size, seed=3)
    means = mean_outputs(model, reference, batch_size=2)
    assert means.shape == (2, 4, 8)
    # the mean, computed one row at a time by hand
    total, count = 0, 0
    for row in reference:
        out = head_outputs(Substitution(model), [row], 1)
        total, count = total + out[0].sum(dim=0), count + len(row)
    assert (means[1] - total / count).abs().max() <= 1e-5
    ablate = mean_ablations(model, reference, [(1, 3)])
    assert isinstance(ablate[(1, 3)], MeanAblation)
    out = head_outputs(Substitution(model, ablate), make_rows([9], model.config.vocab_size), 1)
    assert torch.allclose(out[0, :, 3], means[1, 3].expand(9, -1))


def test_random_program_source_is_seeded_per_head():
    library = [UniformSource(), IdentitySource(), FirstTokenSource()]
    control = RandomProgramSource(library, seed=7)
    picks = [control.choice(layer, head) for layer in range(3) for head in range(8)]
    assert picks == [
        RandomProgramSource(library, 7).choice(lay, h) for lay in range(3) for h in range(8)
    ]
    assert len({id(p) for p in picks}) > 1
    model, eager = tiny_model("llama"), tiny_model("llama", attn_implementation="eager")
    rows = make_rows([8], model.config.vocab_size)
    same = RandomProgramSource([IdentitySource()], seed=1)
    assert (
        Substitution(model, {(0, 0): same}).logits(rows) - eager_logits(eager, rows)
    ).abs().max() <= TOL
    with pytest.raises(ModelError):
        RandomProgramSource([])


def test_bad_heads_are_clear_errors():
    model = tiny_model("gpt2")
    with pytest.raises(ModelError, match="does not exist"):
        Substitution(model, {(2, 0): UniformSource()})
    with pytest.raises(ModelError, match="not a source"):
        Substitution(model, {(0, 0): object()})

"""Stories sampled from a causal LM with a fixed seed (a corpus that needs no downloaded text)."""

from __future__ import annotations

import torch

from .errors import ModelError


@torch.inference_mode()
def sample_texts(
    model,
    tokenizer,
    n: int,
    *,
    max_new_tokens: int = 160,
    temperature: float = 0.8,
    seed: int = 0,
    batch_size: int = 32,
    min_chars: int = 40,
) -> list[str]:
    """`n` texts sampled from the start token with `seed`; samples under `min_chars` are dropped.

    Each text stops at the model's end-of-text token and at its first blank line, so one sample is
    one paragraph. The same seed, model and device give the same texts.
    """
    if n < 1:
        raise ModelError("the number of texts to sample must be at least 1")
    start = tokenizer.bos_token_id
    if start is None:
        start = tokenizer.eos_token_id
    if start is None:
        raise ModelError("the tokenizer has neither a BOS nor an EOS token to start sampling from")
    stop = sorted({i for i in (tokenizer.bos_token_id, tokenizer.eos_token_id) if i is not None})
    generator = torch.Generator(device="cpu").manual_seed(seed)
    texts: list[str] = []
    attempts = 0
    while len(texts) < n:
        attempts += 1
        if attempts > 4 * (n // batch_size + 1) + 4:
            raise ModelError(f"the model produced only {len(texts)} usable texts of {n}")
        batch = min(batch_size, 2 * (n - len(texts)))
        rows = _sample_batch(model, start, stop, batch, max_new_tokens, temperature, generator)
        for row in rows.tolist():
            text = tokenizer.decode(row, skip_special_tokens=True).split("\n\n")[0].strip()
            if len(text) >= min_chars and len(texts) < n:
                texts.append(text)
    return texts


def _sample_batch(model, start, stop, batch, max_new_tokens, temperature, generator):
    """Token ids (BOS excluded; positions after a stop token set to the stop token)."""
    device = next(model.parameters()).device
    ids = torch.full((batch, 1), start, dtype=torch.long, device=device)
    done = torch.zeros(batch, dtype=torch.bool, device=device)
    past = None
    out = []
    step_ids = ids
    for step in range(max_new_tokens):
        mask = torch.ones(batch, step + 1, dtype=torch.long, device=device)
        result = model(input_ids=step_ids, attention_mask=mask, past_key_values=past,
                       use_cache=True)
        past = result.past_key_values
        logits = result.logits[:, -1].float() / max(temperature, 1e-6)
        probs = torch.softmax(logits, dim=-1).cpu()
        token = torch.multinomial(probs, 1, generator=generator).to(device)
        token[done] = stop[0]
        done |= torch.isin(token[:, 0], torch.tensor(stop, device=device))
        out.append(token)
        step_ids = token
        if bool(done.all()):
            break
    return torch.cat(out, dim=1)

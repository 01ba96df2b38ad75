"""Tiny randomly initialised causal LMs of every supported family, for tests and benchmarks.

model = tiny_model("llama")                  # in memory, headcode attention
path = save_tiny_model("qwen2", directory)   # a local directory `load_model` can read
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

FAMILIES = ("gpt2", "llama", "qwen2", "gpt_neox")


def tiny_config(family: str, vocab_size: int = 96):
    """A config with 2 layers, 4 query heads (2 key/value heads where the family has GQA)."""
    from transformers import GPT2Config, GPTNeoXConfig, LlamaConfig, Qwen2Config

    if family == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size,
            n_positions=256,
            n_embd=32,
            n_layer=2,
            n_head=4,
            resid_pdrop=0.0,
            embd_pdrop=0.0,
            attn_pdrop=0.0,
            bos_token_id=0,
            eos_token_id=0,
            initializer_range=0.15,
        )
    if family in ("llama", "qwen2"):  # the same shape: grouped-query attention, 2 kv heads
        config = LlamaConfig if family == "llama" else Qwen2Config
        return config(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=256,
            initializer_range=0.15,
        )
    if family == "gpt_neox":
        return GPTNeoXConfig(
            vocab_size=vocab_size,
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=256,
            rotary_pct=0.5,
            hidden_dropout=0.0,
            attention_dropout=0.0,
            initializer_range=0.15,
        )
    raise ValueError(f"unknown family {family!r}: one of {', '.join(FAMILIES)}")


def tiny_model(family: str, seed: int = 0, attn_implementation: str = "headcode", **config):
    """A tiny random model of `family` in eval mode (large init: heads far from uniform)."""
    from transformers import AutoModelForCausalLM

    from .attention import register

    register()
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(
        tiny_config(family, **config), attn_implementation=attn_implementation
    )
    return model.eval()


def save_tiny_model(family: str, directory: str | Path, seed: int = 0, **config) -> Path:
    """Save a tiny random model of `family` to `directory` and return the path."""
    directory = Path(directory)
    tiny_model(family, seed, attn_implementation="eager", **config).save_pretrained(directory)
    return directory


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with `n` torch threads (tiny models run fastest, and never stall, on one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)

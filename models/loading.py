"""Load a Hugging Face causal LM (hub id, local directory or `.gguf` file) and describe its
attention shape.

A local directory or file never touches the network; a hub id goes through the Hugging Face
cache and respects `HF_HUB_OFFLINE`. Every failure is a one-line `ModelError`.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch

from . import gguf
from .errors import ModelError
from .tokenizer import looks_local

DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


@dataclass(frozen=True)
class Shape:
    """The attention layout of a model: layers, query heads, key/value heads, head size."""

    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int

    @property
    def kv_groups(self) -> int:
        """Query heads sharing one key/value head (1 without grouped-query attention)."""
        return self.n_heads // self.n_kv_heads

    @property
    def heads(self) -> list[tuple[int, int]]:
        """Every (layer, head), layer-major."""
        return [(layer, head) for layer in range(self.n_layers) for head in range(self.n_heads)]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """`auto` (cuda when available, else cpu), `cpu`, `cuda` or `cuda:N` as a torch device."""
    if isinstance(device, torch.device):
        return device
    name = str(device).strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(name)
    except (RuntimeError, ValueError):
        raise ModelError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} requested but CUDA is not available here")
    return resolved


def resolve_dtype(dtype: str | torch.dtype = "float32") -> torch.dtype | str:
    """`float32`, `float16`, `bfloat16` as a torch dtype; `auto` (the checkpoint's) stays."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return "auto"
    if dtype not in DTYPES:
        raise ModelError(f"unknown dtype {dtype!r}: use float32, float16, bfloat16 or auto")
    return DTYPES[dtype]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def load_model(
    name: str | os.PathLike,
    *,
    dtype: str | torch.dtype = "float32",
    device: str | torch.device = "auto",
    attn_implementation: str | None = None,
):
    """A causal LM in eval mode on `device`, from a local directory, a hub id or a `.gguf`
    file (dequantised, see `models.gguf`).

    `attn_implementation` defaults to headcode's own attention (eager semantics, able to
    substitute and capture heads; see `models.attention`).
    """
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    from .attention import NAME, register

    register()
    path = Path(name)
    local = path.is_dir()
    if gguf.is_gguf(name):
        source, local = gguf.model_arguments(name), True
    else:
        source = {"pretrained_model_name_or_path": str(name), "local_files_only": local}
    if not local and not path.exists() and looks_local(str(name)):
        raise ModelError(f"model {str(name)!r}: no such directory")
    if path.exists() and not local:
        raise ModelError(f"model {str(name)!r}: not a directory")
    if path.is_dir() and not (path / "config.json").is_file():
        raise ModelError(f"model directory {str(name)!r} has no config.json")
    target = resolve_device(device)
    hf_logging.disable_progress_bar()
    try:
        with gguf.read_once() if "gguf_file" in source else nullcontext():
            model = AutoModelForCausalLM.from_pretrained(
                **source,
                dtype=resolve_dtype(dtype),
                attn_implementation=attn_implementation or NAME,
            )
    except ModelError:
        raise
    except (OSError, ValueError, KeyError, ImportError, *gguf.CORRUPT_FILE_ERRORS) as error:
        where = "GGUF file" if "gguf_file" in source else "local directory" if local else "hub id"
        raise ModelError(
            f"cannot load causal LM {str(name)!r} ({where}): {_first_line(error)}"
        ) from None
    if "gguf_file" in source:  # named by its file, not by the directory transformers was given
        model.name_or_path = model.config.name_or_path = str(name)
    check_supported(model)
    return model.to(target).eval()


def check_supported(model) -> None:
    """Raise `ModelError` unless the model routes attention through transformers' interface."""
    can_set = getattr(type(model), "_can_set_attn_implementation", None)
    if can_set is not None and not can_set():
        raise ModelError(
            f"{type(model).__name__} does not route attention through transformers' "
            "AttentionInterface: headcode cannot read or replace its heads"
        )
    if not attention_modules(model):
        raise ModelError(f"{type(model).__name__}: no self-attention layers found")


def model_shape(model) -> Shape:
    """Layer, head and key/value-head counts of a model, read from its config."""
    config = (
        model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    )
    n_heads = int(config.num_attention_heads)
    n_kv = getattr(config, "num_key_value_heads", None) or n_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // n_heads
    return Shape(
        n_layers=int(config.num_hidden_layers),
        n_heads=n_heads,
        n_kv_heads=int(n_kv),
        head_dim=int(head_dim),
    )


def position_limit(model) -> int | None:
    """How many positions a model with learned position embeddings can read (GPT-2: its
    `n_positions`); None for rotary and other schemes that have no table to run past."""
    for name, module in model.named_modules():
        leaf = name.rsplit(".", 1)[-1]
        if leaf in ("wpe", "embed_positions", "position_embeddings") and isinstance(
            module, torch.nn.Embedding
        ):
            return int(module.num_embeddings)
    return None


def attention_modules(model) -> dict[int, torch.nn.Module]:
    """The self-attention module of every layer, keyed by layer index."""
    found = {}
    for module in model.modules():
        layer = getattr(module, "layer_idx", None)
        is_attention = "Attention" in type(module).__name__ and layer is not None
        if is_attention and not getattr(module, "is_cross_attention", False):
            found.setdefault(int(layer), module)
    return found


def model_name(model) -> str:
    """The name a model was loaded from (hub id or directory), or its class name."""
    return str(
        getattr(model, "name_or_path", "") or model.config.name_or_path or type(model).__name__
    )

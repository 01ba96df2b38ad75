"""Loading tokenizers (through transformers): a local directory, a `.gguf` model file or a Hugging
Face hub id."""

from __future__ import annotations

from pathlib import Path

from ..dsl.errors import TokenizerError
from . import gguf


def looks_local(name: str) -> bool:
    """Whether `name` can only be a local path (a hub id is `NAME` or `OWNER/NAME`)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1


def load_tokenizer(name: str):
    """A tokenizer from a local directory or a hub id (a local directory never touches the network).

    A directory holding only GPT-2 style `vocab.json` and `merges.txt` also works, and so does
    a `.gguf` model file (its own tokenizer, `models.gguf`).
    """
    from transformers import AutoTokenizer, GPT2TokenizerFast

    if gguf.is_gguf(name):
        return gguf.load_tokenizer(name)
    path = Path(name).expanduser()
    local = path.is_dir()
    if not local and looks_local(name):
        raise TokenizerError(f"tokenizer {name!r}: no such directory")
    try:
        return AutoTokenizer.from_pretrained(str(path) if local else name,
                                             local_files_only=local)
    except Exception as first_error:  # noqa: BLE001 - transformers raises many kinds here
        if local and (path / "vocab.json").is_file() and (path / "merges.txt").is_file():
            return GPT2TokenizerFast(str(path / "vocab.json"), str(path / "merges.txt"))
        reason = str(first_error).strip().splitlines()[0] if str(first_error).strip() else ""
        raise TokenizerError(
            f"cannot load tokenizer {name!r}: give a local directory or a Hugging Face hub id"
            + (f" ({reason})" if reason else "")
        ) from None

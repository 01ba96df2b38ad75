"""The bundled demo model and the corpus `headcode demo` samples from it.

The model is a small GPT-2 trained by `models/train_demo.py` (see docs/demo-model.md); its
weights and tokenizer ship inside the package, so the demo runs offline.
"""

from __future__ import annotations

from pathlib import Path

from ..files import write_atomic
from .errors import ModelError

DEMO_MODEL = Path(__file__).parent / "demo_model"
_FILES = ("config.json", "model.safetensors", "tokenizer.json")


def demo_model_dir() -> Path:
    """The bundled demo model's directory (a one-line error if the install lacks it)."""
    missing = [name for name in _FILES if not (DEMO_MODEL / name).is_file()]
    if missing:
        raise ModelError(
            f"the bundled demo model is incomplete ({', '.join(missing)} missing in "
            f"{DEMO_MODEL}): reinstall headcode, or give --model"
        )
    return DEMO_MODEL


def write_corpus(path: str | Path, texts: list[str]) -> Path:
    """Texts as a blank-line separated paragraph file (what `--text` reads back)."""
    if any("\n\n" in text for text in texts):
        raise ModelError("a corpus text contains a blank line: it would read back as two")
    path = Path(path)
    write_atomic(path, "\n\n".join(texts) + "\n")
    return path

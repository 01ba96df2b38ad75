"""Shared test settings: hypothesis runs 200 examples per property, and the location of the
shared material (`../shared` beside the repository).

Two tiers: tests/unit needs nothing but the repository (no ../shared, no downloads);
tests/integration runs real models and texts from ../shared, skips without them, and is marked
`integration` (tests/integration/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "headcode", max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("headcode")

ROOT = Path(__file__).resolve().parents[1]  # the repository
SHARED = ROOT.parent / "shared"
STORIES = SHARED / "models" / "stories260K"
GPT2_TOKENIZER = SHARED / "tokenizers" / "gpt2"
VALID_TEXT = SHARED / "data" / "tinystories" / "valid-a.txt"
SMOLLM2_GGUF = SHARED / "models" / "smollm2-135m-instruct" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def need_shared(path: Path) -> Path:
    """`path` inside ../shared, or skip the test with the reason."""
    if not path.exists():
        pytest.skip(f"needs {path} (the shared material beside the repository)")
    return path


@pytest.fixture(scope="module")
def one_thread():
    """Torch on one thread for a test module (the machine's two cores are shared)."""
    from headcode.models.tiny import torch_threads

    with torch_threads(1):
        yield


def random_rows(lengths, vocab: int, seed: int = 0):
    """Token rows of random ids (no BOS, texts `t<id>`), one per length: model inputs for tests."""
    import torch

    from headcode.dsl.tokens import Tokens

    gen = torch.Generator().manual_seed(seed)
    rows = []
    for n in lengths:
        ids = torch.randint(0, vocab, (n,), generator=gen).tolist()
        rows.append(Tokens(ids=ids, texts=[f"t{i}" for i in ids], special=[False] * n))
    return rows


def run_cli(monkeypatch, capsys, *args):
    """Run `headcode ARGS` in-process through its entry point: (exit code, stdout, stderr)."""
    import sys

    from headcode.cli import main

    monkeypatch.setattr(sys, "argv", ["headcode", *map(str, args)])
    with pytest.raises(SystemExit) as exited:
        main()
    out = capsys.readouterr()
    return exited.value.code or 0, out.out, out.err

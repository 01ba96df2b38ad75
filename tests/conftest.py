"""Shared test settings: hypothesis runs 200 examples per property, and the location of the
shared material (`../shared` beside the repository), which tests skip without."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "headcode", max_examples=200, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("headcode")

SHARED = Path(__file__).resolve().parents[2] / "shared"
STORIES = SHARED / "models" / "stories260K"
GPT2_TOKENIZER = SHARED / "tokenizers" / "gpt2"
VALID_TEXT = SHARED / "data" / "tinystories" / "valid-a.txt"


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

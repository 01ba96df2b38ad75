"""How the LLM proposer asks: server, model, prompt, candidates, time limits. One set of
defaults, declared here; light to import (the CLI reads its defaults from it)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

PROMPTS = ("full", "compact")


def default_cache_dir() -> Path:
    """`$XDG_CACHE_HOME/headcode/llm`, else `~/.cache/headcode/llm`."""
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / "headcode" / "llm"


@dataclass(frozen=True)
class LLMConfig:
    """Where and how to ask. `base_url` None is OpenAI's API; `api_key` None reads the
    environment; `timeout` is seconds per request (a request that timed out while the server
    computes it is not sent again); `log_path` None logs to `cache_dir/requests.jsonl` (nowhere
    without a cache directory); `grammar_dialect` matters for vLLM only; `prices` overrides the
    price table; `prompt` is `full` or `compact` (fewer examples and edges, for small models);
    `candidates` is how many programs one proposal asks for."""

    backend: str
    model: str
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 600.0  # a 6k-token prompt on a 2-core local server takes minutes
    retries: int = 4
    backoff: float = 1.0
    max_backoff: float = 30.0
    cache_dir: Path | None = field(default_factory=default_cache_dir)
    log_path: Path | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    grammar_dialect: str = "gbnf"
    prices: Mapping[str, tuple[float, float]] | None = None
    prompt: str = "full"
    candidates: int = 8

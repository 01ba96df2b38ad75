"""Token counts and their price: the run log's JSON lines and what they add up to.

Prices are US dollars per million tokens (input, output) as published by OpenAI in 2025; they
change, so pass your own table to `LLMConfig(prices=...)`. A model missing from the table (any
local model) has cost null. Cached input tokens are billed at full price here: an upper bound.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from pathlib import Path

PRICES_PER_MILLION: dict[str, tuple[float, float]] = {
    "gpt-5": (1.25, 10.0),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.0),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.0, 8.0),
    "o4-mini": (1.10, 4.40),
}
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # gpt-4o-2024-08-06 is priced as gpt-4o


def usage_tokens(reply: dict) -> tuple[int | None, int | None]:
    """(input, output) tokens of a chat-completions or responses reply, None where absent."""
    usage = reply.get("usage") or {}
    got_in = usage.get("input_tokens", usage.get("prompt_tokens"))
    got_out = usage.get("output_tokens", usage.get("completion_tokens"))
    return got_in, got_out


def cost_usd(model: str, input_tokens: int | None, output_tokens: int | None,
             prices: Mapping[str, tuple[float, float]] | None = None) -> float | None:
    """The price of one request, or None for an unknown model or missing counts."""
    table = PRICES_PER_MILLION if prices is None else prices
    price = table.get(model) or table.get(_SNAPSHOT.sub("", model))
    if price is None or input_tokens is None or output_tokens is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1e6


class RunLog:
    """Appends one JSON line per request to `path` (None: keeps nothing), tagged with `run`."""

    def __init__(self, path: Path | str | None, run: str):
        self.path = Path(path) if path is not None else None
        self.run = run

    def record(self, **fields) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "run": self.run, **fields}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, ensure_ascii=False) + "\n")


def read_log(path: Path | str) -> list[dict]:
    """Every entry of a run log."""
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def totals(entries: list[dict], run: str | None = None) -> dict:
    """Requests, cache hits, tokens and dollars of the entries (of one run if given); tokens and
    dollars count only requests that reached a server; cost is None if any was unpriced."""
    chosen = [e for e in entries if run is None or e.get("run") == run]
    sent = [e for e in chosen if e.get("status") == "ok" and not e.get("cached")]
    costs = [e.get("cost_usd") for e in sent]
    return {
        "requests": len(chosen),
        "cached": sum(1 for e in chosen if e.get("cached")),
        "failed": sum(1 for e in chosen if e.get("status") != "ok"),
        "input_tokens": sum(e.get("input_tokens") or 0 for e in sent),
        "output_tokens": sum(e.get("output_tokens") or 0 for e in sent),
        "cost_usd": None if any(c is None for c in costs) else sum(costs),
    }

"""Server replies kept on disk by request hash: a re-run sends nothing it sent before.

The key covers the server address, the whole request body and a draw number: the k-th identical
request of a run is the k-th draw, so a run that asks the same thing twice still gets two
samples, and a re-run replays both from disk.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def request_key(base_url: str, body: dict, draw: int = 0) -> str:
    """A hex digest naming the request (the API key is never part of it)."""
    canonical = json.dumps({"base_url": base_url, "body": body, "draw": draw},
                           sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class ReplyCache:
    """One JSON file per reply under `directory`, in subfolders by the key's first two digits."""

    def __init__(self, directory: Path | str):
        self.directory = Path(directory)

    def _path(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict | None:
        """The stored reply, or None (a missing or unreadable entry is a miss)."""
        try:
            return json.loads(self._path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def put(self, key: str, reply: dict) -> None:
        """Store atomically: a crash never leaves half a file behind."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(reply, ensure_ascii=False), encoding="utf-8")
        os.replace(partial, path)

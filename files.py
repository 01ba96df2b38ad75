"""File helpers shared by every part that writes user-visible files."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import HeadcodeError


def write_atomic(path: str | Path, text: str) -> None:
    """Write a text file so that a reader (or a crash) never sees half of it."""
    path = Path(path)
    if path.is_dir():
        raise HeadcodeError(f"{path}: is a directory")
    if not path.parent.is_dir():
        what = "not a directory" if path.parent.exists() else "no such directory"
        raise HeadcodeError(f"{path.parent}: {what}")
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:  # named by the file asked for, not the temporary one
        tmp.unlink(missing_ok=True)
        raise HeadcodeError(f"cannot write {path}: {e.strerror or e}") from None

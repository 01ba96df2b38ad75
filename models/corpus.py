"""Corpora: the texts a command runs on, one text (paragraph) per sequence.

Three sources, chosen by what `source` names:
- a plain-text file: paragraphs separated by blank lines (lines inside a paragraph are kept);
- a `.jsonl` file: one JSON object per line, its `text_field` is the text;
- otherwise a Hugging Face dataset name (`name` or `name:config`), read with the optional
  `datasets` package.
Either the first `n` texts in file order, or with `shuffle=True` a random sample of `n` texts
drawn with `seed` (in the sampled order).
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from .errors import ModelError


class CorpusError(ModelError):
    """A corpus is missing, malformed or empty."""


_BLANK_LINES = re.compile(r"\n[ \t\r\f\v]*\n")


def split_paragraphs(text: str) -> list[str]:
    """Paragraphs of a text: blocks separated by blank lines, stripped, empty ones dropped."""
    text = text.replace("\r\n", "\n")
    return [p.strip() for p in _BLANK_LINES.split(text) if p.strip()]


def read_text(path: str | Path) -> list[str]:
    """The paragraphs of a plain-text file."""
    try:
        return split_paragraphs(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CorpusError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise CorpusError(f"cannot read {path}: {error.strerror or error}") from None


def read_jsonl(path: str | Path, text_field: str = "text") -> list[str]:
    """The `text_field` of every line of a JSONL file (blank texts skipped)."""
    texts = []
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                except json.JSONDecodeError as error:
                    raise CorpusError(f"{path}:{number}: not JSON ({error.msg})") from None
                if not isinstance(record, dict) or text_field not in record:
                    raise CorpusError(f"{path}:{number}: no field {text_field!r}")
                value = record[text_field]
                if not isinstance(value, str):
                    raise CorpusError(f"{path}:{number}: field {text_field!r} is not a string")
                if value.strip():
                    texts.append(value)
    except UnicodeDecodeError:
        raise CorpusError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise CorpusError(f"cannot read {path}: {error.strerror or error}") from None
    return texts


def read_dataset(name: str, text_field: str = "text", split: str = "train") -> list[str]:
    """The non-blank `text_field` values of a Hugging Face dataset split (`name[:config]`)."""
    try:
        import datasets
    except ImportError:
        raise CorpusError(
            f"no file {name!r}; reading it as a Hugging Face dataset needs the `datasets` "
            "package (pip install datasets)"
        ) from None
    dataset_name, _, config = name.partition(":")
    try:
        data = datasets.load_dataset(dataset_name, config or None, split=split)
    except Exception as error:  # noqa: BLE001 - datasets raises many kinds here
        reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CorpusError(f"cannot load dataset {name!r}: {reason}") from None
    if text_field not in data.column_names:
        raise CorpusError(f"dataset {name!r} has no field {text_field!r}")
    return [t for t in data[text_field] if isinstance(t, str) and t.strip()]


def _looks_like_path(source: str) -> bool:
    """True for names that can only be file paths (a dataset id is `owner/name[:config]`)."""
    suffix = Path(source).suffix.lower() in {".txt", ".jsonl", ".json", ".md", ".text"}
    explicit = source.startswith(("/", ".", "~")) or "\\" in source or source.count("/") > 1
    return suffix or explicit


def load_corpus(
    source: str | Path,
    *,
    n: int | None = None,
    shuffle: bool = False,
    seed: int = 0,
    text_field: str = "text",
    split: str = "train",
) -> list[str]:
    """Up to `n` texts of a corpus (all with `n=None`): the first ones, or a seeded sample."""
    if n is not None and n < 1:
        raise CorpusError(f"the number of sequences must be at least 1 (got {n})")
    path = Path(source)
    if path.is_dir():
        raise CorpusError(f"{source}: is a directory, not a text or JSONL file")
    if path.is_file():
        jsonl = path.suffix.lower() == ".jsonl"
        texts = read_jsonl(path, text_field) if jsonl else read_text(path)
    elif _looks_like_path(str(source)):
        raise CorpusError(f"no such file: {source}")
    else:
        texts = read_dataset(str(source), text_field, split)
    if not texts:
        raise CorpusError(f"{source}: the corpus is empty (no non-blank text)")
    if n is None or n >= len(texts):
        if shuffle:
            texts = random.Random(seed).sample(texts, len(texts))
        return texts
    if shuffle:
        picked = random.Random(seed).sample(range(len(texts)), n)
        return [texts[i] for i in picked]
    return texts[:n]

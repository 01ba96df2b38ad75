"""From text to tokens: load any Hugging Face tokenizer and apply the `text` feature rule.

The `text` of a token is its own text with the tokenizer's leading-space marker (GPT-2 `Ġ`,
SentencePiece `▁`) turned into a space and byte tokens decoded where they form valid UTF-8
(the bytes of a split character are written as `\\xNN` escapes).
"""

from __future__ import annotations

import json
import re
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import TokenizerError

_BYTE_TOKEN = re.compile(r"^<0x([0-9A-Fa-f]{2})>$")


@dataclass(frozen=True)
class Tokens:
    """One tokenized sequence: ids, texts per the `text` rule, and special-token flags."""

    ids: list[int]
    texts: list[str]
    special: list[bool]

    def __len__(self) -> int:
        return len(self.ids)


def looks_local(name: str) -> bool:
    """Whether `name` can only be a local path (a hub id is `NAME` or `OWNER/NAME`)."""
    return name.startswith(("/", ".", "~")) or name.count("/") > 1


# Loaders of tokenizers stored inside a model file, by the file's suffix (`.gguf`): filled by
# the modules that know those formats (models/gguf.py), so that this module knows no model.
FILE_TOKENIZERS: dict[str, Callable[[str], object]] = {}


def load_tokenizer(name: str):
    """A tokenizer from a local directory or a hub id (a local directory never touches the network).

    A directory holding only GPT-2 style `vocab.json` and `merges.txt` also works, and so does
    a model file whose suffix is in `FILE_TOKENIZERS`.
    """
    from transformers import AutoTokenizer, GPT2TokenizerFast

    path = Path(name).expanduser()
    file_loader = FILE_TOKENIZERS.get(path.suffix.lower())
    if file_loader is not None and not path.is_dir():
        return file_loader(name)
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


@lru_cache(maxsize=1)
def _byte_decoder() -> dict[str, int]:
    """GPT-2's printable-character stand-ins for the 256 bytes, inverted."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return {c: b for b, c in chars.items()}


_BYTE_LEVEL: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _is_byte_level(tokenizer) -> bool:
    """Whether the tokenizer is GPT-2 style byte-level (computed once per tokenizer)."""
    try:
        return _BYTE_LEVEL[tokenizer]
    except (KeyError, TypeError):
        pass
    answer = _detect_byte_level(tokenizer)
    try:
        _BYTE_LEVEL[tokenizer] = answer
    except TypeError:  # not weakly referable: just do not cache
        pass
    return answer


def _detect_byte_level(tokenizer) -> bool:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is not None:
        return '"ByteLevel"' in json.dumps(json.loads(backend.to_str()).get("decoder"))
    return "Ġ" in "".join(list(tokenizer.get_vocab())[:2000])


def _decode_bytes(data: bytes) -> str:
    """UTF-8 where it decodes; bytes that do not (a split character) become `\\xNN` escapes."""
    return data.decode("utf-8", errors="backslashreplace")


def token_text(raw: str, byte_level: bool) -> str:
    """The `text` feature of one raw vocabulary entry."""
    if byte_level:
        table = _byte_decoder()
        if all(c in table for c in raw):
            return _decode_bytes(bytes(table[c] for c in raw))
        return raw
    match = _BYTE_TOKEN.match(raw)
    if match:
        return _decode_bytes(bytes([int(match.group(1), 16)]))
    return raw.replace("▁", " ")


def tokens_from_ids(tokenizer, ids: list[int]) -> Tokens:
    """Texts and special flags for token ids of `tokenizer`."""
    ids = [int(i) for i in ids]
    specials = set(tokenizer.all_special_ids)
    byte_level = _is_byte_level(tokenizer)
    raws = tokenizer.convert_ids_to_tokens(ids)
    texts = [
        raw if i in specials else token_text(raw, byte_level) for i, raw in zip(ids, raws)
    ]
    return Tokens(ids=ids, texts=texts, special=[i in specials for i in ids])


def tokenize(tokenizer, text: str, max_tokens: int | None = None) -> Tokens:
    """Tokenize `text` the tokenizer's own way (BOS added where the tokenizer adds it)."""
    if not text.strip():
        raise TokenizerError("the text is empty")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:  # e.g. undecodable bytes from the command line
        raise TokenizerError(f"the text is not valid UTF-8 (character {e.start + 1}: "
                             f"{text[e.start]!r})") from None
    ids = tokenizer(text, add_special_tokens=True)["input_ids"]
    if max_tokens is not None:
        ids = ids[:max_tokens]
    return tokens_from_ids(tokenizer, ids)

"""From text to tokens: apply a tokenizer and the `text` feature rule (loading a tokenizer is
`headcode.models.tokenizer`'s job; this module imports no model library).

The `text` of a token is its own text with the tokenizer's leading-space marker (GPT-2 `Ġ`,
SentencePiece `▁`) turned into a space and byte tokens decoded where they form valid UTF-8
(the bytes of a split character are written as `\\xNN` escapes).
"""

from __future__ import annotations

import json
import re
import weakref
from dataclasses import dataclass
from functools import lru_cache

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

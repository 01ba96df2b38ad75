"""Regular expressions (the subset grammar terminals use) as GBNF sequences.

Read: literal characters, escapes (`\\.`, `\\n`, `\\t`, `\\xNN`, ...), `.` (any character but a
newline, as in Python without DOTALL), character classes with ranges and negation, groups `(...)`
and `(?:...)`, alternation `|`, and the greedy quantifiers `*` `+` `?` `{m}` `{m,}` `{m,n}`.
Anchors, look-around, back-references, lazy quantifiers and the Unicode-dependent classes `\\d`
`\\s` `\\w` raise ValueError: GBNF has no counterpart to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NoReturn

_CONTROL = {"n": "\n", "t": "\t", "r": "\r", "f": "\f", "v": "\v", "0": "\0"}


@dataclass(frozen=True)
class _Char:
    char: str


@dataclass(frozen=True)
class _Class:
    body: str  # a GBNF class body, e.g. `^"\\` or `A-Za-z_`


@dataclass(frozen=True)
class _Repeat:
    item: object
    low: int
    high: int | None


@dataclass(frozen=True)
class _Seq:
    items: tuple


@dataclass(frozen=True)
class _Alt:
    options: tuple


def regex_to_gbnf(regex: str, bracket: bool = False) -> str:
    """A GBNF expression matching exactly the strings `regex` fully matches; with `bracket`,
    one item that a quantifier can follow."""
    reader = _Reader(regex)
    tree = reader.alternation()
    if not reader.done():
        raise ValueError(f"unbalanced ')' in /{regex}/")
    if bracket and isinstance(tree, _Repeat):
        return f"({_render(tree)})"
    return _render(tree, top=not bracket)


def gbnf_string(text: str) -> str:
    """A GBNF string literal."""
    return '"' + "".join(_escape(c, '"\\') for c in text) + '"'


def _escape(char: str, special: str, as_hex: str = "") -> str:
    """One character inside a GBNF string or class: printable ASCII as is, `special` characters
    backslash-escaped, control characters and `as_hex` written `\\xNN`."""
    if char in special:
        return "\\" + char
    named = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
    if char in named:
        return named[char]
    code = ord(char)
    if code < 0x20 or code == 0x7F or char in as_hex:
        return f"\\x{code:02X}"
    return char


def _class_member(char: str) -> str:
    """A class member; `-` and `^` as `\\xNN`: llama.cpp reads no `\\-` or `\\^`."""
    return _escape(char, "\\]", as_hex="-^")


class _Reader:
    """Recursive descent over the regex text."""

    def __init__(self, regex: str):
        self.text = regex
        self.at = 0

    def done(self) -> bool:
        return self.at >= len(self.text)

    def peek(self) -> str:
        return self.text[self.at] if not self.done() else ""

    def take(self) -> str:
        char = self.peek()
        if not char:
            raise ValueError(f"unexpected end of /{self.text}/")
        self.at += 1
        return char

    def fail(self, what: str) -> NoReturn:
        raise ValueError(f"{what} at {self.at} of /{self.text}/ has no GBNF counterpart")

    def alternation(self):
        options = [self.sequence()]
        while self.peek() == "|":
            self.take()
            options.append(self.sequence())
        return options[0] if len(options) == 1 else _Alt(tuple(options))

    def sequence(self):
        items = []
        while not self.done() and self.peek() not in "|)":
            items.append(self.quantified())
        if not items:
            self.fail("an empty alternative")
        return items[0] if len(items) == 1 else _Seq(tuple(items))

    def quantified(self):
        item = self.atom()
        while self.peek() and self.peek() in "*+?{":
            char = self.take()
            if char == "{":
                low, high = self.braces()
            else:
                low, high = {"*": (0, None), "+": (1, None), "?": (0, 1)}[char]
            if self.peek() in ("?", "+"):
                self.fail("a lazy or possessive quantifier")
            item = _Repeat(item, low, high)
        return item

    def braces(self) -> tuple[int, int | None]:
        end = self.text.find("}", self.at)
        if end < 0:
            self.fail("an unclosed '{'")
        low_text, comma, high_text = self.text[self.at:end].partition(",")
        self.at = end + 1
        if not low_text.isdigit() or (high_text and not high_text.isdigit()):
            self.fail("a malformed {m,n}")
        low = int(low_text)
        return low, (int(high_text) if high_text else None) if comma else low

    def atom(self):
        char = self.take()
        if char == "(":
            if self.peek() == "?":
                self.take()
                if self.take() != ":":
                    self.fail("a look-around or named group")
            inner = self.alternation()
            if self.take() != ")":
                self.fail("an unclosed '('")
            return inner
        if char == "[":
            return self.char_class()
        if char == ".":
            return _Class("^\\n")
        if char == "\\":
            return self.escape()
        if char in "^$":
            self.fail("an anchor")
        if char in "*+?{)":
            self.fail(f"a misplaced {char!r}")
        return _Char(char)

    def escape(self):
        char = self.take()
        if char in _CONTROL:
            return _Char(_CONTROL[char])
        if char == "x":
            return _Char(self.hex_char())
        if char.isalnum():
            self.fail(f"the escape \\{char}")
        return _Char(char)

    def hex_char(self) -> str:
        digits = self.text[self.at:self.at + 2]
        if len(digits) != 2 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            self.fail("a malformed \\x escape")
        self.at += 2
        return chr(int(digits, 16))

    def char_class(self) -> _Class:
        body = ""
        if self.peek() == "^":
            body += self.take()
        first = True
        while first or self.peek() != "]":
            first = False
            body += self.class_char()
            if self.peek() == "-" and self.text[self.at + 1:self.at + 2] not in ("]", ""):
                self.take()
                body += "-" + self.class_char()
        self.take()
        return _Class(body)

    def class_char(self) -> str:
        """One member of a class, as GBNF class text."""
        char = self.take()
        if char == "[":
            self.fail("a nested class or POSIX class")
        if char != "\\":
            return _class_member(char)
        char = self.take()
        if char in _CONTROL:
            return _class_member(_CONTROL[char])
        if char == "x":
            return _class_member(self.hex_char())
        if char.isalnum():
            self.fail(f"the escape \\{char}")
        return _class_member(char)


def _render(node, top: bool = False) -> str:
    """GBNF text for `node`; bracketed unless `top` (a whole rule body or alternative)."""
    if isinstance(node, _Char):
        return gbnf_string(node.char)
    if isinstance(node, _Class):
        return f"[{node.body}]"
    if isinstance(node, _Repeat):
        return _render(node.item) + quantifier(node.low, node.high)
    if isinstance(node, _Seq):
        text = " ".join(_merge_chars(node.items))
    else:
        text = " | ".join(_render(option, top=True) for option in node.options)
    return text if top else f"({text})"


def _merge_chars(items) -> list[str]:
    """Adjacent plain characters become one string literal: `"a" "b"` -> `"ab"`."""
    out: list[str] = []
    run = ""
    for item in items:
        if isinstance(item, _Char):
            run += item.char
            continue
        if run:
            out.append(gbnf_string(run))
            run = ""
        out.append(_render(item))
    if run:
        out.append(gbnf_string(run))
    return out


def quantifier(low: int, high: int | None) -> str:
    """The GBNF suffix for `low` to `high` repetitions (`high` None: unbounded)."""
    simple = {(0, None): "*", (1, None): "+", (0, 1): "?"}.get((low, high))
    if simple:
        return simple
    if high is None:
        return f"{{{low},}}"
    return f"{{{low}}}" if low == high else f"{{{low},{high}}}"

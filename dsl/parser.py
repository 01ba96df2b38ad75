"""Text to syntax tree: the Lark grammar in `grammars/headcode.lark`, then a tree transformer.

`parse_expr` reads one expression (the command line, an LLM reply); `parse_file` reads a file of
named programs and head assignments, keeping its comments for the formatter.
"""

from __future__ import annotations

import ast as _pyast
import difflib
import re
import threading
import warnings
from dataclasses import replace
from functools import lru_cache
from importlib.resources import files

from lark import Lark, Token, Transformer, Tree, v_args
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, VisitError

from . import nodes as n
from .errors import ParseError, Position, ProgramErrors

CALLS = ("prev", "window", "keys", "same", "last", "shift", "start", "decay", "mix", "softmax")


def grammar_text() -> str:
    """The language's Lark grammar, as shipped in the package."""
    return (files("headcode.grammars") / "headcode.lark").read_text(encoding="utf-8")


def _parser(start: str, **options) -> Lark:
    return Lark(grammar_text(), start=start, parser="lalr", propagate_positions=True, **options)


_EXPR_PARSER = lru_cache(maxsize=1)(lambda: _parser("single"))
_comments = threading.local()  # where the file parser's lexer puts the comments it skips


def _keep_comment(token: Token) -> None:
    _comments.found.append(token)


_FILE_PARSER = lru_cache(maxsize=1)(
    lambda: _parser("file", lexer_callbacks={"COMMENT": _keep_comment})
)


def _position(meta_or_token) -> Position | None:
    line = getattr(meta_or_token, "line", None)
    col = getattr(meta_or_token, "column", None)
    return Position(line, col) if line is not None and col is not None else None


def _string_value(token: Token) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            value = _pyast.literal_eval(str(token))
        except (SyntaxError, ValueError, SyntaxWarning) as e:
            raise ParseError("malformed string literal", _position(token)) from e
    return value


@v_args(meta=True)
class _ToTree(Transformer):
    """Lark parse tree to `nodes`; every node carries the position where it starts."""

    def __default__(self, data, children, meta):  # pragma: no cover - grammar and class agree
        raise ParseError(f"internal: no rule for {data}", _position(meta))

    # literals
    def number(self, meta, c):
        text = str(c[0])
        if any(ch in text for ch in ".eE"):
            return n.Num(float(text), _position(c[0]))
        if len(text) > 30:  # far out of range; int() of thousands of digits raises
            raise ParseError(f"number {text[:12]}... is too long", _position(c[0]))
        return n.Num(int(text), _position(c[0]))

    def hole(self, meta, c):
        return n.Hole(_position(meta))

    def string(self, meta, c):
        return n.Str(_string_value(c[0]), _position(c[0]))

    def negate(self, meta, c):
        operand = c[0]
        if isinstance(operand, n.Num):
            return n.Num(-operand.value, _position(meta))
        if isinstance(operand, n.Hole):
            raise ParseError("a hole takes no sign: its value, sign included, is fitted",
                             _position(meta), hint="write ? alone")
        raise ParseError("only numbers can be negated", _position(meta),
                         hint="for selectors write `A - B`, for predicates `not P`")

    def literal(self, meta, c):
        token = c[0]
        if token.type == "STRING":
            return n.Str(_string_value(token), _position(token))
        return self.number(meta, [token])

    def negative(self, meta, c):
        num = self.number(meta, c)
        return n.Num(-num.value, _position(meta))

    # predicates
    def feature(self, meta, c):
        side, name = str(c[0]).split(".")
        return n.Feature(side, name, _position(meta))

    def compare(self, meta, c):
        return n.Compare(str(c[1]), c[0], c[2], _position(meta))

    def member(self, meta, c):
        return n.Member(c[0], tuple(c[1:]), _position(meta))

    def not_(self, meta, c):
        return n.Not(c[0], _position(meta))

    def and_(self, meta, c):
        return n.And(c[0], c[1], _position(meta))

    def or_(self, meta, c):
        return n.Or(c[0], c[1], _position(meta))

    # selectors
    def self_(self, meta, c):
        return n.Self(_position(meta))

    def first(self, meta, c):
        return n.First(_position(meta))

    def causal(self, meta, c):
        return n.Causal(_position(meta))

    def prev(self, meta, c):
        return n.Prev(c[0], _position(meta))

    def window(self, meta, c):
        return n.Window(c[0], c[1], _position(meta))

    def keys(self, meta, c):
        return n.Keys(c[0], _position(meta))

    def same(self, meta, c):
        return n.Same(str(c[0]), _position(meta))

    def last(self, meta, c):
        return n.Last(c[0], c[1] if len(c) > 1 else None, _position(meta))

    def shift(self, meta, c):
        return n.Shift(c[0], c[1], _position(meta))

    def start(self, meta, c):
        return n.Start(str(c[0]), _position(meta))

    def union(self, meta, c):
        return n.SetOp("|", c[0], c[1], _position(meta))

    def intersect(self, meta, c):
        return n.SetOp("&", c[0], c[1], _position(meta))

    def minus(self, meta, c):
        return n.SetOp("-", c[0], c[1], _position(meta))

    # patterns
    def decay(self, meta, c):
        return n.Decay(c[0], c[1], _position(meta))

    def weighted(self, meta, c):
        return (c[0], c[1])

    def mix(self, meta, c):
        return n.Mix(tuple(c), _position(meta))

    def fallback(self, meta, c):
        return n.Fallback(c[0], c[1], _position(meta))

    def choose(self, meta, c):
        return n.Choose(c[0], c[1], c[2], _position(meta))

    def indicator(self, meta, c):
        return n.Term(c[0], c[1], _position(meta))

    def bare_indicator(self, meta, c):
        return n.Term(n.Num(1), c[0], _position(meta))

    def distance(self, meta, c):
        return n.Term(c[0], None, _position(meta))

    def bare_distance(self, meta, c):
        return n.Term(n.Num(1), None, _position(meta))

    def positive_term(self, meta, c):
        return c[0]

    def negative_term(self, meta, c):
        term = c[0]
        if isinstance(term.coef, n.Hole):
            raise ParseError("a hole takes no sign: its value, sign included, is fitted",
                             _position(meta), hint="write `+ ? * [...]`")
        return n.Term(n.Num(-term.coef.value), term.indicator, term.pos)

    def softmax(self, meta, c):
        return n.Softmax(tuple(c), _position(meta))

    def ref(self, meta, c):
        return n.Ref(str(c[0]), _position(c[0]))

    # files and entry points
    def single(self, meta, c):
        return c[0]

    def definition(self, meta, c):
        return n.Definition(str(c[0]), c[1], _position(meta))

    def assignment(self, meta, c):
        layer, head = str(c[0]).split(".")
        return n.Assignment(int(layer), int(head), c[1], _position(meta))

    def file(self, meta, c):
        return list(c)


def _describe(error: UnexpectedInput, text: str) -> ParseError:
    """A Lark error as a one-line message with a position and, where it helps, a hint."""
    pos = Position(error.line, error.column) if error.line and error.line > 0 else None
    token = getattr(error, "token", None)
    if isinstance(error, UnexpectedEOF) or (token is not None and token.type == "$END"):
        body = text.rstrip()
        end = Position(body.count("\n") + 1, len(body) - body.rfind("\n"))
        return ParseError("unexpected end of program", end,
                          hint="an expression or a closing bracket is missing")
    if isinstance(error, UnexpectedCharacters):
        char = text[error.pos_in_stream] if error.pos_in_stream < len(text) else "?"
        return ParseError(f"unexpected character {char!r}", pos)
    called = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*$", text[: token.start_pos or 0])
    if str(token) == "(" and called and called.group(1) not in CALLS:
        name = called.group(1)
        close = difflib.get_close_matches(name, CALLS, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"functions: {', '.join(CALLS)}"
        column = pos.col - len(text[: token.start_pos]) + called.start(1) if pos else None
        return ParseError(f"unknown function {name!r}",
                          Position(pos.line, column) if pos else None, hint=hint)
    hint = None
    if token.type in ("HEAD_ID", "NUMBER") and "." in str(token):
        hint = "head assignments read `head LAYER.HEAD = program`"
    return ParseError(f"unexpected {str(token)!r}", pos, hint=hint)


# Parse-tree rules that make no node of their own (they do not count as nesting).
_WRAPPERS = frozenset({"single", "file", "definition", "assignment", "weighted",
                       "positive_term", "negative_term"})


def _too_deep(tree: Tree) -> ParseError | None:
    """The error of a parse tree nested beyond `nodes.MAX_DEPTH` (counted as the nodes it
    makes, without recursion), found before anything recurses over it; else None."""
    stack = [(tree, 0)]
    while stack:
        here, level = stack.pop()
        level += here.data not in _WRAPPERS
        if level > n.MAX_DEPTH:
            return n.too_deep(_position(here.meta), ParseError)
        stack.extend((c, level) for c in here.children if isinstance(c, Tree))
    return None


def _tree(text: str, parser: Lark) -> Tree:
    try:
        return parser.parse(text)
    except UnexpectedInput as e:
        raise _describe(e, text) from None


def _parse(text: str, parser: Lark):
    return _build(_tree(text, parser))


def _build(tree: Tree):
    """A parse tree as nodes; every item nested too deeply is reported (a file's syntax is
    sound here, so no item needs parsing again)."""
    items = tree.children if tree.data == "file" else [tree]
    errors = [e for e in map(_too_deep, items) if e is not None]
    if errors:
        raise errors[0] if len(errors) == 1 else ProgramErrors(errors)
    try:
        return _ToTree().transform(tree)
    except VisitError as e:  # a ParseError raised inside the transformer arrives wrapped
        # a ParseError is the user's; anything else is a bug, shown without Lark's wrapper
        raise e.orig_exc from None


def parse_expr(text: str) -> n.Node:
    """One expression, e.g. `last(k.period) ?? first`."""
    if not text.strip():
        raise ParseError("empty program", Position(1, 1))
    return _parse(text, _EXPR_PARSER())


def parse_file(text: str) -> n.ProgramFile:
    """A file of `name = expr` definitions and `head L.H = expr` assignments with `#` comments."""
    comments: list[Token] = []
    _comments.found = comments
    try:
        tree = _tree(text, _FILE_PARSER())
    except ParseError as first:
        errors = _errors_by_item(text) or [first]
        raise (errors[0] if len(errors) == 1 else ProgramErrors(errors)) from None
    return _attach_comments(_build(tree), comments, text)


_ITEM_START = re.compile(r"^(head\s|[A-Za-z_][A-Za-z0-9_]*\s*=)")


def _errors_by_item(text: str) -> list[ParseError]:
    """After a failed parse, parse item by item (a line starting `name =` or `head` begins
    one) so that every broken item is reported, not only the first."""
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if _ITEM_START.match(line)]
    if not starts or starts[0] != 0:
        starts = [0, *starts]
    errors = []
    parser = _FILE_PARSER()
    for begin, end in zip(starts, [*starts[1:], len(lines)]):
        chunk = "\n" * begin + "".join(lines[begin:end])  # keeps line numbers right
        try:
            _parse(chunk, parser)
        except ParseError as e:
            errors.append(e)
        except ProgramErrors as e:  # several items too deep in one chunk
            errors.extend(e.errors)
    return errors


def _attach_comments(items: list, comments: list[Token], text: str) -> n.ProgramFile:
    """Give each item the comments above it and the one at the end of its last line."""
    lines = text.splitlines()
    pending = sorted(comments, key=lambda t: (t.line, t.column))
    out = []
    for index, item in enumerate(items):
        start = item.pos.line
        end = items[index + 1].pos.line - 1 if index + 1 < len(items) else len(lines)
        above = [c for c in pending if c.line < start]
        mine = [c for c in pending if start <= c.line <= end]
        # a comment alone on its line after the item belongs above the next item
        own_line = [c for c in mine if not lines[c.line - 1][: c.column - 1].strip()]
        inline = [c for c in mine if c not in own_line]
        # the item prints on one line: the last line's comment stays at its end, comments
        # inside a multi-line item go above it, each on its own line
        above, inline = above + inline[:-1], inline[-1:]
        pending = own_line + [c for c in pending if c.line > end]
        previous = out[-1].pos.line if out else start
        blank = any(not lines[i - 1].strip() for i in range(previous + 1, start))
        out.append(replace(
            item,
            comments=tuple(_comment_text(c) for c in above),
            trailing=_comment_text(inline[0]) if inline else None,
            blank_before=blank,
        ))
    return n.ProgramFile(tuple(out), tuple(_comment_text(c) for c in pending))


def _comment_text(token: Token) -> str:
    return str(token)[1:].strip()

"""Every error the language raises, in one place.

All of them derive from `headcode.errors.HeadcodeError` (re-exported here for the language's own
callers); callers that accept user input catch that one class.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import HeadcodeError

__all__ = [
    "EvaluationError", "HeadcodeError", "ParseError", "Position", "ProgramError",
    "ProgramErrors", "TokenizerError", "TypeCheckError",
]


@dataclass(frozen=True)
class Position:
    """1-based line and column of a node or error in its source text."""

    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.line}:{self.col}"


class ProgramError(HeadcodeError):
    """A program failed to parse or to type-check; carries its position in the source."""

    kind = "error"
    source: str | None = None  # the file the program came from, once known

    def __init__(self, message: str, pos: Position | None = None, hint: str | None = None):
        self.message = message
        self.pos = pos
        self.hint = hint
        super().__init__(self.describe())

    def describe(self, filename: str | None = None) -> str:
        """`FILE:LINE:COL: message (hint)`, leaving out the parts that are unknown; the
        program's own `source` file, when known, is named instead of `filename`."""
        where = ":".join(
            part for part in (self.source or filename, str(self.pos) if self.pos else None)
            if part
        )
        text = self.message + (f" ({self.hint})" if self.hint else "")
        return f"{where}: {text}" if where else text


class ParseError(ProgramError):
    """The text is not in the language's grammar."""


class TypeCheckError(ProgramError):
    """The program parses but is ill-typed or out of range."""


class ProgramErrors(HeadcodeError):
    """Several errors found in one file; `errors` lists them in source order."""

    def __init__(self, errors: list[ProgramError]):
        self.errors = errors
        super().__init__("\n".join(e.describe() for e in errors))


class EvaluationError(HeadcodeError):
    """A checked program cannot run on these inputs (unfilled holes, missing token ids)."""


class TokenizerError(HeadcodeError):
    """A tokenizer could not be loaded or the text cannot be tokenized."""

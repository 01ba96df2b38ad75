"""Reply text to candidate programs: split into lines, then parse and type-check each one.

This is the only way an LLM reply enters headcode: as text for the language's own parser and
checker. Nothing in a reply is ever executed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ...dsl.errors import ProgramError
from ...dsl.holes import has_holes
from ...dsl.printer import show
from ...dsl.program import Program, program_from_text
from ...errors import HeadcodeError

_FENCE = re.compile(r"^\s*```")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d{1,2}[.)])\s+")


def split_candidates(text: str) -> list[str]:
    """One candidate per non-empty line; code fences, list bullets and numbering, and
    backticks around a whole line are dropped."""
    found = []
    for line in text.splitlines():
        if _FENCE.match(line):
            continue
        line = _BULLET.sub("", line).strip()
        if len(line) > 1 and line.startswith("`") and line.endswith("`"):
            line = line.strip("`").strip()
        if line:
            found.append(line)
    return found


@dataclass(frozen=True)
class Verdict:
    """What became of one candidate: `program` if accepted, else `error` (or `repeats`, the
    canonical text of a program seen before)."""

    text: str
    program: Program | None = None
    error: str | None = None
    repeats: str | None = None

    @property
    def accepted(self) -> bool:
        return self.program is not None

    @property
    def has_holes(self) -> bool:
        return self.program is not None and has_holes(self.program.expr)

    def feedback(self) -> str:
        """One line for the model: accepted, or why not."""
        if self.program is not None:
            return "accepted"
        if self.repeats is not None:
            return f"not new: {self.repeats} was already proposed"
        return f"rejected: {self.error}"


def judge(text: str, seen: set[str]) -> Verdict:
    """Parse and check `text` (a predicate P is read as keys(P)); `seen` holds the canonical
    texts already proposed and receives this one if it is new."""
    try:
        program = program_from_text(text, predicate_as_keys=True)
    except ProgramError as e:
        return Verdict(text, error=e.describe())
    except HeadcodeError as e:
        return Verdict(text, error=str(e))
    canonical = show(program.expr)
    if canonical in seen:
        return Verdict(text, repeats=canonical)
    seen.add(canonical)
    return Verdict(text, program=program)

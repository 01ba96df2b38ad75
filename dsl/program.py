"""Checked programs ready to run, loaded from an expression, a file, or `FILE:NAME`.

Back ends take a `Program`'s `closed` expression: every reference to another named program of
its file is inlined, so they never need the file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import HeadcodeError
from . import nodes as n
from .checker import RUNNABLE, CheckedFile, Type, check_expr, check_file
from .errors import ProgramError, ProgramErrors
from .parser import parse_expr, parse_file
from .printer import show


@dataclass(frozen=True)
class Program:
    """A type-checked selector or pattern, named or not, with the definitions it may refer to."""

    expr: n.Node
    name: str | None = None
    definitions: dict[str, n.Node] = field(default_factory=dict, compare=False, repr=False)

    @property
    def text(self) -> str:
        return show(self.expr)

    @property
    def label(self) -> str:
        """The program's name, or its text when it has none."""
        return self.name or self.text

    @property
    def closed(self) -> n.Node:
        """The expression with every reference inlined (refused first if nested too deeply;
        a checked file's definitions are bounded once inlined)."""
        n.depth(self.expr)
        return inline(self.expr, self.definitions)


def inline(expr: n.Node, definitions: dict[str, n.Node]) -> n.Node:
    """Replace references by the programs they name (the checker has ruled out cycles)."""
    if isinstance(expr, n.Ref):
        return inline(definitions[expr.name], definitions)
    return expr.map(lambda child: inline(child, definitions))


def program_from_text(text: str, predicate_as_keys: bool = False) -> Program:
    """Parse and check one expression that must be a selector or pattern.

    With `predicate_as_keys`, a predicate P is accepted and read as `keys(P)`.
    """
    expr = parse_expr(text)
    if predicate_as_keys and check_expr(expr, runnable=False) is Type.PRED:
        expr = n.Keys(expr, expr.pos)
    check_expr(expr)
    return Program(expr)


@dataclass(frozen=True)
class LoadedFile:
    """A checked file of programs: runnable named programs and head assignments."""

    path: str
    checked: CheckedFile

    @property
    def definitions(self) -> dict[str, n.Node]:
        return {name: d.expr for name, d in self.checked.file.definitions.items()}

    @property
    def programs(self) -> dict[str, Program]:
        """Every named selector or pattern of the file."""
        defs = self.definitions
        return {
            name: Program(expr, name, defs)
            for name, expr in defs.items()
            if self.checked.types[name] in RUNNABLE
        }

    @property
    def heads(self) -> dict[tuple[int, int], Program]:
        """(layer, head) to the program assigned to it."""
        defs = self.definitions
        return {
            (a.layer, a.head): Program(
                a.expr, a.expr.name if isinstance(a.expr, n.Ref) else None, defs
            )
            for a in self.checked.file.assignments
        }

    def type_of(self, name: str) -> Type:
        return self.checked.types[name]


def read_source(path: str | Path) -> str:
    """A program file's text, with a clear error when it cannot be read."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HeadcodeError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise HeadcodeError(f"{path}: is a directory, not a program file") from None
    except UnicodeDecodeError:
        raise HeadcodeError(f"{path}: not a UTF-8 text file") from None


def load_file(path: str | Path) -> LoadedFile:
    """Parse and check a file; its errors name the file (`ProgramError.source`)."""
    try:
        checked = check_file(parse_file(read_source(path)))
    except (ProgramError, ProgramErrors) as e:
        for error in e.errors if isinstance(e, ProgramErrors) else [e]:
            error.source = str(path)
        raise
    return LoadedFile(str(path), checked)


def _is_file(path: str) -> bool:
    """Whether `path` names a file; any text may be asked (too long a name is not a file)."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def load_program(spec: str, predicate_as_keys: bool = False) -> Program:
    """`FILE:NAME` names a program of a file; anything else is an expression."""
    path, sep, name = spec.rpartition(":")
    if sep and path and name.isidentifier() and _is_file(path):
        loaded = load_file(path)
        programs = loaded.programs
        if name not in programs:
            hint = ", ".join(programs) or "the file defines no runnable program"
            if name in loaded.definitions:
                raise HeadcodeError(f"{path}: {name!r} is a predicate, not a runnable program")
            raise HeadcodeError(f"{path}: no program named {name!r} (programs: {hint})")
        return programs[name]
    return program_from_text(spec, predicate_as_keys)


def error_lines(error: HeadcodeError, filename: str | None = None) -> list[str]:
    """Each error of `error` as `FILE:LINE:COL: message`."""
    if isinstance(error, ProgramErrors):
        return [e.describe(filename) for e in error.errors]
    if isinstance(error, ProgramError):
        return [error.describe(filename)]
    return [str(error)]

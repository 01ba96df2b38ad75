"""The scoring command: soft IoU of programs against heads of a dump."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from headcode.dsl.errors import ProgramError, ProgramErrors
from headcode.errors import HeadcodeError

from .app import app, fail


@app.command()
def score(
    programs_file: Annotated[Optional[Path], typer.Argument(
        help="A program file: its head assignments, or all its programs.",
        metavar="PROGRAMS_FILE")] = None,
    expr: Annotated[Optional[list[str]], typer.Option(
        "-e", "--expr", metavar="EXPR",
        help="A program (an expression or FILE:NAME); repeatable.")] = None,
    dump: Annotated[Path, typer.Option(help="An attention dump (headcode extract).")] = ...,
    heads: Annotated[Optional[str], typer.Option(
        help="all, or L.H,L.H,... (default: a file's assigned heads, else all).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list.")] = False,
) -> None:
    """Soft IoU of programs against the real attention of heads in a dump.

    A file with head assignments is scored on its assigned heads; with --heads, or for a file
    without assignments and for -e programs, every program on every head given (default all).
    A head's IoU is the mean over the dump's sequences (docs/measures.md).

    Prints a table with one row per program and head: the program (its name, or its text),
    the head (LAYER.HEAD) and its soft IoU; the title gives the number of sequences and the
    caption the dump. --json prints the same rows as a list of objects {"program", "layer",
    "head", "iou", "sequences"}.

    Examples:

    \b
      headcode score heads.hc --dump runs/stories.dump
      headcode score -e "last(k.period) ?? first" -e "prev(1)" --dump runs/stories.dump \\
          --heads 0.1,2.5 --json
    """
    from headcode.dsl.printer import show
    from headcode.dsl.program import error_lines, load_file, load_program
    from headcode.models.dump import open_dump
    from headcode.models.heads import parse_heads
    from headcode.progress import progress_bar
    from headcode.scoring import score as score_programs

    if programs_file is None and not expr:
        fail("give a program file, or programs with -e")
    try:
        opened = open_dump(dump)
        chosen = None if heads is None else parse_heads(heads, opened.n_layers, opened.n_heads)
        every = parse_heads("all", opened.n_layers, opened.n_heads)
    except HeadcodeError as e:
        fail(f"error: {e}")
    jobs: list[tuple[str, object, list[tuple[int, int]]]] = []  # (label, program, heads)
    if programs_file is not None:
        try:
            loaded = load_file(programs_file)
        except (ProgramError, ProgramErrors) as e:
            fail(error_lines(e, str(programs_file)))
        except HeadcodeError as e:
            fail(f"error: {e}")
        if loaded.heads and chosen is None:
            for (layer, head), program in loaded.heads.items():
                if (layer, head) not in every:
                    fail(f"error: {programs_file}: head {layer}.{head} is not in the dump "
                          f"({opened.n_layers} layers x {opened.n_heads} heads)")
                jobs.append((program.name or show(program.expr), program, [(layer, head)]))
        else:
            named = loaded.programs
            anonymous = [p for p in loaded.heads.values() if p.name is None]
            for program in [*named.values(), *anonymous]:
                jobs.append((program.name or show(program.expr), program, chosen or every))
    for text in expr or []:
        try:
            program = load_program(text, predicate_as_keys=True)
        except (ProgramError, ProgramErrors) as e:
            fail(error_lines(e, "<program>"))
        except HeadcodeError as e:
            fail(f"error: {e}")
        jobs.append((text, program, chosen or every))
    if not jobs:
        fail(f"{programs_file}: no program to score")
    union = [h for h in every if any(h in job_heads for _, _, job_heads in jobs)]
    try:
        with progress_bar(len(opened), "scoring", sys.stderr.isatty()) as bar:
            ious = score_programs([p for _, p, _ in jobs], opened, union, progress=bar.advance)
    except HeadcodeError as e:
        fail(f"error: {e}")
    rows = [
        {"program": label, "layer": layer, "head": head,
         "iou": float(ious[k, union.index((layer, head))]), "sequences": len(opened)}
        for k, (label, _, job_heads) in enumerate(jobs) for layer, head in job_heads
    ]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    _print_scores(rows, str(dump))


def _print_scores(rows: list[dict], dump: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"soft IoU, mean of {rows[0]['sequences']} sequences", caption=dump)
    table.add_column("program", overflow="fold")
    table.add_column("head", justify="right")
    table.add_column("IoU", justify="right")
    for row in rows:
        # Text, not markup: `[k.punct]` in a program is not a style tag
        table.add_row(Text(row["program"]), f"{row['layer']}.{row['head']}", f"{row['iou']:.4f}")
    Console().print(table)

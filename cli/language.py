"""Commands on the language itself: check, apply, emit, fmt, explain, grammar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from headcode.dsl.errors import ProgramError, ProgramErrors
from headcode.errors import HeadcodeError

from .app import app, fail, write_text


@app.command()
def check(
    files: Annotated[list[Path], typer.Argument(help="Program files to check.", metavar="FILE...")],
) -> None:
    """Parse and type-check program files.

    Prints every error as FILE:LINE:COL: message and exits 2 if there is any; exits 0 when all
    programs are well formed.

    Example:  headcode check heads.hc
    """
    from headcode.dsl.program import error_lines, load_file

    problems: list[str] = []
    for path in files:
        try:
            loaded = load_file(path)
        except (ProgramError, ProgramErrors) as e:
            problems += error_lines(e, str(path))
            continue
        except HeadcodeError as e:
            problems.append(str(e))
            continue
        typer.echo(f"{path}: ok ({len(loaded.programs)} programs, {len(loaded.heads)} heads)")
    if problems:
        fail(problems)


@app.command()
def apply(
    program: Annotated[str, typer.Argument(
        help="An expression, e.g. 'last(k.period) ?? first', or FILE:NAME for a named program. "
             "A predicate P is applied as keys(P).")],
    tokenizer: Annotated[str, typer.Option(
        help="Tokenizer: a local directory, a .gguf model file or a Hugging Face hub id.")],
    text: Annotated[Optional[str], typer.Option(help="The text to apply the program to.")] = None,
    text_file: Annotated[Optional[Path], typer.Option(
        help="Apply to each blank-line separated paragraph of FILE; prints one JSON object "
             "per line.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json",
        help='Print {"tokens": [...], "matrix": [[...], ...]} at full precision.')] = False,
    max_tokens: Annotated[Optional[int], typer.Option(
        min=1, help="Keep at most this many tokens (BOS included).")] = None,
) -> None:
    """Run a program on a text and print its tokens and attention matrix.

    Examples:

      headcode apply 'last(k.period) ?? first' --text "Hi. Bye." --tokenizer DIR --json

      headcode apply heads.hc:induction --text-file stories.txt --tokenizer DIR
    """
    from headcode.dsl.interpreter import run
    from headcode.dsl.program import error_lines, load_program, read_source
    from headcode.dsl.tokens import tokenize
    from headcode.models.corpus import split_paragraphs
    from headcode.models.tokenizer import load_tokenizer

    if (text is None) == (text_file is None):
        fail("give exactly one of --text and --text-file")
    try:
        prog = load_program(program, predicate_as_keys=True)
    except (ProgramError, ProgramErrors) as e:
        fail(error_lines(e, "<program>"))
    texts = [text] if text is not None else split_paragraphs(read_source(text_file))
    if not texts or not any(t.strip() for t in texts):
        fail("the text is empty")
    tok = load_tokenizer(tokenizer)
    for paragraph in texts:
        tokens = tokenize(tok, paragraph, max_tokens)
        matrix = run(prog, tokens.texts, tokens.ids, tokens.special)
        if as_json or text_file is not None:
            typer.echo(json.dumps({"tokens": tokens.texts, "matrix": matrix.tolist()},
                                  ensure_ascii=False))
        else:
            _print_matrix(tokens.texts, matrix)


def _print_matrix(texts: list[str], matrix) -> None:
    """Tokens, then one row per query: the row's weights and its strongest keys."""
    import numpy as np

    typer.echo("tokens: " + " ".join(f"{i}:{t!r}" for i, t in enumerate(texts)))
    with np.printoptions(precision=2, suppress=True, linewidth=10_000):
        for i, row in enumerate(matrix):
            top = np.argsort(-row[: i + 1], kind="stable")[:3]
            keys = ", ".join(f"{texts[j]!r}[{j}] {row[j]:.2f}" for j in top if row[j] > 0)
            typer.echo(f"{i:>4} {texts[i]!r:>14} -> {keys}")
        typer.echo("matrix:")
        typer.echo(str(np.asarray(matrix)))


@app.command()
def emit(
    file: Annotated[Path, typer.Argument(help="A program file.")],
    out: Annotated[Path, typer.Option("-o", "--out", help="Where to write the Python module.")],
    force: Annotated[bool, typer.Option(
        help="Overwrite OUT even if it is not a module headcode emitted.")] = False,
) -> None:
    """Write a file's programs as a standalone, readable NumPy-only Python module.

    The module defines PROGRAMS (name -> function) and HEADS ((layer, head) -> name); each
    function is f(texts, ids=None, special=None) -> numpy.ndarray.

    OUT is replaced if it is a module emitted earlier; any other existing file is refused
    unless --force, and FILE itself always is.

    Example:  headcode emit heads.hc -o heads.py
    """
    from headcode.dsl.emitter import emit as emit_module
    from headcode.dsl.emitter import is_emitted
    from headcode.dsl.program import error_lines, load_file

    if out.exists() and file.exists() and out.samefile(file):
        fail(f"error: {out} is the program file itself: choose another -o")
    if out.is_file() and not (force or is_emitted(out)):
        fail(f"error: {out} exists and is not a module headcode emitted (--force to replace it)")
    try:
        loaded = load_file(file)
    except (ProgramError, ProgramErrors) as e:
        fail(error_lines(e, str(file)))
    source = emit_module(loaded, file.name)
    write_text(out, source)
    typer.echo(f"wrote {out} ({len(loaded.programs)} programs, {len(loaded.heads)} heads)")


@app.command()
def fmt(
    files: Annotated[list[Path], typer.Argument(help="Program files to format.",
                                                metavar="FILE...")],
    check_only: Annotated[bool, typer.Option(
        "--check", help="Change nothing; exit 1 if a file is not in canonical form.")] = False,
) -> None:
    """Rewrite program files in canonical form (comments kept), in place: each FILE that
    is not canonical is overwritten (a file that does not parse is left alone).

    Example:  headcode fmt heads.hc        headcode fmt --check heads.hc
    """
    from headcode.dsl.parser import parse_file
    from headcode.dsl.printer import show_file
    from headcode.dsl.program import error_lines, read_source

    unformatted, problems = [], []
    for path in files:
        source = read_source(path)
        try:
            formatted = show_file(parse_file(source))
        except ProgramError as e:
            problems += error_lines(e, str(path))
            continue
        if formatted != source:
            unformatted.append(path)
            if not check_only:
                write_text(path, formatted)
                typer.echo(f"formatted {path}")
    if problems:
        fail(problems)
    if check_only and unformatted:
        fail([f"would reformat {p}" for p in unformatted], code=1)


@app.command()
def explain(
    program: Annotated[str, typer.Argument(
        help="An expression, FILE:NAME for a named program, or a FILE: every program and head.",
        metavar="PROGRAM|FILE[:NAME]")],
) -> None:
    """Print a program's plain-English gloss, generated from its syntax tree (no LLM).

    With a FILE, prints one line per named program (name: gloss) and per head assignment
    (head L.H: gloss); references read as the programs they name.

    Examples:

      headcode explain 'mix(0.7: prev(1), 0.3: first)'

      headcode explain heads.hc:induction

      headcode explain heads.hc
    """
    from headcode.dsl.gloss import gloss
    from headcode.dsl.program import error_lines, load_file, load_program

    path, sep, _ = program.rpartition(":")
    source = program if Path(program).is_file() else path if sep and Path(path).is_file() else None
    try:
        if source == program:
            loaded = load_file(program)
        else:
            prog = load_program(program, predicate_as_keys=True)
    except (ProgramError, ProgramErrors) as e:
        fail(error_lines(e, source or "<program>"))
    if source != program:
        typer.echo(gloss(prog.expr, prog.definitions))
        return
    defs = loaded.definitions
    for name, expr in defs.items():
        typer.echo(f"{name}: {gloss(expr, defs)}")
    for a in loaded.checked.file.assignments:
        typer.echo(f"head {a.layer}.{a.head}: {gloss(a.expr, defs)}")


@app.command()
def grammar() -> None:
    """Print the language's Lark grammar (the definition LLM proposers are constrained by)."""
    from headcode.dsl.parser import grammar_text

    typer.echo(grammar_text(), nl=False)

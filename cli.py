"""The `headcode` command line. Nothing imports this module; it imports the rest.

Every user error ends as one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from headcode.dsl.errors import HeadcodeError, ProgramError, ProgramErrors

app = typer.Typer(
    name="headcode",
    help=(
        "Explain attention heads as short programs, and prove each explanation by swapping "
        "the program in for the head.\n\n"
        "Programs are written in a small language (see docs/language.md), e.g.\n\n"
        "    last(k.period) ?? first      (the most recent sentence end, else the first token)\n\n"
        "    shift(same(text) - self, 1)  (induction: the token after an earlier copy)"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


class UserError(HeadcodeError):
    """A bad command line argument or input file."""


def _fail(lines: list[str] | str, code: int = 2) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)


def _paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, stripped, empty ones dropped."""
    out, current = [], []
    for line in text.splitlines():
        if line.strip():
            current.append(line)
        elif current:
            out.append("\n".join(current).strip())
            current = []
    if current:
        out.append("\n".join(current).strip())
    return out


# ---------------------------------------------------------------- the language


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
        _fail(problems)


@app.command()
def apply(
    program: Annotated[str, typer.Argument(
        help="An expression, e.g. 'last(k.period) ?? first', or FILE:NAME for a named program. "
             "A predicate P is applied as keys(P).")],
    tokenizer: Annotated[str, typer.Option(
        help="Tokenizer: a local directory or a Hugging Face hub id.")],
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
    from headcode.dsl.tokens import load_tokenizer, tokenize

    if (text is None) == (text_file is None):
        _fail("give exactly one of --text and --text-file")
    try:
        prog = load_program(program, predicate_as_keys=True)
    except (ProgramError, ProgramErrors) as e:
        _fail(error_lines(e, "<program>"))
    texts = [text] if text is not None else _paragraphs(read_source(text_file))
    if not texts or not any(t.strip() for t in texts):
        _fail("the text is empty")
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
) -> None:
    """Write a file's programs as a standalone, readable NumPy-only Python module.

    The module defines PROGRAMS (name -> function) and HEADS ((layer, head) -> name); each
    function is f(texts, ids=None, special=None) -> numpy.ndarray.

    Example:  headcode emit heads.hc -o heads.py
    """
    from headcode.dsl.emitter import emit as emit_module
    from headcode.dsl.program import error_lines, load_file

    try:
        loaded = load_file(file)
    except (ProgramError, ProgramErrors) as e:
        _fail(error_lines(e, str(file)))
    source = emit_module(loaded, file.name)
    _write_text(out, source)
    typer.echo(f"wrote {out} ({len(loaded.programs)} programs, {len(loaded.heads)} heads)")


@app.command()
def fmt(
    files: Annotated[list[Path], typer.Argument(help="Program files to format.",
                                                metavar="FILE...")],
    check_only: Annotated[bool, typer.Option(
        "--check", help="Change nothing; exit 1 if a file is not in canonical form.")] = False,
) -> None:
    """Rewrite program files in canonical form (comments kept).

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
                _write_text(path, formatted)
                typer.echo(f"formatted {path}")
    if problems:
        _fail(problems)
    if check_only and unformatted:
        _fail([f"would reformat {p}" for p in unformatted], code=1)


@app.command()
def grammar() -> None:
    """Print the language's Lark grammar (the definition LLM proposers are constrained by)."""
    from headcode.dsl.parser import grammar_text

    typer.echo(grammar_text(), nl=False)


# ---------------------------------------------------------------- models

_MODEL_HELP = "A causal LM: a local directory (never touches the network) or a Hugging Face hub id."
_TEXT_HELP = (
    "The corpus: a text file (blank-line separated paragraphs, one sequence each), a .jsonl "
    "file (see --jsonl-field), or a Hugging Face dataset name (needs the `datasets` package)."
)


@app.command()
def extract(
    model: Annotated[str, typer.Option(help=_MODEL_HELP)],
    text: Annotated[str, typer.Option(help=_TEXT_HELP)],
    out: Annotated[Path, typer.Option(help="The dump directory to write (see docs/formats.md).")],
    sequences: Annotated[int, typer.Option(min=1, help="How many paragraphs to use.")] = 200,
    max_tokens: Annotated[int, typer.Option(
        min=1, help="Truncate each sequence to this many tokens (BOS included).")] = 128,
    jsonl_field: Annotated[str, typer.Option(
        "--jsonl-field", "--text-field", help="The text field of .jsonl lines or dataset rows.")
    ] = "text",
    shuffle: Annotated[bool, typer.Option(
        help="A random sample of paragraphs (see --seed) instead of the first ones.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of --shuffle.")] = 0,
    tokenizer: Annotated[Optional[str], typer.Option(
        help="Tokenizer directory or hub id (default: the model's).")] = None,
    dtype: Annotated[str, typer.Option(
        help="Model weights: float32, float16, bfloat16 or auto.")] = "float32",
    dump_dtype: Annotated[str, typer.Option(
        help="Stored attention: float16 (half the size) or float32.")] = "float16",
    device: Annotated[str, typer.Option(help="auto (cuda when available), cpu, cuda, cuda:N.")
    ] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Sequences per forward pass.")] = 16,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing dump at --out.")] = False,
) -> None:
    """Run a model on paragraphs and dump every head's attention matrices to a directory.

    The dump (docs/formats.md) holds the tokens, their features and each head's causal
    attention, and is what --dump options of other commands read.

    Examples:

    \b
      headcode extract --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt --sequences 200 --max-tokens 128 \\
          --out runs/stories.dump

    \b
      headcode extract --model gpt2 --text corpus.jsonl --jsonl-field body \\
          --shuffle --seed 1 --sequences 500 --out runs/gpt2.dump --device cuda
    """
    import time

    from headcode.dsl.tokens import load_tokenizer
    from headcode.models.corpus import load_corpus
    from headcode.models.extract import extract as run_extract
    from headcode.models.loading import load_model

    if dump_dtype not in ("float16", "float32"):
        _fail(f"--dump-dtype must be float16 or float32 (got {dump_dtype!r})")
    if out.exists() and not overwrite:
        _fail(f"{out} already exists (choose another --out, or --overwrite)")
    texts = load_corpus(text, n=sequences, shuffle=shuffle, seed=seed, text_field=jsonl_field)
    lm = load_model(model, dtype=dtype, device=device)
    tok = load_tokenizer(tokenizer or model)
    start = time.perf_counter()
    dump = run_extract(
        lm, tok, texts, out, max_tokens=max_tokens, batch_size=batch_size, dtype=dump_dtype,
        overwrite=overwrite, progress=sys.stderr.isatty(),
        extra={"text": str(text), "shuffle": shuffle, "seed": seed if shuffle else None},
    )
    size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    typer.echo(
        f"wrote {out}: {len(dump)} sequences, {int(dump.lengths.sum())} tokens, "
        f"{dump.n_layers} layers x {dump.n_heads} heads, {dump_dtype}, "
        f"{size / 1e6:.1f} MB in {time.perf_counter() - start:.1f} s"
    )


@app.command()
def perplexity(
    model: Annotated[str, typer.Option(help=_MODEL_HELP)],
    text: Annotated[str, typer.Option(help=_TEXT_HELP)],
    sequences: Annotated[Optional[int], typer.Option(
        min=1, help="Use the first N paragraphs (default: all).")] = None,
    max_tokens: Annotated[int, typer.Option(
        min=1, help="Tokens per sequence after BOS (the protocol: 512).")] = 512,
    jsonl_field: Annotated[str, typer.Option(
        "--jsonl-field", "--text-field", help="The text field of .jsonl lines or dataset rows.")
    ] = "text",
    tokenizer: Annotated[Optional[str], typer.Option(
        help="Tokenizer directory or hub id (default: the model's).")] = None,
    dtype: Annotated[str, typer.Option(
        help="Model weights: float32, float16, bfloat16 or auto.")] = "float32",
    device: Annotated[str, typer.Option(help="auto (cuda when available), cpu, cuda, cuda:N.")
    ] = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Sequences per forward pass.")] = 16,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Token-weighted perplexity of a model on paragraphs (the protocol of docs/measures.md).

    One sequence per paragraph, BOS + at most 512 tokens; the mean NLL of all predicted
    tokens, exponentiated.

    Examples:

    \b
      headcode perplexity --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt            (prints 5.40)
      headcode perplexity --model gpt2 --text wiki.jsonl --sequences 500 --json
    """
    from headcode.dsl.tokens import load_tokenizer
    from headcode.models.corpus import load_corpus
    from headcode.models.loading import load_model
    from headcode.models.perplexity import perplexity as run_perplexity
    from headcode.models.perplexity import sequences as protocol_sequences

    texts = load_corpus(text, n=sequences, text_field=jsonl_field)
    lm = load_model(model, dtype=dtype, device=device)
    rows = protocol_sequences(load_tokenizer(tokenizer or model), texts, max_tokens)
    result = run_perplexity(lm, rows, batch_size=batch_size, progress=sys.stderr.isatty())
    if as_json:
        typer.echo(json.dumps({
            "model": model, "text": text, "sequences": len(rows), "tokens": result.tokens,
            "ppl": result.ppl, "mean_nll": result.mean_nll,
        }))
    else:
        typer.echo(
            f"perplexity {result.ppl:.2f} ({len(rows)} sequences, {result.tokens} tokens scored)"
        )


def _write_text(path: Path, text: str) -> None:
    """Write atomically: a reader never sees half a file."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{path}: is a directory")
    if not path.parent.exists():
        raise UserError(f"{path.parent}: no such directory")
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    """Entry point of the `headcode` console script."""
    try:
        app()
    except HeadcodeError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()

"""The `headcode` command line. Nothing imports this module; it imports the rest.

Every user error ends as one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from headcode.dsl.errors import HeadcodeError, ProgramError, ProgramErrors
from headcode.synth.front import Choice
from headcode.synth.llm.config import PROMPTS, LLMConfig


class _App(typer.Typer):
    """A Typer app whose commands report headcode's errors as one line and exit status 2."""

    def command(self, *args, **kwargs):
        register = super().command(*args, **kwargs)

        def decorator(fn):
            @functools.wraps(fn)
            def run(*a, **k):
                try:
                    try:
                        return fn(*a, **k)
                    except HeadcodeError as e:
                        _fail(f"error: {e}")
                    except OSError as e:  # unwritable, full, vanished: the place, not a bug
                        where = f"{e.filename}: " if e.filename else ""
                        _fail(f"error: {where}{e.strerror or e}")
                except BaseException:
                    _drop_new_dirs()
                    raise
                finally:
                    _NEW_DIRS.clear()

            register(run)
            return fn

        return decorator


app = _App(
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


def _version(wanted: bool) -> None:
    if wanted:
        from importlib.metadata import version

        typer.echo(f"headcode {version('headcode')}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


def _fail(lines: list[str] | str, code: int = 2) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)


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
    from headcode.models.corpus import split_paragraphs

    if (text is None) == (text_file is None):
        _fail("give exactly one of --text and --text-file")
    try:
        prog = load_program(program, predicate_as_keys=True)
    except (ProgramError, ProgramErrors) as e:
        _fail(error_lines(e, "<program>"))
    texts = [text] if text is not None else split_paragraphs(read_source(text_file))
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
        _fail(f"error: {out} is the program file itself: choose another -o")
    if out.is_file() and not (force or is_emitted(out)):
        _fail(f"error: {out} exists and is not a module headcode emitted (--force to replace it)")
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
                _write_text(path, formatted)
                typer.echo(f"formatted {path}")
    if problems:
        _fail(problems)
    if check_only and unformatted:
        _fail([f"would reformat {p}" for p in unformatted], code=1)


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
        _fail(error_lines(e, source or "<program>"))
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


# ---------------------------------------------------------------- models

_MODEL_HELP = "A causal LM: a local directory (never touches the network) or a Hugging Face hub id."

# Options that several commands take, declared once.
_Tokenizer = Annotated[Optional[str], typer.Option(
    help="Tokenizer directory or hub id (default: the model's).")]
_Dtype = Annotated[str, typer.Option(help="Model weights: float32, float16, bfloat16 or auto.")]
_Device = Annotated[str, typer.Option(help="auto (cuda when available), cpu, cuda, cuda:N.")]
_Tolerance = Annotated[float, typer.Option(
    min=0, help="Explanations: the smallest program on a head's front within this much "
                "held-out IoU of the best program of at most --max-size nodes.")]
_MaxSize = Annotated[int, typer.Option(
    min=1, help="Explanations: the size budget, in syntax nodes, that the tolerance is "
                "measured against.")]
_Programs = Annotated[Optional[Path], typer.Option(
    help="A program file: replace some of the heads it assigns by their programs.")]
_Replace = Annotated[Optional[float], typer.Option(
    help="With --programs: replace round(FRACTION x all the model's heads) heads, halves "
         "up (default 0.25).", metavar="FRACTION")]
_Order = Annotated[str, typer.Option(
    help="iou: descending held-out IoU, read from each assignment's comment "
         "(`# held-out IoU 0.43`); file: file order.")]
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
    tokenizer: _Tokenizer = None,
    dtype: _Dtype = "float32",
    dump_dtype: Annotated[str, typer.Option(
        help="Stored attention: float16 (half the size) or float32.")] = "float16",
    device: _Device = "auto",
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
    from headcode.models.dump import check_target
    from headcode.models.extract import extract as run_extract
    from headcode.models.loading import load_model

    if dump_dtype not in ("float16", "float32"):
        _fail(f"--dump-dtype must be float16 or float32 (got {dump_dtype!r})")
    check_target(out, overwrite)  # before the model loads; only a dump is ever replaced
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
    tokenizer: _Tokenizer = None,
    dtype: _Dtype = "float32",
    device: _Device = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Sequences per forward pass.")] = 16,
    programs: _Programs = None,
    replace: _Replace = None,
    order: _Order = "iou",
    control: Annotated[Optional[str], typer.Option(
        help="Replace the same heads by a control instead: uniform (causal), mean "
             "(mean-ablation) or random (a seeded random program of the file).")] = None,
    reference: Annotated[Optional[str], typer.Option(
        help="Reference corpus of --control mean (default: the first paragraphs of --text).")
    ] = None,
    reference_sequences: Annotated[int, typer.Option(
        min=1, help="Paragraphs of the reference corpus for --control mean.")] = 100,
    seed: Annotated[int, typer.Option(help="Seed of --control random.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Token-weighted perplexity of a model on paragraphs (the protocol of docs/measures.md),
    optionally with heads replaced by programs or by a control.

    One sequence per paragraph, BOS + at most 512 tokens; the mean NLL of all predicted
    tokens, exponentiated. With --programs, the first --replace of all heads, taken from the
    file's assigned heads in --order, are replaced; prints the baseline and substituted
    perplexity (--json: baseline_ppl, ppl, relative_increase, tokens, replaced). Mean-ablation
    averages each head's output over the first --reference-sequences paragraphs of --reference,
    by default of --text itself.

    Examples:

    \b
      headcode perplexity --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt            (prints 5.40)
      headcode perplexity --model gpt2 --text wiki.jsonl --sequences 500 --json
      headcode perplexity --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt --programs heads.hc --replace 0.25
      ... --programs heads.hc --replace 0.25 --control random --json
    """
    from headcode.dsl.tokens import load_tokenizer
    from headcode.models.corpus import load_corpus
    from headcode.models.loading import load_model, position_limit
    from headcode.models.perplexity import perplexity as run_perplexity
    from headcode.models.perplexity import sequences as protocol_sequences

    if programs is None:
        if replace is not None or control is not None or reference is not None:
            _fail("error: --replace, --control and --reference need --programs")
    else:
        _check_program_options(replace, order, control)
        loaded, items = _program_file(programs, order)
    texts = load_corpus(text, n=sequences, text_field=jsonl_field)
    lm = load_model(model, dtype=dtype, device=device)
    tok = load_tokenizer(tokenizer or model)
    limit = position_limit(lm)
    rows = protocol_sequences(tok, texts, max_tokens, limit)
    if programs is not None:
        if control == "mean":
            reference_texts = load_corpus(
                reference or text, n=reference_sequences, text_field=jsonl_field)
            reference_rows = protocol_sequences(tok, reference_texts, max_tokens, limit)
        else:
            reference_rows = []
        sources, chosen = _program_sources(
            lm, loaded, items, 0.25 if replace is None else replace, control, reference_rows, seed
        )
        _echo_comparison(lm, rows, sources, chosen, control, batch_size, as_json)
        return
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


def _check_program_options(replace: Optional[float], order: str, control: Optional[str]) -> None:
    """One-line errors for bad --replace, --order or --control values, before any loading."""
    from headcode.models.programs import CONTROLS, ORDERS

    if replace is not None and not 0.0 <= replace <= 1.0:
        _fail(f"error: --replace must be a fraction in [0, 1] (got {replace})")
    if order not in ORDERS:
        _fail(f"error: --order must be {' or '.join(ORDERS)} (got {order!r})")
    if control is not None and control not in CONTROLS:
        _fail(f"error: --control must be {', '.join(CONTROLS)} (got {control!r})")


def _program_file(path: Path, order: str) -> tuple:
    """A program file and its head assignments in replacement `order` (errors: one line each)."""
    from headcode.dsl.program import error_lines, load_file
    from headcode.models import programs as plan

    try:
        loaded = load_file(path)
    except (ProgramError, ProgramErrors) as e:
        _fail(error_lines(e, str(path)))
    return loaded, plan.head_assignments(loaded, order)


def _program_sources(lm, loaded, items: list, fraction: float, control: Optional[str],
                     reference_rows: list, seed: int) -> tuple[dict, list]:
    """{head: source} for the first heads of `items` to replace, and those heads in order."""
    from headcode.models.loading import model_shape
    from headcode.models.programs import substitution_plan

    sources, chosen, wanted = substitution_plan(lm, loaded, items, fraction, control,
                                                reference=reference_rows, seed=seed)
    if wanted > len(items):
        typer.echo(
            f"note: {wanted} of {len(model_shape(lm).heads)} heads requested but {loaded.path} "
            f"assigns {len(items)}: replacing all {len(items)}", err=True,
        )
    return sources, chosen


def _echo_comparison(lm, rows: list, sources: dict, chosen: list, control: Optional[str],
                     batch_size: int, as_json: bool) -> None:
    """Baseline and substituted perplexity; `replaced` lists heads in replacement order."""
    from headcode.models.loading import model_shape
    from headcode.models.perplexity import compare

    result = compare(lm, rows, sources, batch_size=batch_size, progress=sys.stderr.isatty())
    result["replaced"] = [[layer, head] for layer, head in chosen]
    if as_json:
        typer.echo(json.dumps(result))
        return
    by = f"control {control}" if control else "their programs"
    typer.echo(
        f"perplexity {result['baseline_ppl']:.2f} -> {result['ppl']:.2f} "
        f"({result['relative_increase']:+.1%}) with {len(chosen)} of "
        f"{len(model_shape(lm).heads)} heads replaced by {by} "
        f"({len(rows)} sequences, {result['tokens']} tokens scored)"
    )
    typer.echo("replaced: " + (" ".join(f"{la}.{h}" for la, h in chosen) or "none"))



# ---------------------------------------------------------------- scoring


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
    from headcode.models.progress import progress_bar
    from headcode.synth.scoring import parse_heads
    from headcode.synth.scoring import score as score_programs

    if programs_file is None and not expr:
        _fail("give a program file, or programs with -e")
    try:
        opened = open_dump(dump)
        chosen = None if heads is None else parse_heads(heads, opened.n_layers, opened.n_heads)
        every = parse_heads("all", opened.n_layers, opened.n_heads)
    except HeadcodeError as e:
        _fail(f"error: {e}")
    jobs: list[tuple[str, object, list[tuple[int, int]]]] = []  # (label, program, heads)
    if programs_file is not None:
        try:
            loaded = load_file(programs_file)
        except (ProgramError, ProgramErrors) as e:
            _fail(error_lines(e, str(programs_file)))
        except HeadcodeError as e:
            _fail(f"error: {e}")
        if loaded.heads and chosen is None:
            for (layer, head), program in loaded.heads.items():
                if (layer, head) not in every:
                    _fail(f"error: {programs_file}: head {layer}.{head} is not in the dump "
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
            _fail(error_lines(e, "<program>"))
        except HeadcodeError as e:
            _fail(f"error: {e}")
        jobs.append((text, program, chosen or every))
    if not jobs:
        _fail(f"{programs_file}: no program to score")
    union = [h for h in every if any(h in job_heads for _, _, job_heads in jobs)]
    try:
        with progress_bar(len(opened), "scoring", sys.stderr.isatty()) as bar:
            ious = score_programs([p for _, p, _ in jobs], opened, union, progress=bar.advance)
    except HeadcodeError as e:
        _fail(f"error: {e}")
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

# ---------------------------------------------------------------- synthesis


@app.command()
def synth(
    out: Annotated[Path, typer.Option(help="The run directory (created; an existing run is "
                                           "continued).")],
    model: Annotated[Optional[str], typer.Option(
        help="Model directory or hub id; its attention is extracted into RUN_DIR/dump unless "
             "--dump is given.")] = None,
    text: Annotated[Optional[str], typer.Option(
        help="Text file (blank-line separated paragraphs) or .jsonl to extract from.")] = None,
    dump: Annotated[Optional[Path], typer.Option(
        help="An attention dump to use instead of extracting (docs/formats.md).")] = None,
    heads: Annotated[str, typer.Option(help="Heads to explain: all, or L.H,L.H,...")] = "all",
    proposer: Annotated[str, typer.Option(
        help="enum (enumerative search, offline), llm, or both.")] = "enum",
    synth_sequences: Annotated[int, typer.Option(
        min=1, help="Sequences shown to the proposers (the dump's first ones).")] = 60,
    heldout_sequences: Annotated[int, typer.Option(
        min=1, help="Sequences kept for re-ranking and the reported IoU (the next ones).")] = 20,
    max_tokens: Annotated[int, typer.Option(min=2, help="Tokens per extracted sequence.")] = 128,
    jobs: Annotated[int, typer.Option(min=1, help="Worker processes (heads in groups).")] = 1,
    group_size: Annotated[int, typer.Option(
        min=1, help="Heads searched together and saved together.")] = 8,
    max_selectors: Annotated[int, typer.Option(
        min=1, help="Budget: how many distinct selectors the enumeration may keep.")] = 600,
    time_budget: Annotated[Optional[float], typer.Option(
        min=0, help="Budget: seconds per group of heads after which the soft-score search "
                    "starts no new round.")] = None,
    tolerance: _Tolerance = Choice.tolerance,
    max_size: _MaxSize = Choice.max_size,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N (extraction).")
    ] = "auto",
    llm_backend: Annotated[str, typer.Option(
        help="openai-responses, vllm, llamacpp or plain.")] = "plain",
    llm_model: Annotated[Optional[str], typer.Option(help="Model name for --proposer llm.")
    ] = None,
    base_url: Annotated[Optional[str], typer.Option(
        help="OpenAI-compatible endpoint; key from HEADCODE_API_KEY or OPENAI_API_KEY.")] = None,
    llm_timeout: Annotated[float, typer.Option(
        min=1, help="Seconds to wait for one LLM reply; a request that times out is not sent "
                    "again (a local server may still be computing it).")] = LLMConfig.timeout,
    llm_prompt: Annotated[str, typer.Option(
        help="full, or compact: fewer examples and edges, for small local models.")
    ] = LLMConfig.prompt,
    llm_candidates: Annotated[int, typer.Option(
        min=1, help="Programs asked of the LLM per head.")] = LLMConfig.candidates,
    llm_max_tokens: Annotated[Optional[int], typer.Option(
        min=1, help="Most tokens per LLM reply (default: the server's).")] = None,
) -> None:
    """Synthesize a program for every head and check it on held-out text.

    Every head gets two programs from its size/fidelity front (all candidates of all
    proposers, re-ranked on held-out text): its explanation, the smallest program within
    --tolerance of the best held-out IoU at most --max-size syntax nodes, and its surrogate,
    the best-fitting program of any size.

    Writes RUN_DIR/programs.hc and explanations.py (the explanations, each with its plain
    English gloss), RUN_DIR/surrogates.hc and surrogates.py, RUN_DIR/results.jsonl (every
    head's front; `headcode front RUN_DIR` prints it) and RUN_DIR/library.json. Results are
    saved per group of heads as they finish: after an interruption, the same command
    continues where it stopped. Run again on a finished run with another --tolerance or
    --max-size, it chooses again from the fronts and rewrites the program files.

    Example:

    \b
      headcode synth --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt --heads all --out runs/stories
    """
    import time

    from headcode.synth.pipeline import SynthSettings

    proposers = {"enum": ("enum",), "llm": ("llm",), "both": ("enum", "llm")}.get(proposer)
    if proposers is None:
        _fail(f"--proposer must be enum, llm or both (got {proposer!r})")
    if dump is None and (model is None or text is None):
        _fail("give --model and --text (to extract attention), or --dump")
    settings = SynthSettings(proposers=proposers, n_synth=synth_sequences,
                             n_heldout=heldout_sequences, group=group_size,
                             max_selectors=max_selectors, seconds=time_budget,
                             choice=Choice(tolerance=tolerance, max_size=max_size))
    if "llm" in proposers:
        if not llm_model:
            _fail("--proposer llm needs --llm-model (and --base-url for a local server)")
        if jobs > 1:
            _fail("--jobs > 1 works with --proposer enum only")
        from headcode.synth.llm.client import LLMClient
        from headcode.synth.llm.proposer import LLMProposer

        if llm_prompt not in PROMPTS:
            _fail(f"--llm-prompt must be {' or '.join(PROMPTS)} (got {llm_prompt!r})")
        config = LLMConfig(backend=llm_backend, model=llm_model, base_url=base_url,
                           log_path=out / "llm-log.jsonl", timeout=llm_timeout,
                           prompt=llm_prompt, candidates=llm_candidates, max_tokens=llm_max_tokens)
        settings.llm = LLMProposer(LLMClient(config))
    start = time.perf_counter()
    _make_dir(out, _is_run)
    results = _run_synth(out, model, text, dump, heads, proposer, settings, max_tokens, device,
                         jobs)
    if settings.llm is not None:
        typer.echo(settings.llm.summary())
    typer.echo(f"{_iou_summary(results)}, {time.perf_counter() - start:.0f} s; wrote "
               f"{out}/programs.hc (explanations) and {out}/surrogates.hc")


@app.command()
def front(
    run_dir: Annotated[Path, typer.Argument(help="A synthesis run directory.")],
    heads: Annotated[Optional[str], typer.Option(help="Heads to show: L.H,L.H,... (default: "
                                                      "every finished head).")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help='One JSON object per head: {"head": "L.H", "front": [{"program", "size", '
                       '"synthesis_iou", "heldout_iou", "origin"}, ...], "explanation": {...}, '
                       '"surrogate": {...}}.')] = False,
) -> None:
    """Print each head's size/fidelity front: the best held-out IoU at each program size.

    A program's size is its number of syntax nodes (docs/language.md). Read left to right, a
    front says what every extra node buys; E marks the head's explanation and S its surrogate.

    Example:  headcode front runs/stories --heads 1.3,2.0
    """
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from headcode.synth.rundir import RunDir
    from headcode.synth.scoring.score import read_heads

    run = RunDir.open(run_dir)
    results = run.results()
    if not results:
        _fail(f"error: {run_dir} holds no finished head yet")
    if heads is not None and heads.strip() != "all":
        wanted = read_heads(heads)
        missing = [f"{a}.{b}" for a, b in wanted if (a, b) not in results]
        if missing:
            _fail(f"error: {run_dir} has no result for head {', '.join(missing)}")
        results = {key: results[key] for key in wanted}
    for (layer, head), r in results.items():
        if as_json:
            record = r.to_json()
            typer.echo(json.dumps({"head": f"{layer}.{head}", "front": record["front"],
                                   "explanation": record["explanation"],
                                   "surrogate": record["surrogate"]}))
            continue
        table = Table(title=f"head {layer}.{head}", title_justify="left")
        for column in ("", "size", "held-out IoU", "synthesis IoU", "origin", "program"):
            table.add_column(column, justify="right" if "IoU" in column or column == "size"
                             else "left")
        for p in r.front:
            mark = ("E" if p == r.explanation else "") + ("S" if p == r.surrogate else "")
            table.add_row(mark, str(p.size), f"{p.heldout_iou:.3f}", f"{p.synthesis_iou:.3f}",
                          p.origin, Text(p.program))  # text, not markup: `[k.punct]`
        Console().print(table)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="The run and report directory (created; an existing "
                                           "run is continued).")] = Path("runs/demo"),
    model: Annotated[Optional[str], typer.Option(
        help="Model directory or hub id (default: the bundled demo model).")] = None,
    text: Annotated[Optional[str], typer.Option(
        help="Text file or .jsonl of paragraphs (default: stories sampled from the model).")
    ] = None,
    heads: Annotated[str, typer.Option(help="Heads to explain: all, or L.H,L.H,...")] = "all",
    synth_sequences: Annotated[int, typer.Option(
        min=1, help="Sequences shown to the synthesizer.")] = 60,
    heldout_sequences: Annotated[int, typer.Option(
        min=1, help="Sequences for re-ranking and the reported IoU.")] = 20,
    ppl_sequences: Annotated[int, typer.Option(
        min=1, help="Further sequences for the perplexity curve.")] = 100,
    max_tokens: Annotated[int, typer.Option(min=2, help="Tokens per extracted sequence.")] = 128,
    seed: Annotated[int, typer.Option(help="Seed of the sampled corpus and the random control.")
    ] = 0,
    jobs: Annotated[int, typer.Option(min=1, help="Synthesis worker processes.")] = 1,
    tolerance: _Tolerance = Choice.tolerance,
    max_size: _MaxSize = Choice.max_size,
    device: _Device = "auto",
) -> None:
    """Explain every head of a model end to end and write a report: the command to run first.

    Without options it runs offline on the bundled demo model (a small GPT-2 trained on
    TinyStories, docs/demo-model.md) and a corpus sampled from it with a fixed seed:

    \b
      1. corpus      sample stories (or read --text): synthesis, held-out and perplexity parts
      2. extract     record every head's attention on the synthesis and held-out parts
      3. synthesize  enumerative search for one program per head, re-ranked on held-out text
      4. substitute  perplexity with 0/10/25/50/100% of heads replaced, in descending held-out
                     IoU, by their explanations, by their surrogates and by the controls
                     (uniform, mean, random program)
      5. report      OUT/report.html (one self-contained page), OUT/report.md, OUT/figures/

    Examples:

    \b
      headcode demo --out runs/demo
      headcode demo --model ../shared/models/stories260K \\
          --text ../shared/data/tinystories/valid-a.txt --out runs/stories-demo
    """
    import time

    from headcode.dsl.tokens import load_tokenizer
    from headcode.eval.report import build_report
    from headcode.models.corpus import load_corpus
    from headcode.models.demo import demo_model_dir, write_corpus
    from headcode.models.loading import load_model, model_shape
    from headcode.models.sample import sample_texts
    from headcode.synth.pipeline import SynthSettings
    from headcode.synth.scoring import parse_heads

    start = time.perf_counter()
    _make_dir(out, _is_run)
    name = model or str(demo_model_dir())
    wanted = synth_sequences + heldout_sequences + ppl_sequences
    lm = load_model(name, device=device)
    tok = load_tokenizer(name)
    shape = model_shape(lm)
    parse_heads(heads, shape.n_layers, shape.n_heads)  # a bad head fails before any work
    if text is None:
        _say(f"[1/5] sampling {wanted} stories from {name} (seed {seed})")
        texts = sample_texts(lm, tok, wanted, max_new_tokens=max_tokens, seed=seed)
        text = str(write_corpus(out / "corpus.txt", texts))
    else:
        _say(f"[1/5] reading {text}")
        texts = load_corpus(text, n=wanted)
        if len(texts) <= synth_sequences + heldout_sequences:
            _fail(f"error: {text} holds {len(texts)} paragraphs; the demo needs more than "
                  f"{synth_sequences + heldout_sequences} (synthesis + held-out + perplexity)")
    _say("[2/5] extracting attention, [3/5] synthesizing a program per head")
    settings = SynthSettings(n_synth=synth_sequences, n_heldout=heldout_sequences,
                             choice=Choice(tolerance=tolerance, max_size=max_size))
    results = _run_synth(out, name, text, None, heads, "enum", settings, max_tokens, device, jobs,
                         loaded=(lm, tok))
    _say("[4/5] perplexity with heads replaced by explanations, surrogates and controls")
    curve = _write_curve(out, lm, tok, name, text, texts[synth_sequences + heldout_sequences:],
                         seed)
    _say("[5/5] writing the report")
    page = build_report(out)
    typer.echo(_iou_summary(results))
    quarter = _quarter_summary(curve)
    if quarter is not None:
        typer.echo(quarter)
    typer.echo(f"report: {page}  ({time.perf_counter() - start:.0f} s)")


def _write_curve(out: Path, lm, tok, name: str, text: str, texts: list[str], seed: int) -> dict:
    """The substitution curve of OUT/programs.hc (and OUT/surrogates.hc, when the run has one)
    on `texts`, written to OUT/curve.json."""
    from headcode.eval.curve import FRACTIONS, evaluations, substitution_curve, write_curve
    from headcode.models.loading import model_shape, position_limit
    from headcode.models.perplexity import sequences as protocol_sequences
    from headcode.models.progress import progress_bar

    loaded, items = _program_file(out / "programs.hc", "iou")
    surrogates, others = _program_file(out / "surrogates.hc", "iou") \
        if (out / "surrogates.hc").is_file() else (None, [])
    rows = protocol_sequences(tok, texts, limit=position_limit(lm))
    if not rows:
        _fail("error: no text left for the perplexity curve")
    total = evaluations(FRACTIONS, len(items), len(model_shape(lm).heads), len(others))
    with progress_bar(total, "perplexity", sys.stderr.isatty()) as bar:
        curve = substitution_curve(lm, rows, loaded, surrogates, seed=seed, advance=bar.advance)
    curve = {"model": name, "text": text, **curve}
    write_curve(out / "curve.json", curve)
    return curve


def _quarter_summary(curve: dict) -> str | None:
    """The perplexity increase at 25% of heads replaced, by explanations and by surrogates."""
    quarter = next((p for p in curve["points"] if p["fraction"] == 0.25), None)
    if quarter is None:
        return None
    base = curve["baseline_ppl"]
    by = [f"{quarter['ppl'][k]:.2f} ({quarter['ppl'][k] / base - 1:+.1%}) with {label}"
          for k, label in (("program", "explanations"), ("surrogate", "surrogates"))
          if k in quarter["ppl"]]
    return (f"perplexity {base:.2f} -> {', '.join(by)}: {quarter['heads']} heads (25%) "
            "replaced")


def _iou_summary(results: list) -> str:
    """`N heads: mean held-out IoU: explanations X (mean size S), surrogates Y (mean size T)`."""
    from headcode.synth.pipeline import mean_heldout

    def mean_size(kind: str) -> float:
        return sum(getattr(r, kind).size for r in results) / max(len(results), 1)

    return (f"{len(results)} heads: mean held-out IoU: explanations "
            f"{mean_heldout(results, 'explanation'):.3f} (mean size "
            f"{mean_size('explanation'):.1f}), surrogates {mean_heldout(results, 'surrogate'):.3f} "
            f"(mean size {mean_size('surrogate'):.1f})")


_NEW_DIRS: list[Path] = []  # directories this command created, deepest first


def _drop_new_dirs() -> None:
    """After a failed command: remove the directories it created that are still empty."""
    for path in _NEW_DIRS:
        try:
            path.rmdir()
        except OSError:
            break


def _is_run(path: Path) -> bool:
    """Whether `path` holds a run, or nothing but attention dumps (to start a run from)."""
    from headcode.models.dump import is_dump

    return (path / "run.json").is_file() or all(map(is_dump, path.iterdir()))


def _make_dir(path: Path, ours: Callable[[Path], bool] | None = None) -> None:
    """Create a directory (and its parents), or fail with one line. With `ours`, an existing
    directory that holds files is refused unless `ours(path)` recognises it as headcode's."""
    if ours is not None and path.is_dir() and any(path.iterdir()) and not ours(path):
        _fail(f"error: {path} holds files and is not headcode's output: choose a new or empty "
              "directory")
    _NEW_DIRS.extend(p for p in [path, *path.parents] if not p.exists())
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        _fail(f"error: {path} exists and is not a directory")
    except OSError as e:
        _fail(f"error: cannot create {path}: {e.strerror or e}")


def _relative_to(path: Path, run_dir: Path) -> str:
    """`path` as run.json records it: relative to the run directory when inside it (a copied
    run finds its own dump), else absolute."""
    path, run_dir = Path(path).absolute(), Path(run_dir).absolute()
    return str(path.relative_to(run_dir)) if path.is_relative_to(run_dir) else str(path)


def _say(message: str) -> None:
    typer.echo(message, err=True)


def _run_synth(out: Path, model: Optional[str], text: Optional[str], dump: Optional[Path],
               heads: str, proposer: str, settings, max_tokens: int, device: str,
               jobs: int, loaded: tuple | None = None) -> list:
    """Extract (unless `dump` is given), synthesize every head, write the library report.

    `loaded`: the model and tokenizer when the caller has them already (loaded only once)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from headcode.models.dump import open_dump
    from headcode.synth.pipeline import library_report, synthesize
    from headcode.synth.rundir import RunDir
    from headcode.synth.scoring import parse_heads

    if dump is None:
        dump = out / "dump"
        if not (dump / "meta.json").exists():
            _make_dir(out)
            _extract_for_synth(model, text, dump, settings.n_synth + settings.n_heldout,
                               max_tokens, device, loaded)
    attention = open_dump(dump)
    chosen = parse_heads(heads, attention.n_layers, attention.n_heads)
    run = RunDir(out, choice=settings.choice, settings={
        "model": model or attention.meta.get("model"), "text": text,
        "dump": _relative_to(dump, out), "heads": heads, "proposer": proposer,
        "synth_sequences": settings.n_synth, "heldout_sequences": settings.n_heldout,
        "max_tokens": max_tokens,
    })
    with Progress(TextColumn("synth"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  TextColumn("{task.description}", markup=False), transient=True,
                  disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("", total=len(chosen))
        results = synthesize(
            attention, chosen, run, settings, jobs=jobs,
            say=lambda message: bar.update(task, description=message),
            advance=lambda k: bar.advance(task, k),
        )
    report = library_report(attention, results, settings)
    (out / "library.json").write_text(json.dumps(report, indent=2) + "\n")
    return results


# ---------------------------------------------------------------- evaluation


@app.command()
def qa(
    model: Annotated[str, typer.Option(help=_MODEL_HELP)],
    data: Annotated[Optional[Path], typer.Option(
        help="JSONL of items {\"prompt\": str, \"choices\": [str, ...], \"answer\": int} "
             "(default: the bundled stories-qa.jsonl, 60 TinyStories-style items).")] = None,
    tokenizer: _Tokenizer = None,
    dtype: _Dtype = "float32",
    device: _Device = "auto",
    batch_size: Annotated[int, typer.Option(
        min=1, help="Prompt + choice sequences per forward pass.")] = 16,
    programs: _Programs = None,
    replace: _Replace = None,
    order: _Order = "iou",
    control: Annotated[Optional[str], typer.Option(
        help="Replace the same heads by a control instead: uniform (causal), mean "
             "(mean-ablation over the QA prompts) or random (a seeded random program of the "
             "file).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of --control random.")] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Multiple-choice QA accuracy by log-likelihood, optionally with heads replaced by
    programs or by a control (docs/qa.md).

    Each choice is scored by the summed log-likelihood of its tokens given the prompt, and by
    the per-token mean; the best choice (ties: the first) is the prediction. Prints the
    accuracy by both. With --programs, the first --replace of all heads, taken from the file's
    assigned heads in --order, are replaced, and the accuracy without and with them is printed
    (--json: items, baseline_accuracy_sum, baseline_accuracy_mean, accuracy_sum,
    accuracy_mean, replaced).

    Examples:

    \b
      headcode qa --model ../shared/models/stories260K
      headcode qa --model ../shared/models/stories260K --programs heads.hc --replace 0.25
      headcode qa --model gpt2 --data my-items.jsonl --programs heads.hc --control mean --json
    """
    from headcode.dsl.tokens import load_tokenizer
    from headcode.eval.qa import STORIES_QA, compare, load_items, prompt_rows, score
    from headcode.models.loading import load_model, model_shape

    if programs is None:
        if replace is not None or control is not None:
            _fail("error: --replace and --control need --programs")
    else:
        _check_program_options(replace, order, control)
        loaded, assigned = _program_file(programs, order)
    data = data or STORIES_QA
    items = load_items(data)
    lm = load_model(model, dtype=dtype, device=device)
    tok = load_tokenizer(tokenizer or model)
    if programs is None:
        result = score(lm, tok, items, batch_size=batch_size)
        if as_json:
            typer.echo(json.dumps({
                "model": model, "data": str(data), "items": len(items),
                "accuracy_sum": result.accuracy_sum, "accuracy_mean": result.accuracy_mean,
            }))
        else:
            typer.echo(f"accuracy {result.accuracy_sum:.3f} (sum), {result.accuracy_mean:.3f} "
                       f"(mean) on {len(items)} items of {data}")
        return
    reference = prompt_rows(tok, items) if control == "mean" else []
    sources, chosen = _program_sources(
        lm, loaded, assigned, 0.25 if replace is None else replace, control, reference, seed
    )
    result = compare(lm, tok, items, sources, batch_size=batch_size)
    result["replaced"] = [[layer, head] for layer, head in chosen]
    if as_json:
        typer.echo(json.dumps({"model": model, "data": str(data), **result}))
        return
    by = f"control {control}" if control else "their programs"
    typer.echo(
        f"accuracy {result['baseline_accuracy_sum']:.3f} -> {result['accuracy_sum']:.3f} (sum), "
        f"{result['baseline_accuracy_mean']:.3f} -> {result['accuracy_mean']:.3f} (mean) with "
        f"{len(chosen)} of {len(model_shape(lm).heads)} heads replaced by {by} "
        f"({len(items)} items of {data})"
    )
    typer.echo("replaced: " + (" ".join(f"{la}.{h}" for la, h in chosen) or "none"))


# ---------------------------------------------------------------- reports


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(
        help="A run directory of `headcode synth` (or `headcode demo`).", metavar="RUN_DIR")],
    out: Annotated[Optional[Path], typer.Option(
        help="Where to write report.html, report.md and figures/ (default: RUN_DIR).")] = None,
    example: Annotated[Optional[int], typer.Option(
        min=0, help="The dump sequence the heatmaps show (default: the first held-out one).")
    ] = None,
    curve: Annotated[bool, typer.Option(
        "--curve", help="First measure the perplexity curve (RUN_DIR/curve.json) with the "
                        "run's model: 0/10/25/50/100% of heads replaced, with the controls.")
    ] = False,
    text: Annotated[Optional[str], typer.Option(
        help="With --curve: the text (default: the run's, its paragraphs after those the run "
             "used).")] = None,
    ppl_sequences: Annotated[int, typer.Option(
        min=1, help="With --curve: paragraphs to measure perplexity on.")] = 100,
    seed: Annotated[int, typer.Option(help="With --curve: seed of the random control.")] = 0,
    device: Annotated[str, typer.Option(help="With --curve: auto, cpu, cuda or cuda:N.")
    ] = "auto",
) -> None:
    """Write a report of a synthesis run and print the path of its report.html.

    report.html is one self-contained page (open it offline, send it as one file): the run's
    summary, the perplexity curve of explanations and surrogates against the controls (when
    RUN_DIR/curve.json exists), a sortable table of every head's explanation and surrogate IoU
    and size, and per head both programs with their glosses, its front (IoU against size), the
    explanation's emitted Python and its real attention beside the explanation's matrix (when
    the run has no surrogates.hc or results.jsonl, the rest). report.md holds the same in
    Markdown, with the PNGs in figures/. Without the run's attention dump (RUN_DIR/dump, or
    the --dump the run used) the report has no heatmaps.

    Example:

    \b
      headcode report runs/stories                  # runs/stories/report.html
      headcode report runs/stories --out /tmp/rep   # /tmp/rep/report.html
      headcode report runs/stories --curve          # measure the perplexity curve first
    """
    from contextlib import ExitStack

    if out is not None:
        _make_dir(out, lambda p: _is_run(p) or _is_report(p))
    if curve:
        _curve_for_run(run_dir, text, ppl_sequences, seed, device)
    elif text is not None:
        _fail("error: --text needs --curve")

    from headcode.eval.report import build_report
    from headcode.models.progress import progress_bar

    with ExitStack() as stack:
        bars: list = []  # opened at the first figure, when the number of heads is known

        def advance(done: int, total: int) -> None:
            if not bars:
                bars.append(stack.enter_context(
                    progress_bar(total, "figures", sys.stderr.isatty())))
            bars[0].advance(1)

        page = build_report(run_dir, out, example=example, progress=advance)
    typer.echo(str(page))


def _is_report(path: Path) -> bool:
    """Whether `path` holds a report headcode wrote (report.html with its title)."""
    try:
        return "<title>headcode report:" in (path / "report.html").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def _curve_for_run(run_dir: Path, text: Optional[str], n: int, seed: int, device: str) -> None:
    """Measure a run's substitution curve with the model and text its run.json names."""
    from headcode.dsl.tokens import load_tokenizer
    from headcode.eval.report import read_settings
    from headcode.models.corpus import load_corpus
    from headcode.models.loading import load_model

    settings = read_settings(run_dir)
    if not settings:
        _fail(f"error: {run_dir}: no run.json (is it a `headcode synth` run?)")
    name = settings.get("model")
    if not name:
        _fail(f"error: {run_dir}/run.json names no model")
    used = 0 if text is not None else (settings.get("synth_sequences", 0)
                                       + settings.get("heldout_sequences", 0))
    text = text or settings.get("text")
    if not text:
        _fail(f"error: {run_dir}/run.json names no text: give --text")
    texts = load_corpus(text, n=used + n)[used:]
    if not texts:
        _fail(f"error: {text} has no paragraphs after the {used} the run used: give --text")
    lm = load_model(name, device=device)
    _write_curve(run_dir, lm, load_tokenizer(name), name, text, texts, seed)


def _extract_for_synth(model: str, text: str, out: Path, sequences: int, max_tokens: int,
                       device: str, loaded: tuple | None = None) -> None:
    """The attention a run needs, extracted into its directory (with the model and tokenizer
    `loaded`, if given, else loaded here)."""
    from headcode.dsl.tokens import load_tokenizer
    from headcode.models.corpus import load_corpus
    from headcode.models.extract import extract as run_extract
    from headcode.models.loading import load_model

    texts = load_corpus(text, n=sequences)
    if len(texts) < sequences:
        _fail(f"error: {text} holds {len(texts)} paragraphs; the run needs {sequences}")
    lm, tok = loaded or (load_model(model, device=device), load_tokenizer(model))
    run_extract(lm, tok, texts, out, max_tokens=max_tokens, progress=sys.stderr.isatty(),
                extra={"text": str(text)})


def _write_text(path: Path, text: str) -> None:
    from headcode.dsl.program import write_atomic

    write_atomic(path, text)


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

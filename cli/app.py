"""The command line's shell: the Typer app, the options several commands share (their defaults
read from the settings dataclasses), and the one place errors become exit status 2.

Every user error ends as one clear line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Optional

import typer

from headcode.dsl.errors import ProgramError, ProgramErrors
from headcode.errors import HeadcodeError


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
                    except (ProgramError, ProgramErrors) as e:  # FILE:LINE:COL: message
                        from headcode.dsl.program import error_lines

                        fail(error_lines(e))
                    except HeadcodeError as e:
                        fail(f"error: {e}")
                    except OSError as e:  # unwritable, full, vanished: the place, not a bug
                        where = f"{e.filename}: " if e.filename else ""
                        fail(f"error: {where}{e.strerror or e}")
                except BaseException:
                    drop_new_dirs()
                    raise
                finally:
                    NEW_DIRS.clear()

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


def fail(lines: list[str] | str, code: int = 2) -> None:
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(line, err=True)
    raise typer.Exit(code)



# ---------------------------------------------------------------- shared options

MODEL_HELP = ("A causal LM: a local directory or .gguf file (never touches the network), or a "
              "Hugging Face hub id.")

# Options that several commands take, declared once.
Tokenizer = Annotated[Optional[str], typer.Option(
    help="Tokenizer directory, .gguf file or hub id (default: the model's).")]
Dtype = Annotated[str, typer.Option(help="Model weights: float32, float16, bfloat16 or auto.")]
Device = Annotated[str, typer.Option(help="auto (cuda when available), cpu, cuda, cuda:N.")]
Tolerance = Annotated[float, typer.Option(
    min=0, help="Explanations: the smallest program on a head's front within this much "
                "held-out IoU of the best program of at most --max-size nodes.")]
MaxSize = Annotated[int, typer.Option(
    min=1, help="Explanations: the size budget, in syntax nodes, that the tolerance is "
                "measured against.")]
Programs = Annotated[Optional[Path], typer.Option(
    help="A program file: replace some of the heads it assigns by their programs.")]
Replace = Annotated[Optional[float], typer.Option(
    help="With --programs: replace round(FRACTION x all the model's heads) heads, halves "
         "up (default 0.25).", metavar="FRACTION")]
Order = Annotated[str, typer.Option(
    help="iou: descending held-out IoU, read from each assignment's comment "
         "(`# held-out IoU 0.43`); file: file order.")]
TEXT_HELP = (
    "The corpus: a text file (blank-line separated paragraphs, one sequence each), a .jsonl "
    "file (see --jsonl-field), or a Hugging Face dataset name (needs the `datasets` package)."
)




# ---------------------------------------------------------------- heads replaced by programs


def check_program_options(replace: Optional[float], order: str, control: Optional[str]) -> None:
    """One-line errors for bad --replace, --order or --control values, before any loading."""
    from headcode.models.programs import CONTROLS, ORDERS

    if replace is not None and not 0.0 <= replace <= 1.0:
        fail(f"error: --replace must be a fraction in [0, 1] (got {replace})")
    if order not in ORDERS:
        fail(f"error: --order must be {' or '.join(ORDERS)} (got {order!r})")
    if control is not None and control not in CONTROLS:
        fail(f"error: --control must be {', '.join(CONTROLS)} (got {control!r})")


def program_sources(lm, loaded, items: list, fraction: float, control: Optional[str],
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


# ---------------------------------------------------------------- output directories and files

NEW_DIRS: list[Path] = []  # directories this command created, deepest first


def drop_new_dirs() -> None:
    """After a failed command: remove the directories it created that are still empty."""
    for path in NEW_DIRS:
        try:
            path.rmdir()
        except OSError:
            break


def is_run(path: Path) -> bool:
    """Whether `path` holds a run, or nothing but attention dumps (to start a run from)."""
    from headcode.models.dump import is_dump

    return (path / "run.json").is_file() or all(map(is_dump, path.iterdir()))


def is_report(path: Path) -> bool:
    """Whether `path` holds a report headcode wrote (report.html with its title)."""
    try:
        return "<title>headcode report:" in (path / "report.html").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False


def make_dir(path: Path, ours: Callable[[Path], bool] | None = None) -> None:
    """Create a directory (and its parents), or fail with one line. With `ours`, an existing
    directory that holds files is refused unless `ours(path)` recognises it as headcode's."""
    if ours is not None and path.is_dir() and any(path.iterdir()) and not ours(path):
        fail(f"error: {path} holds files and is not headcode's output: choose a new or empty "
             "directory")
    NEW_DIRS.extend(p for p in [path, *path.parents] if not p.exists())
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        fail(f"error: {path} exists and is not a directory")
    except OSError as e:
        fail(f"error: cannot create {path}: {e.strerror or e}")


def write_text(path: Path, text: str) -> None:
    from headcode.files import write_atomic

    write_atomic(path, text)


def say(message: str) -> None:
    """News about a long run, on stderr."""
    typer.echo(message, err=True)


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


"""Reading a run directory for its report: settings, programs, fronts, curve and dump."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ...dsl.emitter import emit_function
from ...dsl.errors import ProgramError, ProgramErrors
from ...dsl.gloss import gloss
from ...dsl.holes import UNFILLED, has_holes
from ...dsl.printer import show
from ...dsl.program import Program, error_lines, load_file
from ...errors import HeadcodeError
from ...models.dump import Dump, DumpError, open_dump
from ...models.programs import Recorded, recorded
from ...synth.rundir import PROGRAM_FILES, HeadResult, RunDir

MAX_TOKENS = 48  # heatmaps show at most this many tokens of the example sequence
CURVE_HINT = (
    "`headcode report RUN_DIR --curve` measures it with the run's model and text and writes "
    "RUN_DIR/curve.json; `headcode perplexity --programs RUN_DIR/programs.hc --replace 0.25` "
    "(or `RUN_DIR/surrogates.hc`) measures one point"
)


class ReportError(HeadcodeError):
    """A run directory that cannot be reported on: missing, or with malformed files."""


@dataclass
class HeadEntry:
    """One head of the run: its program (the explanation), recorded figures, gloss, emitted
    Python and heatmap; its surrogate (an entry of surrogates.hc) and front, when the run has
    them."""

    layer: int
    head: int
    program: Program
    figures: Recorded
    python: str
    figure: Path | None = None
    note: str | None = None
    surrogate: HeadEntry | None = None
    result: HeadResult | None = None
    front_figure: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.layer}.{self.head}"

    @property
    def anchor(self) -> str:
        return f"head-{self.layer}-{self.head}"

    @property
    def text(self) -> str:
        return show(self.program.expr)

    @property
    def gloss(self) -> str:
        """The program in plain English."""
        return gloss(self.program.expr, self.program.definitions)

    @property
    def expanded(self) -> str | None:
        """The program with its references inlined, when that differs from its text."""
        closed = show(self.program.closed)
        return closed if closed != self.text else None


@dataclass
class Example:
    """The sequence the heatmaps show."""

    index: int
    shown: int
    length: int
    texts: list[str]
    heldout: bool  # the run's first held-out sequence


@dataclass
class Report:
    """Everything the page shows, gathered from the run directory."""

    run_dir: Path
    settings: dict
    heads: list[HeadEntry]
    curve: dict | None
    curve_figure: Path | None
    example: Example | None
    dump_note: str | None
    built: str
    programs_date: str


# ---------------------------------------------------------------- reading the run


def read_settings(run_dir: Path) -> dict:
    """run.json as a dict ({} when the directory has none)."""
    path = run_dir / "run.json"
    if not path.exists():
        return {}
    try:
        settings = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(settings, dict):
        raise ReportError(f"{path}: expected a JSON object of run settings")
    return settings


def read_heads(run_dir: Path) -> list[HeadEntry]:
    """The head assignments of programs.hc with their comment figures, best held-out first,
    each with its surrogate of surrogates.hc and its front of results.jsonl when present."""
    explanations, surrogates = (run_dir / name for name, _ in PROGRAM_FILES.values())
    if not explanations.is_file():
        raise ReportError(f"{run_dir}: no programs.hc (not a run directory of `headcode synth`)")
    heads = read_programs(explanations)
    others = {(e.layer, e.head): e for e in read_programs(surrogates)} \
        if surrogates.is_file() else {}
    results = read_results(run_dir)
    for entry in heads:
        entry.surrogate = others.get((entry.layer, entry.head))
        entry.result = results.get((entry.layer, entry.head))
    return sorted(heads, key=_by_heldout)


def read_programs(path: Path) -> list[HeadEntry]:
    """The head assignments of a program file with their comment figures, in file order."""
    try:
        loaded = load_file(path)
    except (ProgramError, ProgramErrors) as e:
        raise ReportError("; ".join(error_lines(e, str(path)))) from None
    programs = loaded.heads
    entries = []
    for a in loaded.checked.file.assignments:
        program = programs[(a.layer, a.head)]
        python = (f"# not emitted: {UNFILLED}" if has_holes(program.closed) else
                  emit_function(program, f"head_{a.layer}_{a.head}", f"head {a.layer}.{a.head}"))
        entries.append(HeadEntry(a.layer, a.head, program, recorded(a.trailing), python))
    if not entries:
        raise ReportError(f"{path}: no head assignments (`head L.H = program`) to report on")
    return entries


def read_results(run_dir: Path) -> dict[tuple[int, int], HeadResult]:
    """The fronts of results.jsonl by head ({} when the run has none)."""
    path = run_dir / "results.jsonl"
    if not path.exists():
        return {}
    try:
        return RunDir.open(run_dir).results()
    except HeadcodeError as e:
        raise ReportError(str(e)) from None
    except (ValueError, KeyError, TypeError) as e:
        raise ReportError(f"{path}: not a readable list of head results ({e!r})") from None


def _by_heldout(entry: HeadEntry) -> tuple:
    iou = entry.figures.heldout_iou
    return (iou is None, -(iou or 0.0), entry.layer, entry.head)


def read_curve(run_dir: Path) -> dict | None:
    """curve.json, checked for the fields the report reads, or None when the run has none."""
    path = run_dir / "curve.json"
    if not path.exists():
        return None
    try:
        curve = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ReportError(f"{path}: not valid JSON ({e})") from None
    problem = _curve_problem(curve)
    if problem:
        raise ReportError(f"{path}: malformed perplexity curve: {problem}")
    return curve


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _curve_problem(curve) -> str | None:
    if not isinstance(curve, dict) or not isinstance(curve.get("points"), list):
        return "expected an object with a list of \"points\""
    if not curve["points"]:
        return "no points"
    if "baseline_ppl" in curve and not _number(curve["baseline_ppl"]):
        return "\"baseline_ppl\" is not a number"
    for k, point in enumerate(curve["points"]):
        if not isinstance(point, dict) or not _number(point.get("fraction")):
            return f"point {k} has no numeric \"fraction\""
        ppl = point.get("ppl")
        if not isinstance(ppl, dict) or not all(_number(v) for v in ppl.values()):
            return f"point {k}: \"ppl\" must map sources to numbers"
    return None


def find_dump(run_dir: Path, settings: dict) -> tuple[Dump | None, str | None]:
    """The run's attention dump (RUN_DIR/dump, else run.json's "dump", relative to RUN_DIR),
    or None and why not."""
    places = [run_dir / "dump"]
    if settings.get("dump"):
        named = Path(str(settings["dump"]))
        places.append(run_dir / named)  # relative to the run, never to where we stand
    problems = []
    for place in dict.fromkeys(places):
        if place.exists():
            try:
                return open_dump(place), None
            except DumpError as e:
                problems.append(str(e))
    if problems:
        return None, f"the attention dump could not be read ({'; '.join(problems)})"
    looked = ", ".join(str(p) for p in dict.fromkeys(places))
    return None, f"no attention dump found (looked for {looked})"



"""A report of a synthesis run directory: one self-contained HTML page and the same in Markdown.

    build_report("runs/stories")   # runs/stories/report.html, report.md, figures/*.png

The report shows the run's summary, the perplexity-substitution curve (`curve.json`, when the
run has one), a sortable table of every head's explanation (`programs.hc`) and surrogate
(`surrogates.hc`) with their recorded figures, and per head both programs with their glosses,
its size/fidelity front (`results.jsonl`), the Python the explanation emits and its real
attention beside the explanation's matrix on the first held-out sequence of the run's attention
dump. A run without surrogates or fronts reports the rest. It reads files only (no search, no
model).
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..dsl.emitter import emit_function
from ..dsl.errors import EvaluationError, ProgramError, ProgramErrors
from ..dsl.gloss import gloss
from ..dsl.interpreter import run as run_program
from ..dsl.printer import show
from ..dsl.program import Program, error_lines, load_file
from ..errors import HeadcodeError
from ..files import write_atomic
from ..models.dump import Dump, DumpError, open_dump
from ..models.programs import Recorded, recorded
from ..synth.rundir import PROGRAM_FILES, HeadResult, RunDir
from . import figures

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
        try:
            python = emit_function(program, f"head_{a.layer}_{a.head}", f"head {a.layer}.{a.head}")
        except ValueError as e:  # unfilled holes
            python = f"# not emitted: {e}"
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


# ---------------------------------------------------------------- figures


def _example(dump: Dump, settings: dict, chosen: int | None) -> Example:
    first_heldout = settings.get("synth_sequences")
    if not (isinstance(first_heldout, int) and 0 <= first_heldout < len(dump)):
        first_heldout = None
    if chosen is None:
        chosen = 0 if first_heldout is None else first_heldout
    elif not 0 <= chosen < len(dump):
        raise ReportError(f"example sequence {chosen} is not in the dump "
                          f"(it has {len(dump)} sequences)")
    length = dump.length(chosen)
    shown = min(length, MAX_TOKENS)
    return Example(chosen, shown, length, dump.texts(chosen)[:shown], chosen == first_heldout)


def _head_figures(heads: list[HeadEntry], dump: Dump, example: Example, folder: Path,
                  progress: Callable[[int, int], None] | None) -> None:
    tokens = dump.tokens(example.index)
    k = example.shown
    for done, entry in enumerate(heads, 1):
        try:
            real = dump.head(example.index, entry.layer, entry.head)[:k, :k]
            matrix = run_program(entry.program, tokens.texts, tokens.ids, tokens.special)[:k, :k]
        except (DumpError, EvaluationError) as e:
            entry.note = f"no heatmap: {e}"
        else:
            title = short(f"head {entry.name}: {entry.text}", 90)
            entry.figure = figures.head_figure(real, matrix, example.texts, title,
                                               folder / f"{entry.anchor}.png")
        if progress is not None:
            progress(done, len(heads))


def _front_figures(heads: list[HeadEntry], folder: Path) -> None:
    for entry in heads:
        r = entry.result
        if r is not None:
            entry.front_figure = figures.front_figure(
                r.front, r.explanation, r.surrogate, f"head {entry.name}: size and fidelity",
                folder / f"front-{entry.layer}-{entry.head}.png")


def _clear_figures(folder: Path) -> None:
    """Remove the figures an earlier report wrote (only the names this module writes)."""
    if folder.is_dir():
        for old in [*folder.glob("head-*.png"), *folder.glob("front-*.png"),
                    folder / "curve.png"]:
            old.unlink(missing_ok=True)


# ---------------------------------------------------------------- building


def build_report(run_dir: str | Path, out_dir: str | Path | None = None, *,
                 example: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Path:
    """Write report.html, report.md and figures/*.png for a run directory; the page's path.

    `out_dir` defaults to `run_dir`; `example` picks the heatmaps' sequence of the dump
    (default: the first held-out one); `progress(done, total)` is called per head figure.
    """
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ReportError(f"{run_dir}: no such run directory")
    out = Path(out_dir) if out_dir is not None else run_dir
    settings = read_settings(run_dir)
    heads = read_heads(run_dir)
    curve = read_curve(run_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ReportError(f"cannot create {out}: {e.strerror}") from None
    folder = out / "figures"
    _clear_figures(folder)
    folder.mkdir(exist_ok=True)
    dump, dump_note = find_dump(run_dir, settings)
    chosen = None
    if dump is not None:
        chosen = _example(dump, settings, example)
        _head_figures(heads, dump, chosen, folder, progress)
    _front_figures(heads, folder)
    curve_png = figures.curve_figure(curve, folder / "curve.png") if curve else None
    programs = run_dir / "programs.hc"
    report = Report(
        run_dir, settings, heads, curve, curve_png, chosen, dump_note,
        built=datetime.now().strftime("%Y-%m-%d %H:%M"),
        programs_date=datetime.fromtimestamp(programs.stat().st_mtime).strftime("%Y-%m-%d %H:%M"),
    )
    write_atomic(out / "report.md", markdown_page(report, out))
    page = out / "report.html"
    write_atomic(page, html_page(report))
    return page


# ---------------------------------------------------------------- shared by both pages


def mean(values: list[float | None]) -> float | None:
    """The mean of the values present, or None."""
    present = [v for v in values if v is not None and not math.isnan(v)]
    return sum(present) / len(present) if present else None


def fmt(value: float | int | None, digits: int = 3) -> str:
    """A figure for a table cell; `—` when missing."""
    if value is None:
        return "—"
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def png_uri(path: Path) -> str:
    """A PNG file as a data: URI."""
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def title(report: Report) -> str:
    model = report.settings.get("model") or "unknown model"
    text = report.settings.get("text")
    on = f" on {text}" if text else ""
    return f"{model}{on}: {len(report.heads)} heads"


def short(text: str, width: int = 100) -> str:
    """`text` cut to `width` characters for a table cell or a heading (details show it all)."""
    return text if len(text) <= width else text[: width - 1] + "…"


def example_text(example: Example) -> str:
    """The shown tokens of the example sequence joined (as the model read them)."""
    return "".join(example.texts)


def curve_sources(curve: dict) -> list[str]:
    """The sources of the curve's points: program (the explanations) and surrogate first, then
    the controls present."""
    seen = {s for p in curve["points"] for s in p["ppl"]}
    first = [s for s in figures.CONTROL_STYLE if s in seen]
    return first + sorted(seen - set(first))


def curve_intro(curve: dict) -> str:
    """The sentence above the curve: what it shows, on how much text."""
    parts = []
    if curve.get("baseline_ppl") is not None:
        parts.append(f"model perplexity {curve['baseline_ppl']:.2f}")
    if curve.get("sequences") is not None:
        parts.append(f"{curve['sequences']} sequences")
    if curve.get("tokens") is not None:
        parts.append(f"{curve['tokens']} tokens")
    scope = f" ({', '.join(parts)})" if parts else ""
    surrogates = any("surrogate" in p["ppl"] for p in curve["points"])
    also = (", by their surrogates (the best-fitting programs, best held-out IoU first among "
            "them)" if surrogates else "")
    return ("Perplexity as more heads (best held-out IoU first) are replaced by their "
            f"explanations{also}, and the explanations' heads by the controls{scope}.")


def curve_rows(curve: dict) -> list[list[str]]:
    """The curve as table rows: fraction, heads, then one perplexity per source."""
    sources = curve_sources(curve)
    rows = []
    for point in sorted(curve["points"], key=lambda p: p["fraction"]):
        heads = point.get("heads")
        rows.append([f"{point['fraction']:g}", "—" if heads is None else str(heads),
                     *(fmt(point["ppl"].get(s), 2) for s in sources)])
    return rows



def surrogates(report: Report) -> bool:
    """Whether the run has surrogates (surrogates.hc)."""
    return any(h.surrogate is not None for h in report.heads)


def both_means(report: Report, figure: str, digits: int = 3) -> str:
    """The mean of a recorded figure over the explanations, and over the surrogates if any."""
    explained = fmt(mean([getattr(h.figures, figure) for h in report.heads]), digits)
    if not surrogates(report):
        return explained
    other = fmt(mean([getattr(h.surrogate.figures, figure) for h in report.heads
                      if h.surrogate is not None]), digits)
    return f"{explained} explanations, {other} surrogates"


def summary_items(report: Report) -> list[tuple[str, str]]:
    """(label, value) pairs of the summary, as plain text."""
    s = report.settings
    items = [
        ("heads", str(len(report.heads))),
        ("mean held-out IoU", both_means(report, "heldout_iou")),
        ("mean size", both_means(report, "size", 1)),
        ("mean synthesis IoU", both_means(report, "synthesis_iou")),
        ("model", str(s.get("model") or "—")),
        ("text", str(s.get("text") or "—")),
    ]
    if "synth_sequences" in s or "heldout_sequences" in s:
        items.append(("sequences", f"{s.get('synth_sequences', '—')} synthesis, "
                                   f"{s.get('heldout_sequences', '—')} held-out"))
    if s.get("proposer"):
        items.append(("proposer", str(s["proposer"])))
    items += [("programs.hc written", report.programs_date), ("report built", report.built)]
    return items


def example_caption(example: Example) -> str:
    held_out = "first held-out " if example.heldout else ""
    cut = f"first {example.shown} of {example.length}" if example.shown < example.length \
        else f"all {example.length}"
    return f"Heatmaps: {held_out}sequence {example.index} of the dump, {cut} tokens"


def no_heatmaps(report: Report) -> str:
    return f"This report has no heatmaps: {report.dump_note}."


def no_curve() -> str:
    return f"This run has no perplexity curve (no curve.json): {CURVE_HINT}."


def same_program(entry: HeadEntry) -> bool:
    """Whether the head's surrogate is its explanation."""
    return entry.surrogate is not None and entry.surrogate.text == entry.text


FRONT_CAPTION = ("The head's front: the best held-out IoU its search reached at each size. The "
                 "explanation is the smallest program close to the best; the surrogate fits best.")
SAME_PROGRAM = ("The surrogate is the explanation: no larger program on the front fits clearly "
                "better.")


def figures_line(entry: HeadEntry) -> str:
    f = entry.figures
    parts = [f"held-out IoU {fmt(f.heldout_iou)}", f"synthesis IoU {fmt(f.synthesis_iou)}",
             f"size {fmt(f.size)}"]
    if f.origin:
        parts.append(f"origin {f.origin}")
    return ", ".join(parts)


# ---------------------------------------------------------------- HTML

_CSS = """
body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#222}
h1{font-size:1.5em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
code,pre{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}
pre{background:#f6f7f9;padding:.6em .8em;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;margin:.6em 0}
th,td{border-bottom:1px solid #e2e2e2;padding:.25em .6em;text-align:left;vertical-align:top}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
table.sortable th{cursor:pointer;user-select:none;background:#f0f2f5;white-space:nowrap}
th[aria-sort=ascending]::after{content:" \\25B2"}th[aria-sort=descending]::after{content:" \\25BC"}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:.15em 1.2em}
dl.summary dt{color:#666}dl.summary dd{margin:0}
details{border:1px solid #e2e2e2;border-radius:4px;margin:.4em 0;padding:.3em .7em}
summary{cursor:pointer}img{max-width:100%;height:auto}.note{color:#8a5a00}
.pair{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:0 1.2em}
.pair h3{font-size:1em;margin:.6em 0 .2em}.pair pre{max-height:15em;overflow-y:auto}
.gloss{font-style:italic;margin:.3em 0}
.figures{color:#555;font-size:.9em;margin:.2em 0}
"""

_JS = """
(function () {
  function sortBy(table, th, col) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var numeric = th.dataset.type === "number";
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.forEach(function (r, i) { r.dataset.at = i; });
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.value, y = b.cells[col].dataset.value;
      var c;
      if (x === "" || y === "") { c = x === y ? 0 : (x === "" ? 1 : -1); }
      else {
        c = numeric ? Number(x) - Number(y) : x.localeCompare(y);
        if (!ascending) { c = -c; }
      }
      return c || a.dataset.at - b.dataset.at;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.tabIndex = 0;
      th.addEventListener("click", function () { sortBy(table, th, col); });
      th.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sortBy(table, th, col); }
      });
    });
  });
  function openTarget() {
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === "DETAILS") { target.open = true; }
  }
  window.addEventListener("hashchange", openTarget);
  openTarget();
  document.querySelectorAll("button[data-open]").forEach(function (button) {
    button.addEventListener("click", function () {
      var open = button.dataset.open === "1";
      document.querySelectorAll("details.head").forEach(function (d) { d.open = open; });
    });
  });
})();
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _code_html(text: str) -> str:
    """`text` escaped, its `backticked` parts as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", _e(text))


def _img(path: Path, alt: str) -> str:
    return f'<img src="{png_uri(path)}" alt="{_e(alt)}">'


def _html_curve(report: Report) -> list[str]:
    out = ["<h2>Perplexity with heads replaced</h2>"]
    if report.curve is None:
        return out + [f"<p class=note>{_code_html(no_curve())}</p>"]
    curve = report.curve
    out.append(f"<p>{_e(curve_intro(curve))}</p>")
    if report.curve_figure is not None:
        out.append(_img(report.curve_figure, "perplexity against the fraction of heads replaced"))
    heads = ["fraction", "heads", *map(figures.source_label, curve_sources(curve))]
    out.append("<table class=curve><thead><tr>"
               + "".join(f"<th class=num>{_e(h)}</th>" for h in heads) + "</tr></thead><tbody>")
    for row in curve_rows(curve):
        out.append("<tr>" + "".join(f"<td class=num>{_e(v)}</td>" for v in row) + "</tr>")
    return out + ["</tbody></table>"]


def _cell(value: float | int | None, digits: int = 3) -> str:
    raw = "" if value is None else repr(value)
    return f'<td class=num data-value="{_e(raw)}">{_e(fmt(value, digits))}</td>'


def table_columns(report: Report) -> list[str]:
    """The heads table's columns: the explanation's held-out IoU and size, the surrogate's (when
    the run has surrogates), the explanation's synthesis IoU, then the explanation."""
    middle = ["surrogate IoU", "surrogate size"] if surrogates(report) else []
    return ["head", "explanation IoU", "explanation size", *middle, "synthesis IoU",
            "explanation"]


def table_figures(report: Report, entry: HeadEntry) -> list[float | int | None]:
    """The numbers of a head's row between its name and its explanation."""
    f = entry.figures
    values = [f.heldout_iou, f.size]
    if surrogates(report):
        other = entry.surrogate.figures if entry.surrogate else Recorded()
        values += [other.heldout_iou, other.size]
    return values + [f.synthesis_iou]


def table_intro(report: Report) -> str:
    also = " and its surrogate (the best-fitting program)" if surrogates(report) else ""
    return (f"Soft IoU on held-out text and size of each head's explanation{also}; the "
            "explanation's soft IoU on the synthesis text.")


def _html_table(report: Report) -> list[str]:
    columns = table_columns(report)
    out = ["<h2>Heads</h2>", f"<p>{_e(table_intro(report))} Click a column header to sort; "
           "click a program to see its details.</p>",
           "<table class=sortable id=heads><thead><tr>"]
    for k, name in enumerate(columns):
        kind = "text" if name == "explanation" else "number"
        sort = " aria-sort=descending" if k == 1 else ""
        align = "" if kind == "text" else " class=num"
        out.append(f"<th{align} data-type={kind}{sort}>{_e(name)}</th>")
    out.append("</tr></thead><tbody>")
    for h in report.heads:
        cells = "".join(_cell(v) for v in table_figures(report, h))
        out.append(
            f'<tr id="row-{h.anchor}"><td class=num data-value="{h.layer * 10000 + h.head}">'
            f"{h.name}</td>{cells}"
            f'<td data-value="{_e(h.text)}"><a href="#{h.anchor}"><code>{_e(short(h.text))}</code>'
            "</a></td></tr>")
    return out + ["</tbody></table>"]


def _html_program(entry: HeadEntry, heading: str, css: str) -> list[str]:
    return [f"<div class={css}><h3>{heading}</h3>",
            f"<pre class=program>head {entry.name} = {_e(entry.text)}</pre>",
            f"<p class=gloss>{_e(entry.gloss)}</p>",
            f"<p class=figures>{_e(figures_line(entry))}</p></div>"]


def _html_surrogate(entry: HeadEntry) -> list[str]:
    if entry.surrogate is None:
        return []
    if same_program(entry):
        return ["<div class=surrogate><h3>Surrogate</h3>",
                f"<p>{_e(SAME_PROGRAM)}</p></div>"]
    return _html_program(entry.surrogate, "Surrogate (best-fitting)", "surrogate")


def _html_head(entry: HeadEntry) -> list[str]:
    out = [f'<details class=head id="{entry.anchor}"><summary><b>head {entry.name}</b> '
           f"&middot; held-out IoU {_e(fmt(entry.figures.heldout_iou))} &middot; "
           f"<code>{_e(short(entry.text))}</code></summary>", "<div class=pair>",
           *_html_program(entry, "Explanation", "explanation"), *_html_surrogate(entry),
           "</div>"]
    if entry.front_figure is not None:
        out += [_img(entry.front_figure, f"head {entry.name}: held-out IoU against size"),
                f"<p class=figures>{_e(FRONT_CAPTION)}</p>"]
    if entry.expanded:
        out.append(f"<p>With its references inlined:</p><pre>{_e(entry.expanded)}</pre>")
    out.append(f"<p>The explanation's emitted Python (runs beside the language's runtime, "
               f"<code>headcode emit</code>):</p><pre>{_e(entry.python)}</pre>")
    if entry.figure is not None:
        out.append(_img(entry.figure, f"head {entry.name}: real attention and explanation"))
    elif entry.note:
        out.append(f"<p class=note>{_e(entry.note)}</p>")
    return out + ["</details>"]


def html_page(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS, JS and images)."""
    name = title(report)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<link rel="icon" href="data:,">',
           f"<title>headcode report: {_e(name)}</title><style>{_CSS}</style></head><body>",
           f"<h1>headcode report: {_e(name)}</h1>", "<h2>Summary</h2><dl class=summary>"]
    out += [f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in summary_items(report)]
    out.append("</dl>")
    out.append("<details><summary>run settings (run.json)</summary><pre>"
               + _e(json.dumps(report.settings, indent=2)) + "</pre></details>")
    out += _html_curve(report)
    out += _html_table(report)
    out.append("<h2>Programs and attention</h2>")
    if report.example is not None:
        out.append(f"<p>{_e(example_caption(report.example))}:</p>"
                   f"<pre>{_e(example_text(report.example))}</pre>"
                   "<p>Left the head's real attention, right the explanation's matrix (row: query "
                   "token, column: key token; one colour scale, square-root stretched).</p>")
    else:
        out.append(f"<p class=note>{_e(no_heatmaps(report))}</p>")
    out.append('<p><button type=button data-open="1">open all</button> '
               '<button type=button data-open="0">close all</button></p>')
    for entry in report.heads:
        out += _html_head(entry)
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- Markdown


def _code(text: str) -> str:
    """`text` as a Markdown code span, whatever backticks it holds."""
    ticks = 1
    while "`" * ticks in text:
        ticks += 1
    fence = "`" * ticks
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _cell_md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _block(text: str, language: str = "") -> list[str]:
    fence = "```"
    while fence in text:
        fence += "`"
    return [f"{fence}{language}", text.rstrip("\n"), fence]


def _relative(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix() if path.is_relative_to(out) else path.as_posix()


def _md_program(entry: HeadEntry, heading: str) -> list[str]:
    return [f"**{heading}**: {_e(figures_line(entry))}", "",
            *_block(f"head {entry.name} = {entry.text}"), "", f"*{_e(entry.gloss)}*", ""]


def markdown_page(report: Report, out: Path) -> str:
    """The report in Markdown, its figures linked relative to `out` (the report's folder)."""
    lines = [f"# headcode report: {_e(title(report))}", "", "## Summary", ""]
    lines += [f"- {k}: {_e(v)}" for k, v in summary_items(report)]
    lines += ["", "## Perplexity with heads replaced", ""]
    if report.curve is None:
        lines.append(_e(no_curve()))
    else:
        lines.append(curve_intro(report.curve))
        if report.curve_figure is not None:
            lines += ["", f"![perplexity curve]({_relative(report.curve_figure, out)})"]
        heads = ["fraction", "heads", *map(figures.source_label, curve_sources(report.curve))]
        lines += ["", "| " + " | ".join(heads) + " |", "|" + " ---: |" * len(heads)]
        lines += ["| " + " | ".join(row) + " |" for row in curve_rows(report.curve)]
    columns = table_columns(report)
    lines += ["", "## Heads", "", table_intro(report), "",
              "| " + " | ".join(columns) + " |", "|" + " ---: |" * (len(columns) - 1) + " --- |"]
    for h in report.heads:
        numbers = " | ".join(fmt(v) for v in table_figures(report, h))
        lines.append(f"| [{h.name}](#{h.anchor}) | {numbers} | {_cell_md(_code(short(h.text)))} |")
    lines += ["", "## Programs and attention", ""]
    if report.example is not None:
        lines += [f"{example_caption(report.example)}:", "",
                  *_block(example_text(report.example), "text"), "",
                  "Left the head's real attention, right the explanation's matrix.", ""]
    else:
        lines += [_e(no_heatmaps(report)), ""]
    for h in report.heads:
        lines += [f'<a id="{h.anchor}"></a>', "", f"### head {h.name}", "",
                  *_md_program(h, "Explanation")]
        if h.surrogate is not None:
            lines += (["**Surrogate**: " + _e(SAME_PROGRAM), ""] if same_program(h)
                      else _md_program(h.surrogate, "Surrogate (best-fitting)"))
        if h.front_figure is not None:
            lines += [f"![head {h.name}: front]({_relative(h.front_figure, out)})", "",
                      FRONT_CAPTION, ""]
        if h.expanded:
            lines += ["With its references inlined:", "", *_block(h.expanded), ""]
        lines += [*_block(h.python, "python"), ""]
        if h.figure is not None:
            lines += [f"![head {h.name}]({_relative(h.figure, out)})", ""]
        elif h.note:
            lines += [_e(h.note), ""]
    return "\n".join(lines).rstrip("\n") + "\n"

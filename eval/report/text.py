"""Wording and numbers shared by the HTML and the Markdown page."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

from ...models.programs import Recorded
from .. import figures
from .run import CURVE_HINT, Example, HeadEntry, Report


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


def escape(text: object) -> str:
    """`text` for HTML (quotes too)."""
    return html.escape(str(text), quote=True)


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

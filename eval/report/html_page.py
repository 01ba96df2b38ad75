"""The report as one self-contained HTML page (styles and script from eval/assets/)."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path

from .. import figures
from .run import HeadEntry, Report
from .text import (
    FRONT_CAPTION,
    SAME_PROGRAM,
    curve_intro,
    curve_rows,
    curve_sources,
    escape,
    example_caption,
    example_text,
    figures_line,
    fmt,
    no_curve,
    no_heatmaps,
    png_uri,
    same_program,
    short,
    summary_items,
    table_columns,
    table_figures,
    table_intro,
    title,
)

_CSS = "\n" + files("headcode.eval").joinpath("assets/report.css").read_text(encoding="utf-8")
_JS = "\n" + files("headcode.eval").joinpath("assets/report.js").read_text(encoding="utf-8")


def _code_html(text: str) -> str:
    """`text` escaped, its `backticked` parts as <code>."""
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", escape(text))


def _img(path: Path, alt: str) -> str:
    return f'<img src="{png_uri(path)}" alt="{escape(alt)}">'


def _html_curve(report: Report) -> list[str]:
    out = ["<h2>Perplexity with heads replaced</h2>"]
    if report.curve is None:
        return out + [f"<p class=note>{_code_html(no_curve())}</p>"]
    curve = report.curve
    out.append(f"<p>{escape(curve_intro(curve))}</p>")
    if report.curve_figure is not None:
        out.append(_img(report.curve_figure, "perplexity against the fraction of heads replaced"))
    heads = ["fraction", "heads", *map(figures.source_label, curve_sources(curve))]
    out.append("<table class=curve><thead><tr>"
               + "".join(f"<th class=num>{escape(h)}</th>" for h in heads) + "</tr></thead><tbody>")
    for row in curve_rows(curve):
        out.append("<tr>" + "".join(f"<td class=num>{escape(v)}</td>" for v in row) + "</tr>")
    return out + ["</tbody></table>"]


def _cell(value: float | int | None, digits: int = 3) -> str:
    raw = "" if value is None else repr(value)
    return f'<td class=num data-value="{escape(raw)}">{escape(fmt(value, digits))}</td>'


def _html_table(report: Report) -> list[str]:
    columns = table_columns(report)
    out = ["<h2>Heads</h2>", f"<p>{escape(table_intro(report))} Click a column header to sort; "
           "click a program to see its details.</p>",
           "<table class=sortable id=heads><thead><tr>"]
    for k, name in enumerate(columns):
        kind = "text" if name == "explanation" else "number"
        sort = " aria-sort=descending" if k == 1 else ""
        align = "" if kind == "text" else " class=num"
        out.append(f"<th{align} data-type={kind}{sort}>{escape(name)}</th>")
    out.append("</tr></thead><tbody>")
    for h in report.heads:
        cells = "".join(_cell(v) for v in table_figures(report, h))
        out.append(
            f'<tr id="row-{h.anchor}"><td class=num data-value="{h.layer * 10000 + h.head}">'
            f"{h.name}</td>{cells}"
            f'<td data-value="{escape(h.text)}"><a href="#{h.anchor}">'
            f"<code>{escape(short(h.text))}</code>"
            "</a></td></tr>")
    return out + ["</tbody></table>"]


def _html_program(entry: HeadEntry, heading: str, css: str) -> list[str]:
    return [f"<div class={css}><h3>{heading}</h3>",
            f"<pre class=program>head {entry.name} = {escape(entry.text)}</pre>",
            f"<p class=gloss>{escape(entry.gloss)}</p>",
            f"<p class=figures>{escape(figures_line(entry))}</p></div>"]


def _html_surrogate(entry: HeadEntry) -> list[str]:
    if entry.surrogate is None:
        return []
    if same_program(entry):
        return ["<div class=surrogate><h3>Surrogate</h3>",
                f"<p>{escape(SAME_PROGRAM)}</p></div>"]
    return _html_program(entry.surrogate, "Surrogate (best-fitting)", "surrogate")


def _html_head(entry: HeadEntry) -> list[str]:
    out = [f'<details class=head id="{entry.anchor}"><summary><b>head {entry.name}</b> '
           f"&middot; held-out IoU {escape(fmt(entry.figures.heldout_iou))} &middot; "
           f"<code>{escape(short(entry.text))}</code></summary>", "<div class=pair>",
           *_html_program(entry, "Explanation", "explanation"), *_html_surrogate(entry),
           "</div>"]
    if entry.front_figure is not None:
        out += [_img(entry.front_figure, f"head {entry.name}: held-out IoU against size"),
                f"<p class=figures>{escape(FRONT_CAPTION)}</p>"]
    if entry.expanded:
        out.append(f"<p>With its references inlined:</p><pre>{escape(entry.expanded)}</pre>")
    out.append(f"<p>The explanation's emitted Python (runs beside the language's runtime, "
               f"<code>headcode emit</code>):</p><pre>{escape(entry.python)}</pre>")
    if entry.figure is not None:
        out.append(_img(entry.figure, f"head {entry.name}: real attention and explanation"))
    elif entry.note:
        out.append(f"<p class=note>{escape(entry.note)}</p>")
    return out + ["</details>"]


def html_page(report: Report) -> str:
    """The report as one self-contained HTML page (inline CSS, JS and images)."""
    name = title(report)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<link rel="icon" href="data:,">',
           f"<title>headcode report: {escape(name)}</title><style>{_CSS}</style></head><body>",
           f"<h1>headcode report: {escape(name)}</h1>", "<h2>Summary</h2><dl class=summary>"]
    out += [f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in summary_items(report)]
    out.append("</dl>")
    out.append("<details><summary>run settings (run.json)</summary><pre>"
               + escape(json.dumps(report.settings, indent=2)) + "</pre></details>")
    out += _html_curve(report)
    out += _html_table(report)
    out.append("<h2>Programs and attention</h2>")
    if report.example is not None:
        out.append(f"<p>{escape(example_caption(report.example))}:</p>"
                   f"<pre>{escape(example_text(report.example))}</pre>"
                   "<p>Left the head's real attention, right the explanation's matrix (row: query "
                   "token, column: key token; one colour scale, square-root stretched).</p>")
    else:
        out.append(f"<p class=note>{escape(no_heatmaps(report))}</p>")
    out.append('<p><button type=button data-open="1">open all</button> '
               '<button type=button data-open="0">close all</button></p>')
    for entry in report.heads:
        out += _html_head(entry)
    out.append(f"<script>{_JS}</script></body></html>")
    return "\n".join(out) + "\n"



"""The report in Markdown, the PNGs beside it in figures/."""

from __future__ import annotations

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
    same_program,
    short,
    summary_items,
    table_columns,
    table_figures,
    table_intro,
    title,
)


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
    return [f"**{heading}**: {escape(figures_line(entry))}", "",
            *_block(f"head {entry.name} = {entry.text}"), "", f"*{escape(entry.gloss)}*", ""]


def markdown_page(report: Report, out: Path) -> str:
    """The report in Markdown, its figures linked relative to `out` (the report's folder)."""
    lines = [f"# headcode report: {escape(title(report))}", "", "## Summary", ""]
    lines += [f"- {k}: {escape(v)}" for k, v in summary_items(report)]
    lines += ["", "## Perplexity with heads replaced", ""]
    if report.curve is None:
        lines.append(escape(no_curve()))
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
        lines += [escape(no_heatmaps(report)), ""]
    for h in report.heads:
        lines += [f'<a id="{h.anchor}"></a>', "", f"### head {h.name}", "",
                  *_md_program(h, "Explanation")]
        if h.surrogate is not None:
            lines += (["**Surrogate**: " + escape(SAME_PROGRAM), ""] if same_program(h)
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
            lines += [escape(h.note), ""]
    return "\n".join(lines).rstrip("\n") + "\n"

"""Writing a run's report: report.html, report.md and figures/*.png."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ...files import write_atomic
from .. import figures
from .html_page import html_page
from .markdown_page import markdown_page
from .plots import clear_figures, draw, front_jobs, head_jobs, pick_example
from .run import Report, ReportError, find_dump, read_curve, read_heads, read_settings


def build_report(run_dir: str | Path, out_dir: str | Path | None = None, *,
                 example: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Path:
    """Write report.html, report.md and figures/*.png for a run directory; the page's path.

    `out_dir` defaults to `run_dir`; `example` picks the heatmaps' sequence of the dump
    (default: the first held-out one); `progress(done, total)` is called per figure of a head.
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
    clear_figures(folder)
    folder.mkdir(exist_ok=True)
    dump, dump_note = find_dump(run_dir, settings)
    chosen, jobs = None, []
    if dump is not None:
        chosen = pick_example(dump, settings, example)
        jobs = head_jobs(heads, dump, chosen, folder)
    draw(jobs + front_jobs(heads, folder), progress)
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



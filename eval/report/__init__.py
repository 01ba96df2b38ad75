"""A report of a synthesis run directory: one self-contained HTML page and the same in Markdown.

    build_report("runs/stories")   # runs/stories/report.html, report.md, figures/*.png

The report shows the run's summary, the perplexity-substitution curve (`curve.json`, when the
run has one), a sortable table of every head's explanation (`programs.hc`) and surrogate
(`surrogates.hc`) with their recorded figures, and per head both programs with their glosses,
its size/fidelity front (`results.jsonl`), the Python the explanation emits and its real
attention beside the explanation's matrix on the first held-out sequence of the run's attention
dump. A run without surrogates or fronts reports the rest. It reads files only (no search, no
model).

One module per job: `run` reads the run directory, `plots` draws the figures, `html_page` and
`markdown_page` write the two pages from the wording of `text`, `build` puts them together.
"""

from .build import build_report
from .run import MAX_TOKENS, ReportError, find_dump, read_settings

__all__ = ["MAX_TOKENS", "ReportError", "build_report", "find_dump", "read_settings"]

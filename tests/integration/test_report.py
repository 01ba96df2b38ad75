"""The run report: report.html (self-contained, escaped, every head), report.md, figures, and
the `headcode report` command, on small run directories written here."""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

from conftest import STORIES, VALID_TEXT, need_shared, run_cli

from headcode.synth.front import Choice

TEXTS = ["<s>", " Lily", " ran", ".", " She", " saw", " a", " <cat>", " &", " dog", ".",
         " They", " played", "."]
PROGRAMS = """\
# a hand-written run
ends = last(k.period) ?? first
head 0.0 = first  # held-out IoU 0.812, synthesis IoU 0.820, size 1, selector
head 0.1 = prev(1)  # held-out IoU 0.905, synthesis IoU 0.910, size 2, selector
head 1.2 = ends  # held-out IoU 0.433, synthesis IoU 0.450, size 5, fallback
head 1.3 = keys(k.text == " <cat>" or k.text == " &") ?? first  # held-out IoU 0.120, size 9, <b>&
"""
CAT = 'keys(k.text == " <cat>" or k.text == " &")'
SURROGATES = f"""\
# the best-fitting programs
head 0.0 = mix(0.5: first, 0.5: prev(1))  # held-out IoU 0.835, synthesis IoU 0.840, size 5, path-2
head 0.1 = prev(1)  # held-out IoU 0.905, synthesis IoU 0.910, size 2, selector
head 1.2 = last(k.period) ?? prev(1)  # held-out IoU 0.455, synthesis IoU 0.460, size 6, fallback
head 1.3 = {CAT} ?? prev(1)  # held-out IoU 0.302, size 11, <i>
"""
CHOICE = Choice(tolerance=0.2)  # chooses the explanations of PROGRAMS from FRONTS
FRONTS = {  # (program, size, held-out IoU); the explanation and surrogate are among them
    (0, 0): [("first", 1, 0.812), ("mix(0.5: first, 0.5: prev(1))", 5, 0.835)],
    (0, 1): [("prev(1)", 2, 0.905)],
    (1, 2): [("first", 1, 0.2), ("last(k.period) ?? first", 5, 0.433),
             ("last(k.period) ?? prev(1)", 6, 0.455)],
    (1, 3): [("first", 1, 0.05), (f"{CAT} ?? first", 9, 0.12), (f"{CAT} ?? prev(1)", 11, 0.302)],
}
HEADS = ["0.0", "0.1", "1.2", "1.3"]
CURVE = {
    "model": "tiny", "text": "stories", "sequences": 3, "tokens": 42, "baseline_ppl": 5.4,
    "points": [
        {"fraction": 0.0, "heads": 0, "replaced": [], "replaced_surrogate": [],
         "ppl": {"program": 5.4, "surrogate": 5.4, "uniform": 5.4, "mean": 5.4}},
        {"fraction": 0.5, "heads": 4, "replaced": [[0, 1], [0, 0], [1, 2], [1, 3]],
         "replaced_surrogate": [[0, 1], [0, 0], [1, 2], [1, 3]],
         "ppl": {"program": 6.25, "surrogate": 6.0, "uniform": 9.5, "mean": 7.75}},
        {"fraction": 1.0, "heads": 8, "replaced": [[0, 1], [0, 0], [1, 2], [1, 3]],
         "replaced_surrogate": [[0, 1], [0, 0], [1, 2], [1, 3]],
         "ppl": {"program": 8.5, "surrogate": 7.25, "uniform": 61.0, "mean": 12.0}},
    ],
}


def images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in
            re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_of_a_real_synthesis_run(tmp_path, monkeypatch, capsys):
    model = need_shared(STORIES)
    run = tmp_path / "run"
    code, out, err = run_cli(
        monkeypatch, capsys, "synth", "--model", model, "--text", VALID_TEXT, "--heads",
        "0.0,0.1", "--synth-sequences", "4", "--heldout-sequences", "2", "--max-tokens", "40",
        "--out", run)
    assert code == 0, err
    code, out, err = run_cli(monkeypatch, capsys, "report", run)
    assert code == 0, err
    text = Path(out.strip()).read_text()
    assert len(images(text)) == 4 and "no perplexity curve" in text  # 2 heatmaps, 2 fronts
    assert ">head 0.0</b>" in text and ">head 0.1</b>" in text
    assert "first held-out sequence 4 of the dump" in text
    for name in ("programs.hc", "surrogates.hc"):
        lines = (run / name).read_text().splitlines()
        for above, line in zip(lines, lines[1:]):
            if line.startswith("head "):
                iou = re.search(r"held-out IoU ([0-9.]+)", line).group(1)
                assert f"held-out IoU {iou}" in text
                assert f"<p class=gloss>{html.escape(above[2:])}</p>" in text



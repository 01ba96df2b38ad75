"""The run report: report.html (self-contained, escaped, every head), report.md, figures, and
the `headcode report` command, on small run directories written here."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import STORIES, VALID_TEXT, need_shared, run_cli

from headcode.dsl.tokens import Tokens
from headcode.eval.report import MAX_TOKENS, ReportError, build_report
from headcode.models.dump import write_dump
from headcode.models.programs import Recorded, held_out_iou, recorded

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
HEADS = ["0.0", "0.1", "1.2", "1.3"]
CURVE = {
    "model": "tiny", "text": "stories", "sequences": 3, "tokens": 42, "baseline_ppl": 5.4,
    "points": [
        {"fraction": 0.0, "heads": 0, "replaced": [],
         "ppl": {"program": 5.4, "uniform": 5.4, "mean": 5.4}},
        {"fraction": 0.5, "heads": 4, "replaced": [[0, 1], [0, 0], [1, 2], [1, 3]],
         "ppl": {"program": 6.25, "uniform": 9.5, "mean": 7.75}},
        {"fraction": 1.0, "heads": 8, "replaced": [[0, 1], [0, 0], [1, 2], [1, 3]],
         "ppl": {"program": 8.5, "uniform": 61.0, "mean": 12.0}},
    ],
}


def causal_attention(n: int, layers: int, heads: int, seed: int) -> np.ndarray:
    """Random causal attention (layers, heads, n, n), rows summing to 1."""
    weights = np.random.default_rng(seed).random((layers, heads, n, n)) * np.tril(np.ones((n, n)))
    return weights / weights.sum(-1, keepdims=True)


def make_run(root: Path, *, curve: bool = True, dump: bool = True, sequences: int = 3,
             tokens: list[str] = TEXTS) -> Path:
    """A run directory written by hand: 2 layers x 4 heads, 4 heads with programs."""
    run = root / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({
        "model": "tiny <model> & co", "text": "stories.txt", "dump": str(run / "dump"),
        "heads": "all", "proposer": "enum", "synth_sequences": 2,
        "heldout_sequences": sequences - 2}))
    (run / "programs.hc").write_text(PROGRAMS)
    if curve:
        (run / "curve.json").write_text(json.dumps(CURVE))
    if dump:
        rows = []
        for s in range(sequences):
            texts = tokens[: len(tokens) - s]
            ids = list(range(len(texts)))
            rows.append((Tokens(ids, texts, [True] + [False] * (len(texts) - 1)),
                         causal_attention(len(texts), 2, 4, s)))
        write_dump(run / "dump", rows, model="tiny")
    return run


def images(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in
            re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)]


def test_report_shows_every_head_with_figures_embedded(tmp_path):
    run = make_run(tmp_path)
    calls = []
    page = build_report(run, progress=lambda done, total: calls.append((done, total)))
    assert page == run / "report.html"
    text = page.read_text()
    assert calls == [(k, 4) for k in range(1, 5)]
    for head in HEADS:
        anchor = "head-" + head.replace(".", "-")
        assert f">head {head}</b>" in text and f'<a href="#{anchor}">' in text
    assert len(re.findall(r"<tr id=\"row-head-", text)) == 4
    assert "tiny &lt;model&gt; &amp; co" in text and "<model>" not in text
    # the table starts sorted by held-out IoU, best first
    assert [m for m in re.findall(r'<tr id="row-head-(\d)-(\d)"', text)] == [
        ("0", "1"), ("0", "0"), ("1", "2"), ("1", "3")]
    assert "mean held-out IoU</dt><dd>0.568" in text  # (0.812 + 0.905 + 0.433 + 0.12) / 4
    assert "mean synthesis IoU</dt><dd>0.727" in text  # 1.3 records none
    pngs = images(text)
    assert len(pngs) == 5 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert sorted(p.name for p in (run / "figures").iterdir()) == [
        "curve.png", "head-0-0.png", "head-0-1.png", "head-1-2.png", "head-1-3.png"]
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert "first held-out sequence 2 of the dump, all 12 tokens" in text


def test_programs_and_comments_are_escaped(tmp_path):
    text = build_report(make_run(tmp_path)).read_text()
    assert '<code>keys(k.text == &quot; &lt;cat&gt;&quot; or k.text == &quot; &amp;&quot;) ?? ' \
           'first</code>' in text
    assert "origin &lt;b&gt;&amp;" in text and "<b>&" not in text
    assert "&lt;s&gt; Lily ran." in text  # the example sequence
    assert "def head_1_3(texts, ids=None, special=None):" in text
    # a reference shows the program it names, and the Python of that program
    assert "<pre>last(k.period) ?? first</pre>" in text
    assert "matrix(fallback(f, uniform(f, last(f, key(f, &#x27;period&#x27;)))" in text


def test_curve_table_and_missing_control(tmp_path):
    text = build_report(make_run(tmp_path)).read_text()
    cells = re.findall(r"<td class=num>([^<]*)</td>", text)
    assert cells[:5] == ["0", "0", "5.40", "5.40", "5.40"]
    assert ["1", "8", "8.50", "61.00", "12.00"] == cells[10:15]
    assert "<th class=num>random</th>" not in text  # no random control in this curve
    assert "model perplexity 5.40, 3 sequences, 42 tokens" in text


def test_markdown_links_existing_figures(tmp_path):
    run = make_run(tmp_path)
    out = tmp_path / "elsewhere"
    page = build_report(run, out)
    assert page == out / "report.html" and not (run / "report.html").exists()
    md = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(links) == ["figures/curve.png", *(f"figures/head-{h.replace('.', '-')}.png"
                                                    for h in HEADS)]
    assert all((out / link).is_file() for link in links)
    assert "| [1.3](#head-1-3) | 0.120 | — | 9 |" in md
    assert "`keys(k.text == \" <cat>\" or k.text == \" &\") ?? first`" in md
    assert "tiny &lt;model&gt; &amp; co" in md


def test_long_sequences_are_cut_for_the_heatmaps(tmp_path):
    long = ["<s>"] + [f" w{k}" for k in range(70)]
    run = make_run(tmp_path, tokens=long)
    text = build_report(run).read_text()
    assert f"first {MAX_TOKENS} of 69 tokens" in text  # sequence 2 lost 2 tokens
    assert " w46</pre>" in text and " w47" not in text.split("<h2>Programs")[1].split("<details")[0]


def test_a_report_without_a_dump(tmp_path):
    run = make_run(tmp_path, dump=False)
    text = build_report(run).read_text()
    assert "This report has no heatmaps: no attention dump found" in text
    assert len(images(text)) == 1  # the curve only
    assert all(f">head {h}</b>" in text for h in HEADS)
    assert "no heatmaps" in (run / "report.md").read_text()


def test_the_dump_named_in_run_json_is_used_when_the_run_has_none(tmp_path):
    run = make_run(tmp_path)
    moved = tmp_path / "kept.dump"
    shutil.move(run / "dump", moved)
    settings = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**settings, "dump": str(moved)}))
    text = build_report(run).read_text()
    assert len(images(text)) == 5 and "no heatmaps" not in text


def test_a_report_without_a_curve_says_how_to_get_one(tmp_path):
    run = make_run(tmp_path, curve=False)
    text = build_report(run, example=0).read_text()
    assert "no perplexity curve (no curve.json)" in text
    assert "<code>headcode report RUN_DIR --curve</code>" in text
    assert len(images(text)) == 4
    assert "Heatmaps: sequence 0 of the dump, all 14 tokens" in text
    assert not (run / "figures" / "curve.png").exists()


@pytest.mark.parametrize("name,content,message", [
    ("programs.hc", "head 0.0 = frist\n", r"programs\.hc:1:12: .*frist"),
    ("programs.hc", "# nothing\n", "no head assignments"),
    ("run.json", "{not json", r"run\.json: not valid JSON"),
    ("run.json", "[1, 2]", "expected a JSON object"),
    ("curve.json", '{"points": [{"fraction": 0.1, "ppl": {"program": "x"}}]}',
     r"malformed perplexity curve: point 0"),
    ("curve.json", '{"points": []}', "malformed perplexity curve: no points"),
])
def test_malformed_files_are_one_line_errors(tmp_path, name, content, message):
    run = make_run(tmp_path, dump=False)
    (run / name).write_text(content)
    with pytest.raises(ReportError, match=message):
        build_report(run)


def test_cli_report(tmp_path, monkeypatch, capsys):
    run = make_run(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, "report", run, "--out", tmp_path / "rep")
    assert (code, err) == (0, "")
    assert out.strip() == str(tmp_path / "rep" / "report.html")
    assert (tmp_path / "rep" / "report.md").is_file()


@pytest.mark.parametrize("setup,message", [
    (lambda run: shutil.rmtree(run), "no such run directory"),
    (lambda run: (run / "programs.hc").unlink(), "no programs.hc"),
    (lambda run: (run / "curve.json").write_text("{"), r"curve\.json: not valid JSON"),
])
def test_cli_report_errors(tmp_path, monkeypatch, capsys, setup, message):
    run = make_run(tmp_path, dump=False)
    setup(run)
    code, out, err = run_cli(monkeypatch, capsys, "report", run)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and re.search(message, err)


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
    assert len(images(text)) == 2 and "no perplexity curve" in text
    assert ">head 0.0</b>" in text and ">head 0.1</b>" in text
    assert "first held-out sequence 4 of the dump" in text
    programs = (run / "programs.hc").read_text()
    for line in programs.splitlines():
        if line.startswith("head "):
            iou = re.search(r"held-out IoU ([0-9.]+)", line).group(1)
            assert f"held-out IoU {iou}" in text


def test_recorded_comment_figures():
    got = recorded("held-out IoU 0.432, synthesis IoU 0.430, size 12, fallback")
    assert got == Recorded(0.432, 0.43, 12, "fallback")
    assert recorded("held-out IoU 0.5") == Recorded(heldout_iou=0.5)
    assert recorded("the most recent sentence end") == Recorded()
    assert recorded(None) == Recorded()
    assert held_out_iou("size 3, held-out IoU 0.25, by hand") == 0.25


def test_an_example_outside_the_dump_is_an_error(tmp_path):
    with pytest.raises(ReportError, match="example sequence 9 is not in the dump"):
        build_report(make_run(tmp_path), example=9)


def test_long_programs_are_cut_in_the_table_and_whole_in_the_details(tmp_path):
    run = make_run(tmp_path, curve=False)
    long = "mix(" + ", ".join(f"0.125: prev({k})" for k in range(1, 9)) + ")"
    (run / "programs.hc").write_text(f"head 0.0 = {long}  # held-out IoU 0.5\n")
    text = build_report(run).read_text()
    cell = re.search(r'<a href="#head-0-0"><code>([^<]*)</code>', text).group(1)
    assert len(long) > 100 and len(cell) == 100 and cell.endswith("…")
    assert f"<pre class=program>head 0.0 = {long}</pre>" in text

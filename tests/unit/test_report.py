"""The run report: report.html (self-contained, escaped, every head), report.md, figures, and
the `headcode report` command, on small run directories written here."""

from __future__ import annotations

import base64
import json
import re
import shutil
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from headcode.dsl.tokens import Tokens
from headcode.eval.report import MAX_TOKENS, ReportError, build_report
from headcode.models.dump import write_dump
from headcode.models.programs import Recorded, held_out_iou, recorded
from headcode.synth.front import Choice, Point
from headcode.synth.rundir import HeadResult

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


def causal_attention(n: int, layers: int, heads: int, seed: int) -> np.ndarray:
    """Random causal attention (layers, heads, n, n), rows summing to 1."""
    weights = np.random.default_rng(seed).random((layers, heads, n, n)) * np.tril(np.ones((n, n)))
    return weights / weights.sum(-1, keepdims=True)


def make_run(root: Path, *, curve: bool = True, dump: bool = True, sequences: int = 3,
             tokens: list[str] = TEXTS, fronts: bool = True) -> Path:
    """A run directory written by hand: 2 layers x 4 heads, 4 heads with programs; with
    `fronts`, their surrogates (surrogates.hc) and fronts (results.jsonl) too."""
    run = root / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({
        "model": "tiny <model> & co", "text": "stories.txt", "dump": str(run / "dump"),
        "heads": "all", "proposer": "enum", "synth_sequences": 2,
        "heldout_sequences": sequences - 2, "choice": asdict(CHOICE)}))
    (run / "programs.hc").write_text(PROGRAMS)
    if fronts:
        (run / "surrogates.hc").write_text(SURROGATES)
        lines = []
        for (layer, head), front in FRONTS.items():
            points = [Point(text, size, iou + 0.01, iou, "enum") for text, size, iou in front]
            lines.append(json.dumps(HeadResult.choose(layer, head, points, CHOICE, 9).to_json()))
        (run / "results.jsonl").write_text("\n".join(lines) + "\n")
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
    assert calls == [(k, 8) for k in range(1, 9)]  # a heatmap and a front per head
    for head in HEADS:
        anchor = "head-" + head.replace(".", "-")
        assert f">head {head}</b>" in text and f'<a href="#{anchor}">' in text
    assert len(re.findall(r"<tr id=\"row-head-", text)) == 4
    assert "tiny &lt;model&gt; &amp; co" in text and "<model>" not in text
    # the table starts sorted by held-out IoU, best first
    assert [m for m in re.findall(r'<tr id="row-head-(\d)-(\d)"', text)] == [
        ("0", "1"), ("0", "0"), ("1", "2"), ("1", "3")]
    # explanations (0.812 + 0.905 + 0.433 + 0.12) / 4, surrogates (0.835 + ... + 0.302) / 4
    assert "mean held-out IoU</dt><dd>0.568 explanations, 0.624 surrogates</dd>" in text
    assert "mean size</dt><dd>4.2 explanations, 6.0 surrogates</dd>" in text
    assert "mean synthesis IoU</dt><dd>0.727 explanations, 0.737 surrogates" in text  # 1.3: none
    pngs = images(text)
    assert len(pngs) == 9 and all(p.startswith(b"\x89PNG\r\n\x1a\n") for p in pngs)
    assert sorted(p.name for p in (run / "figures").iterdir()) == [
        "curve.png", "front-0-0.png", "front-0-1.png", "front-1-2.png", "front-1-3.png",
        "head-0-0.png", "head-0-1.png", "head-1-2.png", "head-1-3.png"]
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert "first held-out sequence 2 of the dump, all 12 tokens" in text


def test_figures_drawn_in_worker_processes_are_the_same(tmp_path, monkeypatch):
    from headcode.eval.report import plots

    (tmp_path / "a").mkdir()
    serial = make_run(tmp_path / "a")
    parallel = shutil.copytree(serial, tmp_path / "parallel")
    build_report(serial)
    used = []
    real_draw = plots.draw

    def in_workers(jobs, progress=None):
        used.append(len(jobs))
        real_draw(jobs, progress, workers=2, parallel_from=1)

    monkeypatch.setattr("headcode.eval.report.build.draw", in_workers)
    calls = []
    build_report(parallel, progress=lambda done, total: calls.append((done, total)))
    assert used == [8] and calls == [(k, 8) for k in range(1, 9)]
    figures = sorted(p.name for p in (serial / "figures").iterdir())
    assert figures == sorted(p.name for p in (parallel / "figures").iterdir())
    for name in figures:
        drawn = (serial / "figures" / name).read_bytes()
        assert drawn == (parallel / "figures" / name).read_bytes()
    assert images((serial / "report.html").read_text()) == images(
        (parallel / "report.html").read_text())


def test_programs_and_comments_are_escaped(tmp_path):
    text = build_report(make_run(tmp_path)).read_text()
    assert '<code>keys(k.text == &quot; &lt;cat&gt;&quot; or k.text == &quot; &amp;&quot;) ?? ' \
           'first</code>' in text
    assert "origin &lt;b&gt;&amp;" in text and "<b>&" not in text
    assert "origin &lt;i&gt;" in text and "<i>" not in text
    assert ("<p class=gloss>tokens whose text is &quot; &lt;cat&gt;&quot; or whose text is "
            "&quot; &amp;&quot;; if there is none, the previous token</p>") in text
    assert "&lt;s&gt; Lily ran." in text  # the example sequence
    assert "def head_1_3(texts, ids=None, special=None):" in text
    # a reference shows the program it names, and the Python of that program
    assert "<pre>last(k.period) ?? first</pre>" in text
    assert "matrix(fallback(f, uniform(f, last(f, key(f, &#x27;period&#x27;)))" in text


def test_curve_table_and_missing_control(tmp_path):
    text = build_report(make_run(tmp_path)).read_text()
    cells = re.findall(r"<td class=num>([^<]*)</td>", text)
    assert cells[:6] == ["0", "0", "5.40", "5.40", "5.40", "5.40"]
    assert ["1", "8", "8.50", "7.25", "61.00", "12.00"] == cells[12:18]
    assert re.findall(r"<th class=num>([^<]*)</th>", text) == [
        "fraction", "heads", "explanations", "surrogates", "uniform", "mean"]
    assert "<th class=num>random</th>" not in text  # no random control in this curve
    assert "model perplexity 5.40, 3 sequences, 42 tokens" in text
    assert "replaced by their explanations, by their surrogates" in text


def test_a_curve_without_surrogates_still_reports(tmp_path):
    run = make_run(tmp_path, dump=False)
    old = json.loads(json.dumps(CURVE))
    for point in old["points"]:
        del point["ppl"]["surrogate"], point["replaced_surrogate"]
    (run / "curve.json").write_text(json.dumps(old))
    text = build_report(run).read_text()
    assert re.findall(r"<th class=num>([^<]*)</th>", text) == [
        "fraction", "heads", "explanations", "uniform", "mean"]
    assert re.findall(r"<td class=num>([^<]*)</td>", text)[10:15] == [
        "1", "8", "8.50", "61.00", "12.00"]
    assert "by their surrogates" not in text and len(images(text)) == 5
    assert "| 1 | 8 | 8.50 | 61.00 | 12.00 |" in (run / "report.md").read_text()


def test_each_head_shows_both_programs_with_glosses_and_its_front(tmp_path):
    run = make_run(tmp_path, dump=False)
    text = build_report(run).read_text()
    head = text.split('<details class=head id="head-0-0">')[1].split("</details>")[0]
    explanation, surrogate = re.findall(r"<div class=(?:explanation|surrogate)>(.*?)</div>",
                                        head, re.S)
    assert "<pre class=program>head 0.0 = first</pre>" in explanation
    assert "<p class=gloss>the first token</p>" in explanation
    assert "held-out IoU 0.812, synthesis IoU 0.820, size 1" in explanation
    assert "<pre class=program>head 0.0 = mix(0.5: first, 0.5: prev(1))</pre>" in surrogate
    assert "the first token (50%) and the previous token (50%)" in surrogate
    assert "held-out IoU 0.835, synthesis IoU 0.840, size 5, origin path-2" in surrogate
    assert len(images(head)) == 1 and 'alt="head 0.0: held-out IoU against size"' in head
    # a head whose front has one program: its surrogate is its explanation
    single = text.split('<details class=head id="head-0-1">')[1].split("</details>")[0]
    assert "The surrogate is the explanation" in single and single.count("class=program") == 1
    # the table: explanation then surrogate figures, the explanation's synthesis IoU, program
    row = re.search(r'<tr id="row-head-1-3">(.*?)</tr>', text).group(1)
    assert re.findall(r"<td class=num[^>]*>([^<]*)</td>", row) == [
        "1.3", "0.120", "9", "0.302", "11", "—"]
    md = (run / "report.md").read_text()
    assert "| head | explanation IoU | explanation size | surrogate IoU | surrogate size |" in md
    assert "| [1.3](#head-1-3) | 0.120 | 9 | 0.302 | 11 | — |" in md
    assert "*the first token (50%) and the previous token (50%)*" in md
    assert "![head 1.2: front](figures/front-1-2.png)" in md


def test_an_old_run_without_fronts_or_surrogates(tmp_path):
    run = make_run(tmp_path, dump=False, fronts=False)
    text = build_report(run).read_text()
    assert "mean held-out IoU</dt><dd>0.568</dd>" in text and "surrogates</dd>" not in text
    assert "surrogate" not in text.split("<h2>Heads")[1].split("</thead>")[0]
    assert "class=surrogate" not in text and "<p class=gloss>the first token</p>" in text
    assert len(images(text)) == 1 and not list((run / "figures").glob("front-*.png"))


def test_markdown_links_existing_figures(tmp_path):
    run = make_run(tmp_path)
    out = tmp_path / "elsewhere"
    page = build_report(run, out)
    assert page == out / "report.html" and not (run / "report.html").exists()
    md = (out / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert sorted(links) == ["figures/curve.png",
                             *(f"figures/{kind}-{h.replace('.', '-')}.png"
                               for kind in ("front", "head") for h in HEADS)]
    assert all((out / link).is_file() for link in links)
    assert "| [1.3](#head-1-3) | 0.120 | 9 | 0.302 | 11 | — |" in md
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
    assert len(images(text)) == 5  # the curve and the fronts
    assert all(f">head {h}</b>" in text for h in HEADS)
    assert "no heatmaps" in (run / "report.md").read_text()


def test_the_dump_named_in_run_json_is_used_when_the_run_has_none(tmp_path):
    run = make_run(tmp_path)
    moved = tmp_path / "kept.dump"
    shutil.move(run / "dump", moved)
    settings = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**settings, "dump": str(moved)}))
    text = build_report(run).read_text()
    assert len(images(text)) == 9 and "no heatmaps" not in text


def test_a_report_without_a_curve_says_how_to_get_one(tmp_path):
    run = make_run(tmp_path, curve=False)
    text = build_report(run, example=0).read_text()
    assert "no perplexity curve (no curve.json)" in text
    assert "<code>headcode report RUN_DIR --curve</code>" in text
    assert len(images(text)) == 8
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
    ("surrogates.hc", "head 0.0 = frist\n", r"surrogates\.hc:1:12: .*frist"),
    ("results.jsonl", "{not json\n", r"results\.jsonl: not a readable list of head results"),
    ("results.jsonl", '{"layer": 0, "head": 1}\n', r"results\.jsonl: .*'front'"),
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

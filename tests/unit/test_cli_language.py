"""The language's commands: check, apply, emit, fmt, grammar."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from headcode.cli import app

runner = CliRunner()
TEXT = 'Lily ran to the park. She saw a dog, and the dog saw Lily. "Hi!" she said.'


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


def test_check_reports_every_error_with_file_line_col(tmp_path):
    good = tmp_path / "good.hc"
    good.write_text("ends = last(k.period) ?? first\nhead 2.5 = ends\n")
    bad = tmp_path / "bad.hc"
    bad.write_text("a = prev(-1)\nb = last(prev(1))\nc = keys(k.peroid)\n")
    assert invoke("check", str(good)).exit_code == 0
    result = runner.invoke(app, ["check", str(good), str(bad)])
    assert result.exit_code == 2
    assert result.stderr.splitlines() == [
        f"{bad}:1:10: prev(n): -1 is out of range (must be >= 0)",
        f"{bad}:2:10: last(...): a selector where a predicate is due (a predicate tests tokens, "
        'e.g. k.period or k.text == " and")',
        f"{bad}:3:10: unknown feature 'peroid' (did you mean 'period'?)",
    ]


def test_emit_and_fmt(tmp_path):
    src = tmp_path / "p.hc"
    src.write_text("# note\nends=last(k.period)??first\nhead 0.1=ends # hi\n")
    out = tmp_path / "p.py"
    assert invoke("emit", str(src), "-o", str(out)).exit_code == 0
    assert "HEADS = {\n    (0, 1): 'ends',\n}" in out.read_text()
    assert runner.invoke(app, ["fmt", "--check", str(src)]).exit_code == 1
    assert invoke("fmt", str(src)).exit_code == 0
    assert src.read_text() == "# note\nends = last(k.period) ?? first\nhead 0.1 = ends  # hi\n"
    assert invoke("fmt", "--check", str(src)).exit_code == 0


def test_grammar_prints_the_shipped_grammar():
    assert "HEAD_ID" in invoke("grammar").stdout


def test_console_script_errors_are_one_line_without_traceback(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "headcode", "apply", "prev(1)", "--text", "hi",
         "--tokenizer", str(tmp_path / "missing")],
        capture_output=True, text=True)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip() == f"error: tokenizer '{tmp_path / 'missing'}': no such directory"


def test_emit_of_a_program_with_holes_is_a_one_line_error(tmp_path):
    holes = tmp_path / "holes.hc"
    holes.write_text("p = prev(?)\nhead 0.1 = p\n")
    out = tmp_path / "holes.py"
    result = runner.invoke(app, ["emit", str(holes), "-o", str(out)])
    assert result.exit_code == 2 and not out.exists()
    assert result.stderr.splitlines() == [
        "error: the program has unfilled holes `?`: fit or fill them first"]

"""The language's commands: check, apply, emit, fmt, grammar."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import STORIES, need_shared
from test_dsl_parser import VOCABULARY
from typer.testing import CliRunner

from headcode.cli import app
from headcode.dsl.interpreter import run
from headcode.dsl.program import program_from_text
from headcode.dsl.tokens import tokenize
from headcode.models.tokenizer import load_tokenizer

runner = CliRunner()
TEXT = 'Lily ran to the park. She saw a dog, and the dog saw Lily. "Hi!" she said.'


def invoke(*args: str):
    return runner.invoke(app, list(args), catch_exceptions=False)


@pytest.fixture(scope="module")
def stories():
    return str(need_shared(STORIES))


def test_apply_json_is_the_interpreters_matrix(stories):
    result = invoke("apply", "last(k.period) ?? first", "--text", TEXT, "--tokenizer", stories,
                    "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    assert set(got) == {"tokens", "matrix"}
    tokens = tokenize(load_tokenizer(stories), TEXT)
    assert got["tokens"] == tokens.texts
    m = np.array(got["matrix"])
    first_period = tokens.texts.index(".")
    assert m[first_period - 1].tolist() == [1.0] + [0.0] * (len(m) - 1)
    assert m[first_period + 1, first_period] == 1.0


@pytest.mark.parametrize("expr", [v for v in VOCABULARY if "?" not in v])
def test_apply_every_vocabulary_expression(stories, expr):
    result = invoke("apply", expr, "--text", TEXT, "--tokenizer", stories, "--json")
    assert result.exit_code == 0, result.output
    got = json.loads(result.stdout)
    tokens = tokenize(load_tokenizer(stories), TEXT)
    expected = run(program_from_text(expr, predicate_as_keys=True), tokens.texts, tokens.ids,
                   tokens.special)
    assert np.array_equal(np.array(got["matrix"]), expected)


def test_apply_text_file_prints_one_json_object_per_paragraph(tmp_path, stories):
    (tmp_path / "t.txt").write_text("One day. Lily ran.\n\n\nThe end.\n")
    result = invoke("apply", "prev(1)", "--text-file", str(tmp_path / "t.txt"),
                    "--tokenizer", stories)
    lines = result.stdout.strip().splitlines()
    assert result.exit_code == 0 and len(lines) == 2
    assert json.loads(lines[1])["tokens"] == ["<s>", " The", " e", "nd", "."]


def test_apply_human_output_and_file_programs(tmp_path, stories):
    (tmp_path / "p.hc").write_text("induction = shift(same(text) - self, 1)\n")
    result = invoke("apply", f"{tmp_path / 'p.hc'}:induction", "--text", TEXT,
                    "--tokenizer", stories)
    assert result.exit_code == 0
    assert "tokens:" in result.stdout and "matrix:" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["apply", "prev(", "--text", "x"], "<program>:1:6: unexpected end of program"),
    (["apply", "prev(1)", "--text", "   "], "the text is empty"),
    (["apply", "prev(1)"], "give exactly one of --text and --text-file"),
    (["apply", "last(prev(1))", "--text", "x"], "a selector where a predicate is due"),
])
def test_apply_errors(stories, args, message):
    result = runner.invoke(app, [*args, "--tokenizer", stories])
    assert result.exit_code == 2
    assert message in result.stderr



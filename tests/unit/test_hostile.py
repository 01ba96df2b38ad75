"""Hostile input on every command (issue 12): each defect found by trying bad inputs, as a test.

Nothing here needs ../shared: the bundled demo model and tiny models stand in.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from strategies import token_sequences

from headcode.dsl import nodes as n
from headcode.dsl.checker import LIMITS, Checker, Type, check_expr
from headcode.dsl.errors import ProgramError, TypeCheckError
from headcode.dsl.interpreter import run
from headcode.dsl.parser import parse_expr, parse_file
from headcode.dsl.printer import show
from headcode.dsl.program import load_program, program_from_text
from headcode.dsl.tokens import Tokens
from headcode.dsl.torch_backend import TorchProgram

TEXTS = ["<s>", "The", " cat", " sat", ".", " It", " sat", "."]
IDS = [0, 5, 6, 7, 8, 9, 7, 8]
SPECIAL = [True] + [False] * 7

# ---------------------------------------------------------------- 3. linear checking


def test_checking_a_long_set_chain_infers_each_node_once(monkeypatch):
    calls = []
    infer = Checker.infer
    monkeypatch.setattr(Checker, "infer", lambda self, node: calls.append(1) or infer(self, node))
    expr = parse_expr(" | ".join(["first"] * 10) + " - self - prev(1)")
    check_expr(expr)
    assert len(calls) <= 2 * len(list(expr.walk()))  # was 2^depth: exponential


# ---------------------------------------------------------------- 4. one depth limit

DEEP = ["keys(" + "not " * 400 + "k.punct)", "shift(" * 400 + "first" + ", 1)" * 400,
        " ?? ".join(["first"] * 400)]


@pytest.mark.parametrize("text", DEEP, ids=["not", "shift", "fallback"])
def test_deep_programs_are_refused_cleanly(text):
    with pytest.raises(ProgramError, match="nested too deeply"):
        parse_expr(text)


def test_the_limit_holds_at_the_limit_and_one_beyond():
    ok = "keys(" + "not " * (n.MAX_DEPTH - 2) + "k.punct)"
    assert n.depth(parse_expr(ok)) == n.MAX_DEPTH
    with pytest.raises(ProgramError, match="nested too deeply"):
        parse_expr("keys(" + "not " * (n.MAX_DEPTH - 1) + "k.punct)")


def _deep_tree(levels: int) -> n.Node:
    expr: n.Node = n.First()
    for _ in range(levels):
        expr = n.Shift(expr, n.Num(1))
    return expr


@pytest.mark.parametrize("stage", ["checker", "printer", "interpreter", "torch", "scoring",
                                   "emitter"])
def test_every_stage_refuses_a_deep_tree_before_recursing(stage):
    from headcode.dsl.emitter import emit_function
    from headcode.dsl.program import Program
    from headcode.scoring import compile_programs
    from headcode.scoring.columns import Interner

    expr = _deep_tree(5000)
    calls = {
        "checker": lambda: check_expr(expr), "printer": lambda: show(expr),
        "interpreter": lambda: run(expr, TEXTS, IDS, SPECIAL),
        "torch": lambda: TorchProgram(expr),
        "scoring": lambda: compile_programs([expr], Interner()),
        "emitter": lambda: emit_function(Program(expr)),
    }
    with pytest.raises(ProgramError, match="nested too deeply"):
        calls[stage]()


def test_kept_depths_still_refuse_a_tree_built_on_a_checked_one():
    part = _deep_tree(n.MAX_DEPTH - 10)
    assert n.depth(part) == n.MAX_DEPTH - 9  # found once, then kept on the node
    assert n.depth(_deep_tree(0)) == 1
    whole = part
    for _ in range(20):
        whole = n.Shift(whole, n.Num(1))
    with pytest.raises(ProgramError, match="nested too deeply"):
        n.depth(whole)
    with pytest.raises(ProgramError, match="nested too deeply"):
        check_expr(whole)


def test_kept_children_and_depths_do_not_change_equality_or_walks():
    a, b = parse_expr("mix(0.5: first, 0.5: prev(1))"), parse_expr("mix(0.5: first, 0.5: prev(1))")
    n.depth(a)
    assert [type(x).__name__ for x in a.walk()] == [type(x).__name__ for x in b.walk()]
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    changed = a.map(lambda child: n.Self() if isinstance(child, n.First) else child)
    assert show(changed) == "mix(0.5: self, 0.5: prev(1))"  # no stale children after map


def test_definitions_that_nest_deeply_once_inlined_are_refused():
    lines = ["d0 = shift(first, 1)"] + [f"d{k} = shift(d{k - 1}, 1)" for k in range(1, 120)]
    from headcode.dsl.checker import check_file
    from headcode.dsl.errors import ProgramErrors

    with pytest.raises(ProgramErrors, match="nested too deeply"):
        check_file(parse_file("\n".join(lines) + "\nhead 0.0 = d119\n"))


# ---------------------------------------------------------------- 6. numbers in range

OUT_OF_RANGE = ["window(0, 9223372036854775808)", "prev(1000000001)", "shift(first, -2000000000)",
                "mix(1e308: first, 1e308: self)", "softmax(1e308 * [first] + 1e308 * [self])",
                "softmax(1e39 * [first])", "k.pos == 99999999999", "k.id in {1, 10000000000}",
                "softmax(-1000001 * dist)"]


@pytest.mark.parametrize("text", OUT_OF_RANGE)
def test_numbers_beyond_the_bounds_are_refused(text):
    with pytest.raises(TypeCheckError, match="out of range"):
        program_from_text(text, predicate_as_keys=True)


BIG_INT, BIG_REAL = LIMITS[Type.INT], LIMITS[Type.REAL]
_COEF = st.sampled_from([BIG_REAL, -BIG_REAL, 1e-300, 0.0, 1.0, -2.5])
_SEL = st.sampled_from(["first", "self", "keys(k.punct)", "prev(1)", "causal"])


@st.composite
def bound_programs(draw) -> str:
    """Programs whose numbers sit at the bounds of the language's range."""
    kind = draw(st.sampled_from(["window", "prev", "shift", "last", "mix", "softmax", "cmp"]))
    big = draw(st.sampled_from([BIG_INT, 0, 1]))
    if kind == "window":
        return f"window({draw(st.sampled_from([0, 1, BIG_INT]))}, {BIG_INT})"
    if kind == "prev":
        return f"prev({big})"
    if kind == "shift":
        return f"shift({draw(_SEL)}, {draw(st.sampled_from([BIG_INT, -BIG_INT, -1]))})"
    if kind == "last":
        return f"last(k.punct, {max(big, 1)})"
    if kind == "cmp":
        return f"keys(k.pos <= {draw(st.sampled_from([BIG_INT, -BIG_INT]))}) ?? first"
    if kind == "mix":
        weights = draw(st.lists(st.sampled_from([BIG_REAL, 1e-300, 1.0, 0.0]), min_size=2,
                                max_size=3).filter(any))
        return "mix(" + ", ".join(f"{w!r}: {draw(_SEL)}" for w in weights) + ")"
    terms = draw(st.lists(st.tuples(_COEF, st.one_of(st.none(), _SEL)), min_size=1, max_size=3))
    return show(n.Softmax(tuple(n.Term(n.Num(c), s and parse_expr(s)) for c, s in terms)))


@given(bound_programs(), token_sequences(max_size=8))
def test_back_ends_agree_at_the_bounds(text, seq):
    from headcode.dsl import ops
    from headcode.scoring import compile_programs, encode_corpus
    from headcode.scoring.kernel import program_matrix

    texts, ids, special = seq
    beyond = text.replace(str(BIG_INT), str(BIG_INT + 1)).replace(repr(BIG_REAL), "1000001.0")
    if beyond != text:
        with pytest.raises(TypeCheckError, match="out of range"):
            program_from_text(beyond)
    program = program_from_text(text)
    expected = run(program, texts, ids, special)
    assert np.isfinite(expected).all()
    assert np.all(np.isclose(expected.sum(axis=1), 1) | (expected.sum(axis=1) == 0))
    tokens = [Tokens(ids, texts, special)]
    exact = TorchProgram(program).on_tokens(tokens, dtype=torch.float64)[0].numpy()
    np.testing.assert_allclose(exact, expected, atol=1e-9, rtol=0)
    single = TorchProgram(program).on_tokens(tokens, dtype=torch.float32)[0].numpy()
    assert np.isfinite(single).all()
    np.testing.assert_allclose(single.sum(axis=1), expected.sum(axis=1), atol=1e-4)
    attention = np.tril(np.ones((1, len(texts), len(texts))))
    corpus = encode_corpus([(ops.features(texts, ids, special), attention)])
    compiled = compile_programs([program], corpus.interner)
    np.testing.assert_allclose(program_matrix(compiled, corpus, 0, 0), expected, atol=1e-9,
                               rtol=0)


# ---------------------------------------------------------------- 7. no Lark internals


@pytest.mark.parametrize("text", [" ?? ".join(["first"] * k) for k in (500, 5000)]
                         + ["prev(" + "9" * 5000 + ")"])
def test_long_chains_and_numbers_give_a_plain_message(text):
    with pytest.raises(ProgramError) as caught:
        load_program(text)
    assert "Error trying to process rule" not in str(caught.value)


# ---------------------------------------------------------------- command-line cases

from conftest import run_cli  # noqa: E402

from headcode.models.demo import demo_model_dir  # noqa: E402
from headcode.models.dump import DumpError, DumpWriter, open_dump, write_dump  # noqa: E402

DEMO = demo_model_dir()
PROGRAMS = "a = first\nb = last(k.punct) ?? a  # kept\nhead 0.1 = b\n"


def _one_line_error(code: int, err: str) -> None:
    assert code == 2 and err.startswith("error") and len(err.strip().splitlines()) == 1, err


def _tiny_dump(path, sequences: int = 2):
    rows = [(Tokens(list(range(k + 3)), ["<s>", "a", ".", "b", "c"][: k + 3],
                    [True] + [False] * (k + 2)),
             np.tril(np.ones((1, 2, k + 3, k + 3))) / np.arange(1, k + 4)[:, None])
            for k in range(sequences)]
    return write_dump(path, rows, model="tiny")


@pytest.fixture
def text_file(tmp_path):
    path = tmp_path / "stories.txt"
    path.write_text("Lily saw a cat. The cat ran.\n\nTom had a ball.\n")
    return path


# 1. extract --overwrite replaces nothing but a dump


@pytest.mark.parametrize("target", ["userdir", "plain.txt", "."])
def test_extract_overwrite_never_replaces_what_is_not_a_dump(monkeypatch, capsys, tmp_path,
                                                             text_file, target):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "userdir" / "sub").mkdir(parents=True)
    (tmp_path / "userdir" / "notes.txt").write_text("precious")
    (tmp_path / "plain.txt").write_text("precious")
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _, err = run_cli(monkeypatch, capsys, "extract", "--model", DEMO, "--text", text_file,
                           "--sequences", 2, "--max-tokens", 8, "--out", target, "--overwrite",
                           "--device", "cpu")
    _one_line_error(code, err)
    assert "not an attention dump" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no ..partial-* left
    assert (tmp_path / "userdir" / "notes.txt").read_text() == "precious"
    assert (tmp_path / "plain.txt").read_text() == "precious"


def test_overwrite_replaces_a_dump_and_nothing_else(tmp_path):
    _tiny_dump(tmp_path / "d", 1)
    rows = [(open_dump(tmp_path / "d").tokens(0), np.tril(np.ones((1, 2, 3, 3))) / 3)] * 2
    write_dump(tmp_path / "d", rows, model="tiny", overwrite=True)
    assert len(open_dump(tmp_path / "d")) == 2
    (tmp_path / "notes.txt").write_text("precious")
    with pytest.raises(DumpError, match="not an attention dump"):
        DumpWriter(tmp_path, model="tiny", n_layers=1, n_heads=2, overwrite=True)
    assert (tmp_path / "notes.txt").read_text() == "precious"


# 2. nothing overwrites what it did not write


def test_emit_refuses_its_own_source_and_foreign_files(monkeypatch, capsys, tmp_path):
    source = tmp_path / "heads.hc"
    source.write_text(PROGRAMS)
    code, _, err = run_cli(monkeypatch, capsys, "emit", source, "-o", source)
    _one_line_error(code, err)
    assert source.read_text() == PROGRAMS
    other = tmp_path / "mine.py"
    other.write_text("print('mine')\n")
    code, _, err = run_cli(monkeypatch, capsys, "emit", source, "-o", other)
    _one_line_error(code, err)
    assert other.read_text() == "print('mine')\n"
    assert run_cli(monkeypatch, capsys, "emit", source, "-o", other, "--force")[0] == 0
    assert run_cli(monkeypatch, capsys, "emit", source, "-o", other)[0] == 0  # its own module


@pytest.mark.parametrize("command", ["synth", "report", "demo"])
def test_run_and_report_folders_must_be_new_empty_or_headcodes(monkeypatch, capsys, tmp_path,
                                                               command):
    user = tmp_path / "user"
    user.mkdir()
    (user / "programs.hc").write_text("precious")
    (user / "report.html").write_text("precious")
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{}")
    args = {"synth": ["synth", "--out", user, "--dump", tmp_path / "d"],
            "report": ["report", run, "--out", user],
            "demo": ["demo", "--out", user, "--model", tmp_path / "nope"]}[command]
    code, _, err = run_cli(monkeypatch, capsys, *args)
    _one_line_error(code, err)
    assert "not headcode's output" in err
    assert sorted(p.name for p in user.iterdir()) == ["programs.hc", "report.html"]


# 5. and 13. FILE:NAME


def test_a_long_program_with_a_colon_is_an_expression():
    text = "mix(0.6: softmax(" + " + ".join(["1.5 * [k.punct]"] * 20) + "), 0.4: first)"
    assert len(text) > 255
    assert load_program(text).text == text


def test_errors_of_file_programs_name_the_file(monkeypatch, capsys, tmp_path):
    source = tmp_path / "heads.hc"
    source.write_text("a = first\nb = last(k.punct) ?? nope\n")
    code, _, err = run_cli(monkeypatch, capsys, "apply", f"{source}:a", "--text", "x",
                           "--tokenizer", tmp_path)
    assert code == 2 and err.startswith(f"{source}:2:22: unknown name 'nope'"), err


# 8. unwritable places


def _refuse(*args, **kwargs):
    raise PermissionError(13, "Permission denied", "/ro/place")


@pytest.mark.parametrize("command", ["emit", "fmt", "emit-into-a-file", "report", "extract"])
def test_an_unwritable_place_is_a_one_line_error(monkeypatch, capsys, tmp_path, text_file,
                                                 command):
    import os
    from pathlib import Path

    source = tmp_path / "heads.hc"
    source.write_text("a   =   first\n")
    args = {
        "emit": lambda: ["emit", source, "-o", tmp_path / "heads.py"],
        "emit-into-a-file": lambda: ["emit", source, "-o", text_file / "heads.py"],
        "fmt": lambda: ["fmt", source],
        "report": lambda: ["report", _report_run(tmp_path)],
        "extract": lambda: ["extract", "--model", DEMO, "--text", text_file, "--sequences", 1,
                            "--max-tokens", 8, "--out", tmp_path / "d", "--device", "cpu"],
    }[command]()
    monkeypatch.setattr(os, "replace", _refuse)
    monkeypatch.setattr(Path, "write_bytes", _refuse)
    code, _, err = run_cli(monkeypatch, capsys, *args)
    _one_line_error(code, err)


def _report_run(root):
    import json

    run = root / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"dump": "dump", "heads": "all"}))
    (run / "programs.hc").write_text("head 0.1 = first  # held-out IoU 0.5\n")
    _tiny_dump(run / "dump")
    return run


# 9. a dump cut short


def test_a_texts_file_cut_mid_line_is_a_corrupt_dump(monkeypatch, capsys, tmp_path):
    dump = _tiny_dump(tmp_path / "d")
    texts = dump / "texts.jsonl"
    texts.write_text(texts.read_text()[:-6])
    with pytest.raises(DumpError, match="corrupt"):
        open_dump(dump).texts(0)
    code, _, err = run_cli(monkeypatch, capsys, "score", "-e", "first", "--dump", dump)
    _one_line_error(code, err)


# 10. text that is not UTF-8


def test_undecodable_text_is_a_tokenizer_error(monkeypatch, capsys):
    code, _, err = run_cli(monkeypatch, capsys, "apply", "first", "--text", "hi \udcff there",
                           "--tokenizer", DEMO)
    _one_line_error(code, err)
    assert "not valid UTF-8" in err


# 11. a run's relative dump path is the run's


def test_a_copied_run_never_reads_another_runs_dump(monkeypatch, tmp_path):
    import json
    import shutil

    from headcode.eval.report import find_dump

    monkeypatch.chdir(tmp_path)
    first = _report_run(tmp_path)
    settings = {"dump": "run/dump"}  # as older runs wrote it: relative to where synth ran
    copy = tmp_path / "copy"
    shutil.copytree(first, copy)
    (copy / "dump" / "meta.json").write_text("{")
    (copy / "run.json").write_text(json.dumps(settings))
    dump, note = find_dump(copy, settings)
    assert dump is None and "could not be read" in note


def test_synth_records_the_dump_relative_to_the_run(monkeypatch, capsys, tmp_path):
    import json

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "x").mkdir(parents=True)
    _tiny_dump(tmp_path / "runs" / "x" / "dump", 3)
    code, _, err = run_cli(monkeypatch, capsys, "synth", "--out", "runs/x", "--dump",
                           "runs/x/dump", "--synth-sequences", 2, "--heldout-sequences", 1,
                           "--heads", "0.0", "--max-selectors", 20, "--time-budget", 0)
    assert code == 0, err
    assert json.loads((tmp_path / "runs" / "x" / "run.json").read_text())["dump"] == "dump"


# 12. a local model path that does not exist


def test_a_missing_local_model_is_no_such_directory():
    from headcode.models.errors import ModelError
    from headcode.models.loading import load_model

    with pytest.raises(ModelError, match="no such directory"):
        load_model("./nope")


# 14. a failed synth leaves no folder


def test_a_failed_synth_leaves_no_empty_folder(monkeypatch, capsys, tmp_path, text_file):
    out = tmp_path / "new" / "run"
    code, _, err = run_cli(monkeypatch, capsys, "synth", "--out", out, "--model", DEMO,
                           "--text", text_file)  # 2 paragraphs: too few
    _one_line_error(code, err)
    assert not (tmp_path / "new").exists()


# 15. comments inside a multi-line item


def test_fmt_keeps_each_comment_of_a_multi_line_item(monkeypatch, capsys, tmp_path):
    source = tmp_path / "m.hc"
    source.write_text("x = mix(0.6: first,  # the main part\n        0.4: self)   # a little\n")
    assert run_cli(monkeypatch, capsys, "fmt", source)[0] == 0
    assert source.read_text() == "# the main part\nx = mix(0.6: first, 0.4: self)  # a little\n"
    assert run_cli(monkeypatch, capsys, "fmt", "--check", source)[0] == 0


# 16. version, quickstart, help


def test_version_and_help_texts(monkeypatch, capsys):
    from importlib.metadata import version

    code, out, _ = run_cli(monkeypatch, capsys, "--version")
    assert code == 0 and out.strip() == f"headcode {version('headcode')}"
    score = run_cli(monkeypatch, capsys, "score", "--help")[1]
    assert '"sequences"' in score and "table" in score
    assert "--force" in run_cli(monkeypatch, capsys, "emit", "--help")[1]
    assert "overwritten" in run_cli(monkeypatch, capsys, "fmt", "--help")[1]


def test_the_quickstart_creates_the_text_it_uses():
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert readme.index("> stories.txt") < readme.index("--text-file stories.txt")

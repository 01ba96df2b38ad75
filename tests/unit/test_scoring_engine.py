"""The scoring engine's API: dumps streamed chunk by chunk, encoded corpora, errors, the CLI."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from scoring_data import (
    PROGRAMS,
    attention,
    dump_fixture,  # noqa: F401 (the `dump` fixture)
    reference,
    tokens,
)

from headcode.dsl import ops
from headcode.dsl.errors import EvaluationError
from headcode.dsl.interpreter import run
from headcode.dsl.program import program_from_text
from headcode.scoring import (
    Interner,
    compile_programs,
    encode_corpus,
    score,
    score_corpus,
    sequence_ious,
)
from headcode.scoring.compiler import shared_limit
from headcode.scoring.iou import soft_iou


def test_score_of_a_float16_dump_equals_the_reference(dump):
    programs = [program_from_text(t) for t in PROGRAMS]
    got = score(programs, dump)
    assert got.shape == (len(PROGRAMS), 6)
    np.testing.assert_allclose(got, reference(PROGRAMS, dump, dump.heads), atol=1e-6, rtol=0)


def test_streaming_in_small_chunks_changes_nothing(dump):
    programs = [program_from_text(t) for t in PROGRAMS]
    heads = [(1, 2), (0, 0)]
    whole = score(programs, dump, heads)
    done = []
    chunked = score(programs, dump.path, heads, progress=done.append, chunk_bytes=1)
    np.testing.assert_allclose(whole, chunked, atol=1e-14, rtol=0)  # sums grouped otherwise
    assert np.array_equal(whole, score(programs, dump, heads, threads=1))  # deterministic
    assert sum(done) == len(dump)
    np.testing.assert_allclose(whole, score(programs, dump)[:, [5, 0]], atol=1e-12)


def test_encoded_corpus_is_reused_and_gives_per_sequence_ious(dump):
    corpus = encode_corpus([(dump.features(s), dump.packed(s)) for s in range(len(dump))])
    programs = [program_from_text(t) for t in PROGRAMS]
    per_sequence = sequence_ious(programs, corpus, threads=2)
    assert per_sequence.shape == (len(PROGRAMS), 6, len(dump))
    np.testing.assert_allclose(score_corpus(programs, corpus), per_sequence.mean(axis=2))
    compiled = compile_programs(programs, corpus.interner)
    assert np.array_equal(sequence_ious(compiled, corpus, threads=1), per_sequence)
    with pytest.raises(EvaluationError, match="another corpus"):
        sequence_ious(compile_programs(programs, Interner()), corpus)


def test_dense_attention_and_tokens_are_accepted():
    t = tokens(0, 10)
    a = attention(1, 1, 2, 10)[0]
    corpus = encode_corpus([(t, a)])
    got = score_corpus([program_from_text("prev(1)")], corpus)[0]
    matrix = run(program_from_text("prev(1)"), t.texts, t.ids, t.special)
    expected = [soft_iou(matrix, a[h]) for h in (0, 1)]
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("heads", [1, 16, 17, 33, 48, 57, 70])
def test_any_number_of_heads(heads):
    t = tokens(3, 13)
    a = attention(heads, 1, heads, 13)[0]
    corpus = encode_corpus([(t, a)])
    assert corpus.n_heads == heads
    texts = ["prev(1)", "causal", "mix(0.3: first, 0.7: keys(k.punct))", "decay(causal, 0.6)"]
    got = score_corpus([program_from_text(x) for x in texts], corpus)
    for p, text in enumerate(texts):
        matrix = run(program_from_text(text), t.texts, t.ids, t.special)
        expected = [soft_iou(matrix, a[h])
                    for h in range(heads)]
        np.testing.assert_allclose(got[p], expected, atol=1e-6, rtol=0)


FUSED = ["keys(k.digit)", "mix(0.4: keys(k.digit), 0.6: prev(3))", "mix(1: prev(1), 1: prev(1))",
         "mix(0.2: causal, 0.8: same(word))", "mix(0.7: last(k.quote), 0.3: first)"]
SOFT = ["softmax(3 * [k.punct] + 2 * [same(word)] - 0.4 * dist + 0.1 * dist)",
        "softmax(40 * [first] - 9 * dist)", "softmax(-2 * [prev(1)])"]


def test_fused_mixtures_and_unshared_selectors_equal_the_interpreter():
    """Mixtures of one or two shared selectors and soft scores over shared selectors take the
    fused paths (empty rows, overlaps, a selector mixed with itself, a far tail below the
    negligible weight included); with no selector shared, every program takes the instruction
    path. Both equal the interpreter's IoU."""
    sequences = [tokens(s, 9 + 4 * s) for s in range(3)]
    a = [attention(7 + s, 1, 5, len(t.texts))[0] for s, t in enumerate(sequences)]
    corpus = encode_corpus(list(zip(sequences, a)))
    programs = [program_from_text(t) for t in FUSED + SOFT + PROGRAMS]
    fused = compile_programs(programs, corpus.interner)
    assert (fused.mixes[: len(FUSED), 0] >= 0).all()
    assert len(fused.flat) == 8  # the 7 selectors of FUSED and PROGRAMS' shift(...)
    assert (fused.softs[len(FUSED) : len(FUSED) + len(SOFT), 0] >= 0).all()
    assert len(fused.soft_terms) == 4 + 2 + 1 + 3  # and PROGRAMS' softmax(...)
    unshared = compile_programs(programs, corpus.interner, max_shared=0)
    assert unshared.n_shared == 0 and (unshared.mixes == -1).all() and (unshared.softs == -1).all()
    got, plain = sequence_ious(fused, corpus), sequence_ious(unshared, corpus)
    for p, program in enumerate(programs):
        for s, t in enumerate(sequences):
            matrix = run(program, t.texts, t.ids, t.special)
            expected = [soft_iou(matrix, a[s][h])
                        for h in range(5)]
            np.testing.assert_allclose(got[p, :, s], expected, atol=1e-6, rtol=0)
            np.testing.assert_allclose(plain[p, :, s], expected, atol=1e-6, rtol=0)


def test_exp_on_the_softmax_range_equals_numpy():
    from headcode.scoring.execute import LOG_NEGLIGIBLE, exp_nonpositive

    xs = np.linspace(LOG_NEGLIGIBLE, 0.0, 20001)
    got = np.array([exp_nonpositive(x) for x in xs])
    assert np.max(np.abs(got - np.exp(xs)) / np.exp(xs)) < 5e-16
    assert exp_nonpositive(LOG_NEGLIGIBLE - 1e-9) == 0.0 and exp_nonpositive(-1e300) == 0.0
    assert exp_nonpositive(0.0) == 1.0


def test_shared_selectors_are_bounded_by_the_sequence_length():
    limits = [shared_limit(width) for width in (8, 128, 256, 1024, 4096, 100_000)]
    assert limits[:2] == [1024, 1024] and limits == sorted(limits, reverse=True)
    assert limits[-1] == 0


def test_string_literals_unknown_to_the_corpus_match_nothing():
    t = tokens(0, 10)
    corpus = encode_corpus([(t, attention(2, 1, 1, 10)[0])])
    never = score_corpus([program_from_text('keys(k.text == "zebra") ?? prev(1)')], corpus)
    assert never == pytest.approx(score_corpus([program_from_text("prev(1)")], corpus))


def test_errors_are_evaluation_errors():
    t = tokens(0, 6)
    without_ids = encode_corpus([(ops.features(t.texts), attention(3, 1, 1, 6)[0])])
    with pytest.raises(EvaluationError, match="token ids"):
        score_corpus([program_from_text("same(id)")], without_ids)
    with pytest.raises(EvaluationError, match="holes"):
        score_corpus([program_from_text("prev(?)")], without_ids)
    with pytest.raises(EvaluationError, match="does not fit"):
        encode_corpus([(t, np.zeros((1, 5, 5)))])
    with pytest.raises(EvaluationError, match="heads"):
        encode_corpus([(t, np.zeros((1, 6, 6))), (t, np.zeros((2, 6, 6)))])
    with pytest.raises(EvaluationError, match="no sequences"):
        encode_corpus([])


def test_many_programs_share_one_compiled_kernel():
    """A new candidate costs no compilation: 2,000 programs compile in well under a second."""
    import time

    texts = [f'mix(0.{k % 9 + 1}: prev({k % 7}), 0.5: keys(k.text == "w{k}"))' for k in range(2000)]
    programs = [program_from_text(t) for t in texts]
    start = time.perf_counter()
    compiled = compile_programs(programs, Interner())
    assert time.perf_counter() - start < 5
    assert len(compiled) == 2000


# ---------------------------------------------------------------- the real model


# ---------------------------------------------------------------- the command line


def cli(monkeypatch, capsys, *args):
    """Run `headcode ARGS` in-process: (exit code, stdout, stderr)."""
    from headcode.cli import main

    monkeypatch.setattr(sys, "argv", ["headcode", *map(str, args)])
    try:
        main()
        code = 0
    except SystemExit as exited:
        code = exited.code or 0
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_json_for_expressions(monkeypatch, capsys, dump):
    code, out, err = cli(monkeypatch, capsys, "score", "-e", "prev(1)", "-e", "first",
                         "--dump", dump.path, "--heads", "1.2,0.0", "--json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["program"], r["layer"], r["head"]) for r in rows] == [
        ("prev(1)", 1, 2), ("prev(1)", 0, 0), ("first", 1, 2), ("first", 0, 0)]
    assert all(r["sequences"] == len(dump) for r in rows)
    expected = reference(["prev(1)"], dump, [(1, 2)])[0, 0]
    assert rows[0]["iou"] == pytest.approx(expected, abs=1e-6)


def test_cli_file_scores_assigned_heads_unless_heads_given(monkeypatch, capsys, dump, tmp_path):
    path = tmp_path / "heads.hc"
    path.write_text("end = last(k.period) ?? first\nhead 1.2 = end\nhead 0.1 = prev(1)\n")
    code, out, err = cli(monkeypatch, capsys, "score", path, "--dump", dump.path, "--json")
    assert code == 0, err
    assert [(r["program"], r["layer"], r["head"]) for r in json.loads(out)] == [
        ("end", 1, 2), ("prev(1)", 0, 1)]
    code, out, err = cli(monkeypatch, capsys, "score", path, "--dump", dump.path, "--json",
                         "--heads", "0.0")
    assert code == 0, err
    assert [(r["program"], r["head"]) for r in json.loads(out)] == [("end", 0), ("prev(1)", 0)]
    code, out, err = cli(monkeypatch, capsys, "score", path, "--dump", dump.path)
    assert code == 0, err
    assert "end" in out and "1.2" in out


def test_cli_table_shows_brackets_of_programs(monkeypatch, capsys, dump):
    """A soft score's `[k.punct]` is program text in the table, not a style tag."""
    monkeypatch.setenv("COLUMNS", "200")
    code, out, err = cli(monkeypatch, capsys, "score", "-e", "softmax(2 * [k.punct] - dist)",
                         "--dump", dump.path, "--heads", "0.0")
    assert code == 0, err
    assert "softmax(2 * [k.punct] - dist)" in out


@pytest.mark.parametrize("args, message", [
    (["-e", "prev(1)", "--dump", "/no/such/dump"], "no attention dump"),
    (["-e", "prev(1)", "--heads", "2.0"], "out of range"),
    (["-e", "prev(1)", "--heads", "one"], "LAYER.HEAD"),
    (["-e", "prev(1"], "<program>:1:"),
    (["-e", "prev(?)"], "holes"),
    ([], "give a program file"),
])
def test_cli_errors_are_one_line(monkeypatch, capsys, dump, args, message):
    if "--dump" not in args:
        args = [*args, "--dump", dump.path]
    code, out, err = cli(monkeypatch, capsys, "score", *args)
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_malformed_file_lists_every_error(monkeypatch, capsys, dump, tmp_path):
    path = tmp_path / "bad.hc"
    path.write_text("a = prev(1)\nb = last(prev(1))\nhead 0.1 = nothing\n")
    code, out, err = cli(monkeypatch, capsys, "score", path, "--dump", dump.path)
    assert code == 2
    lines = err.strip().splitlines()
    assert [line.split(":")[1:3] for line in lines] == [["2", "10"], ["3", "12"]]
    assert all(line.startswith(str(path)) for line in lines)

"""Hypothesis properties of the language's semantics, over generated programs and sequences."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import fill_holes, patterns, token_sequences

from headcode.dsl import nodes as n
from headcode.dsl.checker import check_expr
from headcode.dsl.emitter import emit
from headcode.dsl.errors import ProgramError
from headcode.dsl.interpreter import run
from headcode.dsl.parser import parse_expr, parse_file
from headcode.dsl.printer import show, show_file
from headcode.dsl.program import LoadedFile, load_file
from headcode.errors import HeadcodeError


@given(patterns(holes=True))
def test_printer_round_trip(program):
    """(a) parse(print(p)) == p, and the printed text is a fixed point."""
    text = show(program)
    parsed = parse_expr(text)
    assert parsed == program
    assert show(parsed) == text
    check_expr(parsed)


@given(st.lists(patterns(depth=1, holes=True), min_size=1, max_size=4))
def test_file_round_trip(programs):
    pf = n.ProgramFile(tuple(
        n.Definition(f"p{k}", p) if k % 2 else n.Assignment(k, k + 1, p)
        for k, p in enumerate(programs)
    ))
    assert parse_file(show_file(pf)) == pf


@given(patterns(), token_sequences(), st.integers(0, 3))
def test_every_program_gives_a_causal_row_stochastic_matrix(program, seq, seed):
    """(b) causal, non-negative, rows summing to 1 (1e-9)."""
    texts, ids, special = seq
    matrix = run(fill_holes(program, seed), texts, ids, special)
    size = len(texts)
    assert matrix.shape == (size, size)
    assert np.all(matrix >= 0)
    assert np.all(np.triu(matrix, k=1) == 0)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-9)


def _import(source: str, tmp_path, name: str):
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules.pop(name, None)
    return module


_counter = iter(range(10**9))


@given(patterns(depth=1), patterns(depth=1), token_sequences())
def test_emitted_python_equals_the_interpreter(tmp_path_factory, a, b, seq):
    """(c) the emitted module's functions give the interpreter's matrices (1e-9)."""
    texts, ids, special = seq
    a, b = fill_holes(a), fill_holes(b)
    source = f"a = {show(a)}\nhead 0.1 = a\nhead 2.3 = {show(b)} ?? a\n"
    tmp = tmp_path_factory.mktemp("emit")
    (tmp / "p.hc").write_text(source)
    loaded: LoadedFile = load_file(tmp / "p.hc")
    module = _import(emit(loaded, "p.hc"), tmp, f"emitted_{next(_counter)}")
    assert set(module.HEADS) == {(0, 1), (2, 3)}
    for key, program in loaded.heads.items():
        got = module.PROGRAMS[module.HEADS[key]](texts, ids, special)
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, run(program, texts, ids, special), atol=1e-9, rtol=0)


_PIECES = ["last(", "k.period", ")", "??", "first", "mix(", "0.5", ":", ",", "prev(", "1", "-",
           "?", "keys(", "q.", "text", "==", '" and"', "in", "{", "}", "softmax(", "*", "[", "]",
           "dist", "if", "then", "else", "not", "and", "or", "|", "&", "head", "2.5", "=", "#",
           "\n", " ", "decay(", "shift(", "same(", "word", "start(", "window(", "x", "-1e9"]


@given(st.one_of(st.text(max_size=60),
                 st.lists(st.sampled_from(_PIECES), max_size=25).map("".join)))
def test_parser_and_checker_raise_only_their_own_errors(text):
    """(d) arbitrary text: a program, or a ProgramError with a position; never a crash."""
    for parse in (parse_expr, parse_file):
        try:
            tree = parse(text)
            if isinstance(tree, n.ProgramFile):
                load = LoadedFile  # noqa: F841 - parsed files are checked below
                from headcode.dsl.checker import check_file

                check_file(tree)
            else:
                check_expr(tree)
        except HeadcodeError as e:
            assert isinstance(e, ProgramError) or e.__class__.__name__ == "ProgramErrors"
            assert str(e)


def test_deep_nesting_is_an_error_not_a_crash():
    """Deeply nested programs end in a ProgramError that says so (no RecursionError); brackets
    alone add no depth."""
    assert show(parse_expr("(" * 5000 + "self" + ")" * 5000)) == "self"
    for text, message in [("not " * 5000 + "k.punct", "nested too deeply"),
                          ("self ?? " * 5000 + "first", "nested too deeply"),
                          ("prev(" * 3000, "unexpected end of program")]:
        with pytest.raises(ProgramError, match=message):
            check_expr(parse_expr(text), runnable=False)

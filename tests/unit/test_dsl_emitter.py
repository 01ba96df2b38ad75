"""The emitted module: standalone, the fixed interface, readable functions."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from headcode.dsl.emitter import emit
from headcode.dsl.interpreter import run
from headcode.dsl.program import load_file, program_from_text

SOURCE = """\
# Sentence structure
ends = last(k.period) ?? first  # the most recent sentence end
punct = k.punct
len = prev(1)
induction = shift(same(text) - self, 1)
head 0.1 = ends
head 1.3 = mix(0.7: induction, 0.3: first)
head 2.0 = keys(punct) ?? first
"""


def test_emitted_module_interface(tmp_path):
    (tmp_path / "heads.hc").write_text(SOURCE)
    loaded = load_file(tmp_path / "heads.hc")
    source = emit(loaded, "heads.hc")
    assert "import torch" not in source and "headcode" not in source.split('"""', 2)[2]
    assert ('"""ends = last(k.period) ?? first\n\n'
            "    the most recent sentence end; if there is none, the first token\n") in source
    out = tmp_path / "heads.py"
    out.write_text(source)
    texts = ["<s>", " Lily", " ran", ".", " She", " ran", ","]
    special = [True] + [False] * 6
    script = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import heads; "
        "print(json.dumps({'programs': sorted(heads.PROGRAMS), "
        "'heads': sorted(map(list, heads.HEADS)), "
        f"'m': heads.PROGRAMS[heads.HEADS[(1, 3)]]({texts!r}, None, {special!r}).tolist(), "
        f"'len': heads.PROGRAMS['len']({texts!r}).tolist()}}))"
    )
    # a fresh interpreter, so nothing of headcode is imported: the module stands alone
    result = subprocess.run([sys.executable, "-I", "-c", script, str(tmp_path)],
                            capture_output=True, text=True, check=True)
    got = __import__("json").loads(result.stdout)
    assert got["programs"] == ["ends", "head_1_3", "head_2_0", "induction", "len"]
    assert got["heads"] == [[0, 1], [1, 3], [2, 0]]
    np.testing.assert_allclose(got["m"], run(loaded.heads[(1, 3)], texts, None, special))
    np.testing.assert_allclose(got["len"], run(loaded.programs["len"], texts))


def test_one_program_function_runs_beside_the_runtime(tmp_path):
    from headcode.dsl.emitter import emit_function, runtime_source

    (tmp_path / "heads.hc").write_text(SOURCE)
    loaded = load_file(tmp_path / "heads.hc")
    program = loaded.heads[(1, 3)]  # refers to `induction`: inlined
    source = emit_function(program, "head_1_3", "head 1.3")
    assert source.startswith("def head_1_3(texts, ids=None, special=None):\n")
    assert '"""head 1.3 = mix(0.7: shift(same(text) - self, 1), 0.3: first)\n' in source
    namespace: dict = {}
    exec(compile(runtime_source() + "\n\n" + source, "one.py", "exec"), namespace)
    texts = ["<s>", " Lily", " ran", ".", " She", " ran", ","]
    special = [True] + [False] * 6
    np.testing.assert_allclose(namespace["head_1_3"](texts, None, special),
                               run(program, texts, None, special))
    # a head without references reads the same in a module as alone
    (tmp_path / "one.hc").write_text("head 0.2 = last(k.period) ?? first\n")
    alone = load_file(tmp_path / "one.hc")
    assert emit_function(alone.heads[(0, 2)], "head_0_2", "head 0.2") in emit(alone)
    assert emit_function(program_from_text("prev(1)")).startswith("def program(texts")


def test_a_program_with_holes_is_not_emitted_but_a_language_error(tmp_path):
    from headcode.dsl.emitter import emit_function
    from headcode.dsl.errors import EvaluationError

    path = tmp_path / "holes.hc"
    path.write_text("named = mix(0.5: prev(?), 0.5: first)\nhead 0.0 = window(1, ?)\n")
    with pytest.raises(EvaluationError, match="unfilled holes"):
        emit(load_file(path), "holes")
    with pytest.raises(EvaluationError, match="unfilled holes"):
        emit_function(program_from_text("prev(?)"))

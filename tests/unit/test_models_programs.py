"""Program heads on stories260K: ProgramSource, head choice by held-out IoU, and the
`perplexity --programs` command with its controls and errors."""


import pytest

from headcode.dsl.program import load_file
from headcode.models import programs as plan
from headcode.models.errors import ModelError
from headcode.models.substitute import RandomProgramSource

REALISTIC = "mix(0.5: last(k.period) ?? first, 0.5: decay(causal, 0.8))"
SOFT = "softmax(2 * [first] + 1.5 * [keys(k.punct)] - 0.1 * dist)"

# 12 assigned heads, in no particular order of their (invented) held-out IoU
HEADS_FILE = f"""\
sentence_end = last(k.period) ?? first
head 0.0 = prev(1)  # held-out IoU 0.31, synthesis IoU 0.30, size 2
head 0.3 = first  # held-out IoU 0.72, synthesis IoU 0.70, size 1
head 1.2 = sentence_end  # held-out IoU 0.55
head 1.7 = decay(causal, 0.8)  # held-out IoU 0.12, synthesis IoU 0.13, size 3
head 2.5 = {REALISTIC}  # held-out IoU 0.432
head 2.1 = {SOFT}  # held-out IoU 0.61
head 3.0 = self  # held-out IoU 0.05
head 3.4 = shift(same(text) - self, 1) ?? first  # held-out IoU 0.48
head 4.6 = same(sentence)  # held-out IoU 0.29
head 4.2 = causal  # held-out IoU 0.20
head 2.2 = start(sentence)  # held-out IoU 0.66
head 1.1 = window(0, 3)  # held-out IoU 0.39
"""
BY_IOU = [[0, 3], [2, 2], [2, 1], [1, 2], [3, 4], [2, 5], [1, 1], [0, 0], [4, 6], [4, 2]]
TOL = 1e-5

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def heads_file(tmp_path):
    path = tmp_path / "heads.hc"
    path.write_text(HEADS_FILE, encoding="utf-8")
    return path


# ---------------------------------------------------------------- ProgramSource


# ---------------------------------------------------------------- choosing heads


def test_held_out_iou_comment():
    assert plan.held_out_iou("held-out IoU 0.432, synthesis IoU 0.430, size 12") == 0.432
    assert plan.held_out_iou("synthesis IoU 0.430") is None
    assert plan.held_out_iou(None) is None


def test_programs_by_iou(heads_file):
    chosen = plan.programs_by_iou(load_file(heads_file))
    assert [list(a.head) for a in chosen[:10]] == BY_IOU
    assert [a.iou for a in chosen] == sorted((a.iou for a in chosen), reverse=True)
    assert chosen[3].program.label == "sentence_end"


def test_head_count_and_fraction():
    assert [plan.head_count(f, 40) for f in (0, 0.1, 0.25, 0.5, 1)] == [0, 4, 10, 20, 40]
    assert plan.head_count(0.5, 5) == 3  # halves round up
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(ModelError, match=r"in \[0, 1\]"):
            plan.head_count(bad, 40)


def test_random_control_draws_other_programs_of_the_file(heads_file):
    loaded = load_file(heads_file)
    chosen = plan.programs_by_iou(loaded)[:10]
    library = plan.library(loaded)
    assert len(library) == 12  # sentence_end and 1.2's program are one meaning
    sources = plan.replacements(chosen, library, "random", seed=3)
    again = plan.replacements(chosen, library, "random", seed=3)
    for a in chosen:
        control = sources[a.head]
        assert isinstance(control, RandomProgramSource)
        drawn = control.choice(*a.head).program
        assert drawn.closed != a.program.closed
        assert again[a.head].choice(*a.head).program == drawn


# ---------------------------------------------------------------- the command



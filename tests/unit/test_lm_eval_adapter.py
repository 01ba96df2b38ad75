"""The lm-evaluation-harness adapter: a clear error without lm_eval, right-padded batches, and
the local task on stories260K scoring exactly as `headcode qa` does, with and without programs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from headcode.errors import HeadcodeError

TASK = Path(__file__).parents[1] / "data" / "lm_eval_task"
TASK_NAME = "headcode_stories_qa_mini"
PROGRAMS = """\
head 0.0 = first  # held-out IoU 0.5
head 1.2 = prev(1)  # held-out IoU 0.7
head 3.4 = last(k.period) ?? first  # held-out IoU 0.6
"""

pytestmark = pytest.mark.usefixtures("one_thread")


def test_without_lm_eval_the_import_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "lm_eval" or m.startswith("lm_eval.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "lm_eval", None)
    monkeypatch.delitem(sys.modules, "headcode.eval.lm_eval_adapter", raising=False)
    with pytest.raises(HeadcodeError, match=r"pip install 'headcode\[lm-eval\]'"):
        importlib.import_module("headcode.eval.lm_eval_adapter")



"""docs/language.md stays true: its programs check, and its Python is what the emitter writes."""

from __future__ import annotations

import re
from pathlib import Path

from headcode.dsl.checker import check_file
from headcode.dsl.emitter import emit
from headcode.dsl.parser import parse_file
from headcode.dsl.program import load_file

DOC = Path(__file__).resolve().parents[2] / "docs" / "language.md"


def _blocks(kind: str, text: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", text, flags=re.S)


def test_every_program_block_checks():
    blocks = _blocks("headcode", DOC.read_text())
    assert len(blocks) >= 16
    for block in blocks:
        check_file(parse_file(block))


def test_worked_patterns_show_the_emitted_python(tmp_path):
    worked = DOC.read_text().split("## Worked head patterns", 1)[1]
    pairs = re.findall(r"```headcode\n(.*?)```\n\n```python\n(.*?)```", worked, flags=re.S)
    assert len(pairs) >= 15
    for program, python in pairs:
        (tmp_path / "p.hc").write_text(program)
        assert python.strip() in emit(load_file(tmp_path / "p.hc")), program

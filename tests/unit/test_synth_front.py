"""The size/fidelity front and the two programs chosen from it (synth/front.py)."""

from __future__ import annotations

import pytest

from headcode.synth.front import Choice, Point, best_within, explanation, pareto_front, surrogate


def _point(size: int, heldout: float, program: str | None = None) -> Point:
    return Point(program or f"p{size}_{heldout}", size, heldout + 0.01, heldout, "test")


def test_front_keeps_only_points_no_smaller_program_beats():
    points = [_point(3, 0.30), _point(5, 0.25), _point(5, 0.35), _point(9, 0.35),
              _point(12, 0.50), _point(40, 0.49), _point(60, 0.55)]
    front = pareto_front(points)
    assert [(p.size, p.heldout_iou) for p in front] == [(3, 0.30), (5, 0.35), (12, 0.50),
                                                        (60, 0.55)]


def test_explanation_is_the_smallest_within_tolerance_of_the_best_at_the_budget():
    front = pareto_front([_point(3, 0.30), _point(8, 0.44), _point(20, 0.46), _point(30, 0.60)])
    chosen = explanation(front, Choice(tolerance=0.03, max_size=24))
    assert (chosen.size, chosen.heldout_iou) == (8, 0.44)  # 0.46 - 0.03 <= 0.44
    tight = explanation(front, Choice(tolerance=0.01, max_size=24))
    assert tight.size == 20


def test_surrogate_is_the_best_of_any_size_up_to_the_margin():
    front = pareto_front([_point(3, 0.30), _point(30, 0.598), _point(50, 0.60)])
    assert surrogate(front, Choice(margin=0.005)).size == 30
    assert surrogate(front, Choice(margin=0.0)).size == 50


def test_explanation_falls_back_to_the_smallest_point_when_none_fits_the_budget():
    front = pareto_front([_point(30, 0.4), _point(50, 0.5)])
    assert explanation(front, Choice(max_size=10)).size == 30


def test_best_within_a_budget():
    front = pareto_front([_point(3, 0.30), _point(8, 0.44), _point(30, 0.60)])
    assert best_within(front, 5) == 0.30
    assert best_within(front, 2) == 0.0
    assert best_within(front, None) == 0.60


def test_an_empty_front_is_an_error():
    with pytest.raises(ValueError):
        explanation([], Choice())


def test_opening_a_run_writes_nothing_and_a_new_choice_is_recorded(tmp_path):
    from headcode.synth.rundir import RunDir

    RunDir(tmp_path, {"heads": "all"}, Choice(tolerance=0.05))
    saved = (tmp_path / "run.json").stat().st_mtime_ns
    opened = RunDir.open(tmp_path)
    assert opened.choice == Choice(tolerance=0.05) and opened.settings == {"heads": "all"}
    assert (tmp_path / "run.json").stat().st_mtime_ns == saved
    assert RunDir.open(tmp_path).results() == {}
    RunDir(tmp_path, {"heads": "all"}, Choice(max_size=10))
    assert RunDir.open(tmp_path).choice == Choice(max_size=10)


def test_results_without_fronts_are_a_one_line_error(tmp_path):
    from headcode.errors import HeadcodeError
    from headcode.synth.rundir import RunDir

    run = RunDir(tmp_path, {"heads": "all"})
    run.results_path.write_text('{"layer": 0, "head": 0, "program": "first"}\n')
    with pytest.raises(HeadcodeError, match="older headcode.*start a new run"):
        run.results()
    run.results_path.write_text('{"layer": 0, "he\n')
    with pytest.raises(HeadcodeError, match="not a readable list of head results"):
        run.results()

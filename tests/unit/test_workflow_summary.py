"""The demo's one-line curve summary states how many heads were replaced, not a share of the
model that a run explaining few heads never reaches."""

from headcode.workflow import quarter_summary


def test_quarter_summary_counts_the_heads_actually_replaced():
    curve = {"baseline_ppl": 10.0, "points": [
        {"fraction": 0.25, "heads": 2, "ppl": {"program": 11.0, "surrogate": 10.5}}]}
    line = quarter_summary(curve)
    assert line == ("perplexity 10.00 -> 11.00 (+10.0%) with explanations, 10.50 (+5.0%) with "
                    "surrogates at the 25% point: 2 heads replaced")
    assert "(25%) replaced" not in line


def test_quarter_summary_is_none_without_a_25_percent_point():
    assert quarter_summary({"baseline_ppl": 1.0, "points": [{"fraction": 0.5, "heads": 1,
                                                              "ppl": {"program": 1.0}}]}) is None

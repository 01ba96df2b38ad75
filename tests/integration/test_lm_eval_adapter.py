"""The lm-evaluation-harness adapter: a clear error without lm_eval, right-padded batches, and
the local task on stories260K scoring exactly as `headcode qa` does, with and without programs."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import STORIES, need_shared

TASK = Path(__file__).parents[1] / "data" / "lm_eval_task"
TASK_NAME = "headcode_stories_qa_mini"
PROGRAMS = """\
head 0.0 = first  # held-out IoU 0.5
head 1.2 = prev(1)  # held-out IoU 0.7
head 3.4 = last(k.period) ?? first  # held-out IoU 0.6
"""

pytestmark = pytest.mark.usefixtures("one_thread")


def need_lm_eval():
    try:
        import lm_eval.models.huggingface  # noqa: F401
    except ImportError as e:
        pytest.skip(f"needs lm_eval with its hf extra (pip install 'headcode[lm-eval]'): {e}")


@pytest.fixture(scope="module")
def heads(tmp_path_factory):
    path = tmp_path_factory.mktemp("programs") / "heads.hc"
    path.write_text(PROGRAMS)
    return path


def test_right_padded_batches_score_like_unpadded_rows(heads):
    need_lm_eval()
    import torch

    from headcode.dsl.tokens import tokens_from_ids
    from headcode.eval.lm_eval_adapter import HeadcodeLM

    lm = HeadcodeLM(pretrained=str(need_shared(STORIES)), programs=str(heads), replace=0.075,
                    device="cpu")
    assert lm.replaced == [(1, 2), (3, 4), (0, 0)]
    texts = ["Lily ran to the park. She saw a dog.", "Tom was sad."]
    ids = [lm.tokenizer(t)["input_ids"] for t in texts]
    padded = torch.zeros(2, len(ids[0]), dtype=torch.long)  # lm_eval pads right with id 0
    for b, row in enumerate(ids):
        padded[b, : len(row)] = torch.tensor(row)
    logits = lm._model_call(padded)
    for b, row in enumerate(ids):
        alone = lm.substitution.logits([tokens_from_ids(lm.tokenizer, row)])[0]
        torch.testing.assert_close(logits[b, : len(row)], alone, rtol=1e-5, atol=1e-5)
    unchanged = HeadcodeLM(pretrained=str(STORIES), device="cpu")
    assert not torch.allclose(unchanged._model_call(padded)[1, : len(ids[1])],
                              logits[1, : len(ids[1])])


def evaluate(monkeypatch, tmp_path, model_args: str) -> dict:
    """simple_evaluate of the local task, offline, from the task's directory."""
    need_lm_eval()
    import lm_eval
    from lm_eval.tasks import TaskManager

    import headcode.eval.lm_eval_adapter  # noqa: F401  registers `headcode`

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "datasets"))
    monkeypatch.chdir(TASK)  # the task's data_files path is relative
    return lm_eval.simple_evaluate(
        model="headcode", model_args=model_args, tasks=[TASK_NAME],
        task_manager=TaskManager(include_path=str(TASK), include_defaults=False),
        batch_size=4, device="cpu", log_samples=True,
    )


@pytest.mark.parametrize("with_programs", [False, True])
def test_local_task_matches_headcode_qa(monkeypatch, tmp_path, heads, with_programs):
    from headcode.eval.qa import load_items, score
    from headcode.models.loading import load_model
    from headcode.models.tokenizer import load_tokenizer

    need_shared(STORIES)
    args = f"pretrained={STORIES}"
    if with_programs:
        args += f",programs={heads},replace=0.075,order=iou"
    results = evaluate(monkeypatch, tmp_path, args)

    model = load_model(STORIES, device="cpu")
    replace = {}
    if with_programs:
        from headcode.eval.lm_eval_adapter import program_sources

        replace, chosen = program_sources(model, heads, replace=0.075)
        assert chosen == [(1, 2), (3, 4), (0, 0)]
    items = load_items(TASK / "stories-qa-mini.jsonl")
    ours = score(model, load_tokenizer(str(STORIES)), items, replace=replace, batch_size=5)
    assert results["results"][TASK_NAME]["acc,none"] == pytest.approx(ours.accuracy_sum)
    samples = sorted(results["samples"][TASK_NAME], key=lambda s: s["doc_id"])
    assert len(samples) == len(items)
    for sample, item, mine in zip(samples, items, ours.items):
        assert sample["doc"]["prompt"] == item.prompt
        theirs = [float(resp[0][0]) for resp in sample["resps"]]
        assert theirs == pytest.approx(mine.sums, abs=1e-4)
    if with_programs:  # the substitution changed the scores
        base = score(model, load_tokenizer(str(STORIES)), items, batch_size=5)
        assert [s.sums for s in base.items] != [s.sums for s in ours.items]

"""The demo model's training script, end to end at a tiny size."""

from __future__ import annotations

import json

from conftest import SHARED, need_shared

from headcode.models.train_demo import main


def test_training_writes_a_loadable_model_and_its_record(tmp_path, one_thread):
    need_shared(SHARED / "data" / "tinystories" / "valid-a.txt")
    out = tmp_path / "model"
    main(["--shared", str(SHARED), "--out", str(out), "--vocab", "300", "--width", "16",
          "--layers", "1", "--heads", "2", "--context", "64", "--block", "32", "--batch", "2",
          "--steps", "3", "--sampled", "0", "--held-out", "20",
          "--figure", str(tmp_path / "loss.png")])
    record = json.loads((out / "training.json").read_text())
    assert record["data"]["held_out_paragraphs"] == 20 and record["data"]["sampled_stories"] == 0
    assert record["data"]["tinystories_paragraphs"] > 3000
    assert [p["step"] for p in record["curve"]] == [0, 2]
    assert record["held_out_perplexity"] > 1 and record["data_seconds"] >= 0
    assert (tmp_path / "loss.png").stat().st_size > 1000
    assert not any(p.suffix == ".txt" for p in out.iterdir())  # no training text is written

    from headcode.dsl.tokens import tokenize
    from headcode.models.loading import load_model, model_shape
    from headcode.models.tokenizer import load_tokenizer

    tokens = tokenize(load_tokenizer(str(out)), "Once upon a time.")
    assert tokens.special[0] and "".join(tokens.texts[1:]) == "Once upon a time."
    shape = model_shape(load_model(out, device="cpu"))
    assert (shape.n_layers, shape.n_heads) == (1, 2)

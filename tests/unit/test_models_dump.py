"""Attention dumps: packing, round trip, streaming atomicity, validation of broken dumps."""

import json

import numpy as np
import pytest

from headcode.dsl.ops import features
from headcode.dsl.tokens import Tokens
from headcode.models.dump import (
    DumpError,
    DumpWriter,
    open_dump,
    pack,
    tri_size,
    unpack,
    write_dump,
)


def sequence(n, layers=2, heads=3, seed=0):
    rng = np.random.default_rng(seed)
    texts = ["<s>"] + [
        rng.choice([" The", " cat", ".", ",", "\n", " 42", " Bob", '"']) for _ in range(n - 1)
    ]
    tokens = Tokens(ids=list(range(n)), texts=texts, special=[True] + [False] * (n - 1))
    scores = rng.random((layers, heads, n, n)) * np.tril(np.ones((n, n)))
    return tokens, (scores / scores.sum(-1, keepdims=True)).astype(np.float32)


def test_pack_unpack_round_trip_in_row_major_order():
    m = np.arange(16, dtype=np.float32).reshape(4, 4)
    packed = pack(m)
    assert packed.tolist() == [0, 4, 5, 8, 9, 10, 12, 13, 14, 15]
    assert len(packed) == tri_size(4)
    assert np.array_equal(unpack(packed, 4), np.tril(m))
    # the triangle of a prefix is a prefix of the triangle
    assert np.array_equal(pack(m[:3, :3]), packed[: tri_size(3)])


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_round_trip(tmp_path, dtype):
    seqs = [sequence(n, seed=n) for n in (5, 1, 9)]
    path = write_dump(tmp_path / "d", seqs, model="tiny", dtype=dtype, extra={"note": "x"})
    dump = open_dump(path)
    assert len(dump) == 3 and dump.n_layers == 2 and dump.n_heads == 3 and dump.dtype == dtype
    assert dump.heads == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert dump.meta["extra"] == {"note": "x"}
    tol = 1e-3 if dtype == "float16" else 0
    for s, (tokens, attention) in enumerate(seqs):
        assert dump.tokens(s) == tokens
        assert dump.length(s) == len(tokens)
        np.testing.assert_allclose(dump.attention(s), attention, atol=tol)
        np.testing.assert_allclose(dump.head(s, 1, 2), attention[1, 2], atol=tol)
        assert dump.packed(s).shape == (6, tri_size(len(tokens)))
        expected = features(tokens.texts, tokens.ids, tokens.special)
        got = dump.features(s)
        assert set(got) == set(expected)
        for name in expected:
            assert np.array_equal(got[name], expected[name]), name
    assert isinstance(dump.packed(2).base, np.memmap) or isinstance(dump.packed(2), np.memmap)
    assert [s for s, _ in dump.iter_packed()] == [0, 1, 2]
    with pytest.raises(DumpError):
        dump.head(0, 2, 0)


def test_failed_write_leaves_nothing(tmp_path):
    def broken():
        yield sequence(4)
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError):
        write_dump(tmp_path / "d", broken(), model="tiny")
    assert list(tmp_path.iterdir()) == []


def test_unfinished_writer_is_not_a_dump(tmp_path):
    writer = DumpWriter(tmp_path / "d", model="tiny", n_layers=2, n_heads=3)
    writer.add(*sequence(4))
    assert not (tmp_path / "d").exists()
    with pytest.raises(DumpError, match="no attention dump"):
        open_dump(tmp_path / "d")
    writer.close()
    assert len(open_dump(tmp_path / "d")) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_overwrite_and_refusal(tmp_path):
    write_dump(tmp_path / "d", [sequence(3)], model="a")
    with pytest.raises(DumpError, match="already exists"):
        write_dump(tmp_path / "d", [sequence(3)], model="b")
    write_dump(tmp_path / "d", [sequence(4), sequence(2)], model="b", overwrite=True)
    assert len(open_dump(tmp_path / "d")) == 2


def test_writer_rejects_bad_shapes_and_empty_dumps(tmp_path):
    tokens, attention = sequence(4)
    with DumpWriter(tmp_path / "d", model="m", n_layers=2, n_heads=3) as writer:
        with pytest.raises(DumpError, match="shape"):
            writer.add(tokens, attention[:, :, :3, :3])
        writer.add(tokens, attention)
    with pytest.raises(DumpError, match="empty"):
        write_dump(tmp_path / "e", [], model="m")
    with pytest.raises(DumpError, match="float16 or float32"):
        DumpWriter(tmp_path / "f", model="m", n_layers=1, n_heads=1, dtype="int8")


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: (p / "meta.json").unlink(), "no meta.json"),
        (lambda p: (p / "meta.json").write_text("{not json"), "not valid JSON"),
        (lambda p: (p / "attention.bin").write_bytes(b"\0" * 10), "expected"),
        (lambda p: (p / "tokens.npy").unlink(), "missing tokens.npy"),
        (lambda p: np.save(p / "offsets.npy", np.array([0, 3, 2, 9])), "offsets"),
        (lambda p: np.save(p / "features" / "pos.npy", np.zeros(2)), "features/pos.npy"),
        (lambda p: (p / "meta.json").write_text(json.dumps({"format": "other"})), "not a"),
    ],
)
def test_corrupt_dumps_are_clear_errors(tmp_path, damage, message):
    path = write_dump(tmp_path / "d", [sequence(5), sequence(4)], model="m")
    damage(path)
    with pytest.raises(DumpError, match=message):
        open_dump(path)


def test_missing_and_non_directory_paths(tmp_path):
    with pytest.raises(DumpError, match="no attention dump"):
        open_dump(tmp_path / "nothing")
    (tmp_path / "file").write_text("x")
    with pytest.raises(DumpError, match="directories"):
        open_dump(tmp_path / "file")


def test_numpy_only_recipe_from_the_docs(tmp_path):
    """The writer recipe of docs/formats.md, kept in sync by hand: it must produce a valid dump."""
    import os

    seqs = [sequence(6, layers=1, heads=2), sequence(3, layers=1, heads=2)]
    out = tmp_path / "recipe"
    os.makedirs(out / "features")
    lengths = [len(t) for t, _ in seqs]
    with open(out / "attention.bin", "wb") as f:
        for _, a in seqs:
            n = a.shape[-1]
            rows, cols = np.tril_indices(n)
            f.write(a.reshape(-1, n, n)[:, rows, cols].astype("<f2").tobytes())
    with open(out / "texts.jsonl", "w", encoding="utf-8") as f:
        for t, _ in seqs:
            f.write(json.dumps(t.texts) + "\n")
    np.save(out / "offsets.npy", np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))
    np.save(out / "tokens.npy", np.concatenate([t.ids for t, _ in seqs]).astype(np.int64))
    np.save(out / "special.npy", np.concatenate([t.special for t, _ in seqs]).astype(bool))
    meta = {
        "format": "headcode-attention-dump",
        "version": 1,
        "model": "gpt2",
        "n_layers": 1,
        "n_heads": 2,
        "dtype": "float16",
        "n_sequences": len(seqs),
        "n_tokens": int(sum(lengths)),
        "features": [],
        "extra": {},
    }
    (out / "meta.json").write_text(json.dumps(meta))
    dump = open_dump(out)
    np.testing.assert_allclose(dump.attention(0), seqs[0][1], atol=1e-3)
    assert dump.features(1)["text"].tolist() == seqs[1][0].texts
    expected = features(seqs[1][0].texts, seqs[1][0].ids, seqs[1][0].special)
    assert np.array_equal(dump.features(1)["word"], expected["word"])  # computed, not stored

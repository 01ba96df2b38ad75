"""Corpora: paragraphs of text files, JSONL fields, first-N and seeded samples, clear errors."""

import json

import pytest

from headcode.models.corpus import CorpusError, load_corpus, read_dataset, split_paragraphs


def test_paragraphs_are_blank_line_separated():
    text = "one\ntwo lines\n\n\n  \nthree\r\n\r\nfour  \n"
    assert split_paragraphs(text) == ["one\ntwo lines", "three", "four"]


def test_first_n_and_seeded_sample(tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("\n\n".join(f"paragraph {i}" for i in range(20)))
    assert load_corpus(path, n=3) == ["paragraph 0", "paragraph 1", "paragraph 2"]
    assert len(load_corpus(path)) == 20 and len(load_corpus(path, n=50)) == 20
    a = load_corpus(path, n=5, shuffle=True, seed=1)
    assert a == load_corpus(path, n=5, shuffle=True, seed=1)
    assert a != load_corpus(path, n=5, shuffle=True, seed=2)
    assert len(set(a)) == 5 and set(a) <= set(load_corpus(path))


def test_jsonl_field(tmp_path):
    path = tmp_path / "c.jsonl"
    rows = [{"text": "a b", "body": "x"}, {"text": "  ", "body": "y"}, {"text": "c", "body": "z"}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    assert load_corpus(path) == ["a b", "c"]
    assert load_corpus(path, text_field="body") == ["x", "y", "z"]
    with pytest.raises(CorpusError, match="c.jsonl:1: no field 'title'"):
        load_corpus(path, text_field="title")
    path.write_text('{"text": "ok"}\nnot json\n')
    with pytest.raises(CorpusError, match=":2: not JSON"):
        load_corpus(path)


def test_errors(tmp_path):
    (tmp_path / "empty.txt").write_text("\n \n\n")
    with pytest.raises(CorpusError, match="empty"):
        load_corpus(tmp_path / "empty.txt")
    with pytest.raises(CorpusError, match="no such file"):
        load_corpus(tmp_path / "missing.txt")
    with pytest.raises(CorpusError, match="directory"):
        load_corpus(tmp_path)
    with pytest.raises(CorpusError, match="at least 1"):
        load_corpus(tmp_path / "empty.txt", n=0)
    (tmp_path / "bin.txt").write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CorpusError, match="UTF-8"):
        load_corpus(tmp_path / "bin.txt")


def test_dataset_names_need_the_datasets_package(tmp_path):
    """Without `datasets`: a clear error. With it (CI installs it through the lm-eval extra):
    a local dataset folder read through `datasets.load_dataset`, as a hub dataset would be."""
    try:
        import datasets  # noqa: F401
    except ImportError:
        with pytest.raises(CorpusError, match="datasets"):
            load_corpus("some-user/some-dataset")
        return
    folder = tmp_path / "stories"
    folder.mkdir()
    (folder / "train.jsonl").write_text(
        '{"text": "One day, Tom ran."}\n{"text": " "}\n{"text": "The end."}\n')
    assert read_dataset(str(folder)) == ["One day, Tom ran.", "The end."]
    with pytest.raises(CorpusError, match="no field 'story'"):
        read_dataset(str(folder), text_field="story")
    with pytest.raises(CorpusError, match="cannot load dataset"):
        read_dataset(str(tmp_path / "missing"))



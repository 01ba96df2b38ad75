"""GGUF files without ../shared: the magic-byte check, the missing extra, `convert`'s overwrite
rules and the CLI's one-line errors (tests/test_gguf_smollm2.py loads a real file)."""

import json
import sys

import pytest
from conftest import run_cli as run

from headcode.dsl.errors import TokenizerError
from headcode.models import gguf
from headcode.models.errors import ModelError
from headcode.models.loading import load_model
from headcode.models.tiny import tiny_model
from headcode.models.tokenizer import load_tokenizer

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def fake_gguf(tmp_path):
    """A file with GGUF's magic bytes and version, then garbage: passes the magic check only."""
    path = tmp_path / "model.gguf"
    path.write_bytes(b"GGUF\x03\x00\x00\x00" + b"not a real header")
    return path


@pytest.fixture
def not_gguf(tmp_path):
    path = tmp_path / "weights.GGUF"
    path.write_bytes(b"PK\x03\x04 a zip file named .GGUF")
    return path


def test_gguf_files_are_recognised_by_suffix_and_not_directories(tmp_path):
    (tmp_path / "dir.gguf").mkdir()
    assert gguf.is_gguf("a/b/Model.Q4_1.gguf") and gguf.is_gguf("X.GGUF")
    assert not gguf.is_gguf(tmp_path / "dir.gguf")
    assert not gguf.is_gguf("gpt2") and not gguf.is_gguf("model.gguf.json")


def test_a_file_without_the_magic_bytes_is_a_one_line_error(not_gguf, tmp_path):
    for load, error in ((load_model, ModelError), (load_tokenizer, TokenizerError)):
        with pytest.raises(error, match="is not a GGUF file") as caught:
            load(str(not_gguf))
        assert "\n" not in str(caught.value)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(ModelError, match="is not a GGUF file"):
        load_model(empty, device="cpu")
    with pytest.raises(ModelError, match="no such file"):
        load_model(tmp_path / "missing.gguf", device="cpu")
    with pytest.raises(ModelError, match="no such file"):
        load_model("missing.gguf", device="cpu")  # a bare name is no hub id


def test_a_corrupt_gguf_file_is_a_one_line_error(fake_gguf):
    with pytest.raises(ModelError, match=r"cannot load causal LM .*\(GGUF file\)") as caught:
        load_model(fake_gguf, device="cpu")
    assert "\n" not in str(caught.value)
    with pytest.raises(TokenizerError, match="cannot read the tokenizer of") as caught:
        load_tokenizer(str(fake_gguf))
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("missing", [["gguf"], ["accelerate"], ["gguf", "accelerate"]])
def test_a_missing_extra_is_named_in_one_line(fake_gguf, monkeypatch, missing):
    for name in missing:
        monkeypatch.setitem(sys.modules, name, None)  # `import name` raises ImportError
    expected = " and ".join(missing)
    for load, error in ((load_model, ModelError), (load_tokenizer, TokenizerError)):
        with pytest.raises(error) as caught:
            load(str(fake_gguf))
        message = str(caught.value)
        assert f"needs the {expected} package" in message
        assert message.endswith("pip install 'headcode[gguf]'") and "\n" not in message


def test_the_model_is_asked_for_dequantised_weights(fake_gguf):
    arguments = gguf.model_arguments(fake_gguf)
    assert arguments["pretrained_model_name_or_path"] == str(fake_gguf.parent)
    assert arguments["gguf_file"] == "model.gguf" and arguments["local_files_only"]
    config = arguments.get("quantization_config")
    assert config is None or config.dequantize  # None: a transformers that always dequantises


class _Tokenizer:
    """Stands in for the GGUF file's tokenizer: writes one file."""

    def save_pretrained(self, directory):
        (directory / "tokenizer.json").write_text("{}")


@pytest.fixture
def stand_in_loaders(monkeypatch):
    """`convert` reads a fake GGUF file as a tiny Llama and a stand-in tokenizer."""
    import headcode.models.loading
    import headcode.models.tokenizer

    monkeypatch.setattr(headcode.models.loading, "load_model",
                        lambda *a, **k: tiny_model("llama", attn_implementation="eager"))
    monkeypatch.setattr(headcode.models.tokenizer, "load_tokenizer", lambda name: _Tokenizer())


def _listing(path):
    return sorted(p.name for p in path.iterdir())


def test_convert_replaces_only_its_own_output(fake_gguf, tmp_path, stand_in_loaders):
    out = tmp_path / "hf"
    said = []
    assert gguf.convert(fake_gguf, out, say=said.append) == out
    assert _listing(out) == ["config.json", "generation_config.json", gguf.MARKER,
                             "model.safetensors", "tokenizer.json"]
    assert json.loads((out / gguf.MARKER).read_text())["source"] == str(fake_gguf)
    assert said[0].startswith("reading") and said[-1].startswith("converted in")
    with pytest.raises(ModelError, match="already exists"):
        gguf.convert(fake_gguf, out)
    (out / "config.json").write_text("{}")
    gguf.convert(fake_gguf, out, overwrite=True)  # an earlier conversion is replaced
    assert json.loads((out / "config.json").read_text())["model_type"] == "llama"
    assert _listing(tmp_path) == ["hf", "model.gguf"]  # no partial or old directory left

    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    for overwrite in (False, True):
        with pytest.raises(ModelError, match="mine") as caught:
            gguf.convert(fake_gguf, mine, overwrite=overwrite)
        assert "\n" not in str(caught.value)
    assert _listing(mine) == ["notes.txt"]
    a_file = tmp_path / "a-file"
    a_file.write_text("x")
    with pytest.raises(ModelError, match="not a headcode conversion"):
        gguf.convert(fake_gguf, a_file, overwrite=True)
    with pytest.raises(ModelError, match="does not exist"):
        gguf.convert(fake_gguf, tmp_path / "no" / "such" / "parent")


def test_convert_cli_errors_are_one_line(monkeypatch, capsys, tmp_path, not_gguf, fake_gguf):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    cases = [
        ([not_gguf, tmp_path / "out"], "is not a GGUF file"),
        ([tmp_path / "missing.gguf", tmp_path / "out"], "no such file"),
        ([mine, tmp_path / "out"], "convert reads a .gguf model file"),
        ([fake_gguf, mine], "already exists"),
        ([fake_gguf, mine, "--overwrite"], "is not a headcode conversion"),
        ([fake_gguf, tmp_path / "out"], "cannot load causal LM"),
    ]
    for args, message in cases:
        code, out, err = run(monkeypatch, capsys, "convert", *args)
        assert code == 2 and out == "", args
        last = err.splitlines()[-1]  # after the status line once the file is being read
        assert last.startswith("error: ") and message in last, err
        assert sum(line.startswith("error") for line in err.splitlines()) == 1
    assert _listing(mine) == ["notes.txt"] and not (tmp_path / "out").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_model_options_reject_a_file_that_is_not_gguf(monkeypatch, capsys, tmp_path, not_gguf):
    text = tmp_path / "t.txt"
    text.write_text("One paragraph.\n\nAnother one.\n")
    commands = [
        ["extract", "--text", text, "--out", tmp_path / "d"],
        ["perplexity", "--text", text],
        ["qa"],
    ]
    for command in commands:
        code, _, err = run(monkeypatch, capsys, *command, "--model", not_gguf, "--device", "cpu")
        assert code == 2 and "is not a GGUF file" in err and err.count("\n") == 1, command
    code, _, err = run(monkeypatch, capsys, "apply", "first", "--text", "Hi.",
                       "--tokenizer", not_gguf)
    assert code == 2 and "is not a GGUF file" in err and err.count("\n") == 1


def _small_gguf(path, name: str):
    """A real (tiny) GGUF file: one string field and one tensor."""
    import numpy as np
    writer_module = pytest.importorskip("gguf")
    writer = writer_module.GGUFWriter(str(path), "llama")
    writer.add_string("general.name", name)
    writer.add_tensor("token_embd.weight", np.zeros((2, 3), dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def _name(reader) -> str:
    field = reader.fields["general.name"]
    return bytes(field.parts[field.data[0]]).decode()


def test_read_once_shares_a_files_reader_until_the_file_changes(tmp_path):
    package = pytest.importorskip("gguf")
    path = _small_gguf(tmp_path / "a.gguf", "first")
    with gguf.read_once():
        reader = package.GGUFReader(path)
        assert package.GGUFReader(str(path)) is reader
        assert _name(reader) == "first"
        arch = package.MODEL_ARCH.LLAMA
        assert package.get_tensor_name_map(arch, 2) is package.get_tensor_name_map(arch, 2)
    with gguf.read_once():  # kept between loads: the model's, then its tokenizer's
        assert package.GGUFReader(path) is reader
    _small_gguf(path, "second, longer")  # a changed file is read anew
    with gguf.read_once():
        assert _name(package.GGUFReader(path)) == "second, longer"
    assert isinstance(package.GGUFReader(path), package.GGUFReader)  # restored: a class again
    assert package.get_tensor_name_map(arch, 2) is not package.get_tensor_name_map(arch, 2)

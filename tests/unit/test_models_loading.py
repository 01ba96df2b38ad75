"""Loading causal LMs from local directories; shapes; devices and dtypes; clear errors."""

import pytest
import torch

from headcode.errors import HeadcodeError
from headcode.models.attention import NAME
from headcode.models.errors import ModelError
from headcode.models.loading import (
    attention_modules,
    load_model,
    model_shape,
    resolve_device,
    resolve_dtype,
)
from headcode.models.tiny import FAMILIES, save_tiny_model

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_loads_from_a_local_directory(tmp_path, family):
    path = save_tiny_model(family, tmp_path / family)
    model = load_model(path, device="cpu")
    assert model.config._attn_implementation == NAME
    assert not model.training
    shape = model_shape(model)
    assert (shape.n_layers, shape.n_heads, shape.head_dim) == (2, 4, 8)
    assert shape.kv_groups == (2 if family in ("llama", "qwen2") else 1)
    assert sorted(attention_modules(model)) == [0, 1]
    assert len(shape.heads) == 8
    eager = load_model(path, device="cpu", attn_implementation="eager")
    ids = torch.tensor([[1, 5, 7, 9]])
    with torch.no_grad():
        assert torch.equal(model(ids).logits, eager(ids).logits)


def test_dtype_parameter(tmp_path):
    path = save_tiny_model("llama", tmp_path / "m")
    assert (
        next(load_model(path, device="cpu", dtype="bfloat16").parameters()).dtype == torch.bfloat16
    )
    assert next(load_model(path, device="cpu", dtype="auto").parameters()).dtype == torch.float32
    with pytest.raises(ModelError, match="unknown dtype"):
        load_model(path, device="cpu", dtype="float8")


def test_device_resolution():
    assert resolve_device("cpu") == torch.device("cpu")
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    with pytest.raises(ModelError, match="unknown device"):
        resolve_device("tpu-ish")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="not available"):
            resolve_device("cuda:0")
    assert resolve_dtype("auto") == "auto" and resolve_dtype("float16") == torch.float16


def test_missing_and_unsupported_models_are_one_line_errors(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.bin").write_text("x")
    from transformers import ViTConfig

    ViTConfig(hidden_size=8, num_hidden_layers=1, num_attention_heads=2).save_pretrained(
        tmp_path / "vit"
    )
    cases = {
        str(tmp_path / "empty"): "no config.json",
        str(tmp_path / "file.bin"): "not a directory",
        "nobody-here/no-such-model": "cannot load",
        str(tmp_path / "vit"): "cannot load",
    }
    for name, message in cases.items():
        with pytest.raises(HeadcodeError, match=message) as caught:
            load_model(name, device="cpu")
        assert isinstance(caught.value, ModelError)
        assert "\n" not in str(caught.value)

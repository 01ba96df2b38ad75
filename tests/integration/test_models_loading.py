"""Loading causal LMs from local directories; shapes; devices and dtypes; clear errors."""

import pytest
from conftest import STORIES

from headcode.models.loading import (
    load_model,
    model_shape,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_stories260k_shape():
    if not STORIES.is_dir():
        pytest.skip(f"stories260K not found at {STORIES} (../shared is absent)")
    shape = model_shape(load_model(STORIES, device="cpu"))
    assert (shape.n_layers, shape.n_heads, shape.n_kv_heads, shape.kv_groups) == (5, 8, 4, 2)



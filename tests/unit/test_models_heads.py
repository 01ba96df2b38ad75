import pytest

from headcode.models.errors import ModelError
from headcode.models.heads import parse_heads, read_heads


def test_parse_heads():
    assert parse_heads(None, 2, 2) == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert parse_heads("1.1, 0.0,1.1", 2, 2) == [(1, 1), (0, 0)]
    for bad, message in (("2.0", "out of range"), ("0.x", "LAYER.HEAD"), ("1", "LAYER.HEAD")):
        with pytest.raises(ModelError, match=message):
            parse_heads(bad, 2, 2)


def test_read_heads_checks_the_syntax_only():
    assert read_heads("7.9,0.1") == [(7, 9), (0, 1)]
    with pytest.raises(ModelError, match="LAYER.HEAD"):
        read_heads("all")

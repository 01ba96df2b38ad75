"""The integration tier: every test here runs on real models or texts from ../shared and is
marked `integration` (`pytest -m "not integration"` leaves them out)."""

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(item.fspath).resolve().parents:
            item.add_marker(pytest.mark.integration)

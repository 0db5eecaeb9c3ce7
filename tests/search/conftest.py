"""Fixtures for the search tests (helpers in search_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_helpers import make_gallery, make_model, write_checkpoint


@pytest.fixture(scope="session")
def tiny_model():
    return make_model(0)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, tiny_model) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt", tiny_model)


@pytest.fixture()
def gallery(tmp_path) -> Path:
    return make_gallery(tmp_path / "gallery")

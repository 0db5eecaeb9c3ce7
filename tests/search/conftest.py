"""Fixtures for the search tests (helpers in search_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from search_helpers import make_gallery, make_model, write_checkpoint
from serve_helpers import build


@pytest.fixture(scope="session")
def tiny_model():
    return make_model(0)


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory, tiny_model) -> Path:
    return write_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt", tiny_model)


@pytest.fixture(scope="session")
def built(tmp_path_factory, checkpoint) -> tuple[Path, Path]:
    """(gallery, index) built once with ``checkpoint`` and z = 0 (for the ogfr serve tests; do not modify)."""
    base = tmp_path_factory.mktemp("served")
    gallery = make_gallery(base / "gallery")
    return gallery, build(checkpoint, gallery, base / "idx")


@pytest.fixture()
def gallery(tmp_path) -> Path:
    return make_gallery(tmp_path / "gallery")

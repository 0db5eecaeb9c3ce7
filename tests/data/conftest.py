"""Helpers for the data tests: tiny image trees in each real layout."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def write_image(path: Path, size: tuple[int, int] = (16, 8), value: int = 128) -> Path:
    """A tiny (h, w) RGB image of one grey value; the format follows the suffix."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), value, dtype=np.uint8)).save(path)
    return path


def write_tree(root: Path, files: Iterable[str]) -> Path:
    """Write one tiny image per relative path (``.txt`` and ``.db`` files get text instead)."""
    for rel in files:
        path = root / rel
        if path.suffix in {".txt", ".db"}:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("not an image")
        else:
            write_image(path)
    return root


@pytest.fixture
def image_writer():
    return write_image


@pytest.fixture
def tree_writer():
    return write_tree

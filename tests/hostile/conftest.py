"""Fixtures of the hostile-input tests (helpers in hostile_files.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hostile_files import write_tiny_checkpoint


@pytest.fixture()
def data(synth_root: Path, tmp_path: Path) -> Path:
    """A private copy of the tiny synthetic set (tests may plant hostile files in it), without label caches."""
    return Path(shutil.copytree(synth_root, tmp_path / "synth", ignore=shutil.ignore_patterns("ogfr_labels")))


@pytest.fixture(scope="session")
def ckpt(synth_root: Path, tmp_path_factory) -> Path:
    """An untrained tiny OGFR checkpoint that fits the tiny synthetic set (3 cameras)."""
    return write_tiny_checkpoint(tmp_path_factory.mktemp("hostile") / "best.pt", synth_root)

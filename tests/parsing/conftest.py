"""Fixtures for the parsing tests: a hand-made Market-layout folder with ground-truth label maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def person_map(h: int = 128, w: int = 64, legs: bool = True) -> np.ndarray:
    """A blocky person at image size: head, arms, torso, legs, feet (part ids of ogfr.parts)."""
    m = np.zeros((h, w), dtype=np.uint8)
    m[4:24, 24:40] = 1  # head
    m[26:70, 12:20] = 2  # left arm
    m[26:70, 44:52] = 3  # right arm
    m[26:70, 20:44] = 4  # torso
    if legs:
        m[70:116, 20:31] = 5  # left leg
        m[70:116, 33:44] = 6  # right leg
        m[116:124, 18:31] = 7  # left foot
        m[116:124, 33:46] = 8  # right foot
    return m


def write_market(root: Path, n_per_split: int = 3) -> list[Path]:
    """Market-1501 layout with ``labels/<split folder>/<stem>.png``; returns the image paths."""
    rng = np.random.default_rng(0)
    paths = []
    for folder in ("bounding_box_train", "query", "bounding_box_test"):
        (root / folder).mkdir(parents=True)
        (root / "labels" / folder).mkdir(parents=True)
        for i in range(n_per_split):
            stem = f"{i + 1:04d}_c{i % 2 + 1}s1_{i:06d}_00"
            img = rng.integers(0, 255, (128, 64, 3), dtype=np.uint8)
            Image.fromarray(img).save(root / folder / f"{stem}.jpg")
            Image.fromarray(person_map(legs=i != 1)).save(root / "labels" / folder / f"{stem}.png")
            paths.append(root / folder / f"{stem}.jpg")
    return paths


@pytest.fixture()
def market(tmp_path: Path) -> tuple[Path, list[Path]]:
    root = tmp_path / "mini"
    return root, write_market(root)

"""Shared test fixtures. Tests run on CPU, offline, with tiny configurations."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

REAL_PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real_pedestrians"


@pytest.fixture(scope="session", autouse=True)
def _few_threads():
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield


@pytest.fixture(scope="session")
def synth_root(tmp_path_factory) -> Path:
    """A tiny synthetic occluded benchmark (Market-1501 layout + ground-truth part labels), made once."""
    from ogfr.data.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("synth") / "tiny"
    generate(out, SynthConfig.tiny(seed=0))
    return out


@pytest.fixture(scope="session")
def real_photos() -> Path:
    """The folder of real pedestrian photos shipped beside the checkout (../shared/data/real_pedestrians)."""
    if not REAL_PHOTOS.is_dir():
        pytest.skip(f"real pedestrian photos not found at {REAL_PHOTOS}")
    return REAL_PHOTOS

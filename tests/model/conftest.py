"""Helpers for the model tests: tiny configurations and random training batches."""

from __future__ import annotations

import pytest
import torch

from ogfr.engine.config import preset_model
from ogfr.model import OGFR, OGFRConfig


def make_batch(cfg: OGFRConfig, b: int = 8, num_cameras: int = 2, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random training batch of `b` images (b/2 identities x 2) in the layout of `OGFR.forward_train`."""
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.image_size
    lh, lw = cfg.label_size
    return {
        "img_h": torch.randn(b, 3, h, w, generator=g),
        "img_o": torch.randn(b, 3, h, w, generator=g),
        "z_h": torch.zeros(b, cfg.num_coarse, dtype=torch.long),
        "z_o": torch.randint(0, 2, (b, cfg.num_coarse), generator=g),
        "camid": torch.randint(0, num_cameras, (b,), generator=g),
        "pid": torch.arange(b) // 2,
        "labels_h": torch.randint(-1, cfg.num_parts + 1, (b, lh, lw), generator=g),
        "labels_o": torch.randint(0, cfg.num_parts + 1, (b, lh, lw), generator=g),
    }


@pytest.fixture
def tiny_cfg() -> OGFRConfig:
    return preset_model("tiny")


@pytest.fixture
def tiny_model(tiny_cfg: OGFRConfig) -> OGFR:
    torch.manual_seed(0)
    return OGFR(tiny_cfg, num_classes=4, num_cameras=2)

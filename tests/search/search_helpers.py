"""Helpers for the search tests: a tiny random-init OGFR, its checkpoint, a small gallery folder, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from image_files import bomb_png

NUM_CAMERAS = 3


def make_model(seed: int = 0):
    from ogfr.engine.config import preset_model
    from ogfr.model import OGFR

    torch.manual_seed(seed)
    return OGFR(preset_model("tiny"), num_classes=5, num_cameras=NUM_CAMERAS).eval()


def write_checkpoint(path: Path, model) -> Path:
    from ogfr.engine.checkpoint import save_checkpoint
    from ogfr.engine.config import Config, to_dict

    cfg = Config(model=model.cfg)
    meta = {"num_classes": model.num_classes, "num_cameras": model.num_cameras}
    return save_checkpoint(path, {"model": model.state_dict(), "config": to_dict(cfg), "meta": meta})


def person(pid: int, cam: int, size: tuple[int, int] = (64, 32)) -> Image.Image:
    """A small synthetic crop whose colours depend on the identity (and a little on the camera)."""
    rng = np.random.default_rng(pid * 100 + cam)
    base = np.random.default_rng(pid).integers(0, 255, size=3)
    arr = np.clip(base + rng.normal(0, 20, size=(*size, 3)), 0, 255).astype(np.uint8)
    return Image.fromarray(arr)


def make_gallery(root: Path) -> Path:
    """4 ids x 3 cameras of Market-named crops (some in a subfolder), plus bad files and an escaping link."""
    root.mkdir(parents=True)
    (root / "sub").mkdir()
    for pid in (1, 2, 3, 4):
        for cam in (1, 2, 3):
            folder = root / "sub" if pid == 4 else root
            person(pid, cam).save(folder / f"{pid:04d}_c{cam}s1_000100_00.jpg", quality=95)
    person(9, 1).save(root / "holiday photo.png")  # a non-Market name: id and camera unknown
    (root / "notes.txt").write_text("not an image")
    (root / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage, not a JPEG")
    bomb_png(root / "bomb.png")
    outside = root.parent / f"{root.name}_secret.jpg"
    person(7, 1).save(outside)
    (root / "link.jpg").symlink_to(outside)
    return root

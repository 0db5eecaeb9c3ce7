"""What every figure shares: its inputs as PIL images (`to_pil`) and the one way to write it (`save_figure`)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ogfr.images import read_image
from ogfr.io import atomic_path

__all__ = ["save_figure", "to_pil"]


def to_pil(image: Image.Image | np.ndarray | str | Path) -> Image.Image:
    """An RGB PIL image from a PIL image, a file path, or an (H, W, 3) / (H, W) array (uint8, or float in [0, 1])."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, str | Path):
        return read_image(image)
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = (np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[0] == 3 and arr.shape[2] != 3:
        arr = arr.transpose(1, 2, 0)  # (3, H, W) -> (H, W, 3)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
        raise ValueError(f"image array must be (H, W, 3) or (H, W), got shape {arr.shape}")
    return Image.fromarray(arr).convert("RGB")


def save_figure(
    figure: Any, out_path: str | os.PathLike, *, dpi: float | None = None, tight: bool = False
) -> Path:
    """Write a matplotlib ``Figure`` (at ``dpi``, default its own; ``tight``: cropped to its content) or a
    PIL image as an RGB PNG, atomically (temp file + ``os.replace``; the parent folder is created)."""
    if isinstance(figure, Image.Image):
        image = figure.convert("RGB")
    else:
        buf = io.BytesIO()
        figure.savefig(buf, format="png", dpi=dpi or figure.dpi, bbox_inches="tight" if tight else None)
        buf.seek(0)
        image = Image.open(buf).convert("RGB")
    out = Path(out_path)
    with atomic_path(out) as tmp:
        image.save(tmp, format="PNG")
    return out

"""The one image reader. Every image ogfr opens (data set images, part-label PNGs, obstacle patches, search
queries and galleries, figure inputs, uploads) goes through `read_image`, which refuses what cannot be used
before its pixels are decoded.

Refused, as `UnreadableImage` (a ``ValueError`` naming the file and the reason): a missing file or a folder,
a file Pillow cannot identify or decode (truncated, corrupt, not an image), an image declaring more than
``max_pixels`` pixels (decompression bombs: a few KB of PNG can declare 20000 x 20000 pixels), and an image
with a side below ``min_side``. Callers decide what an unreadable image means: skipped with its reason in
``ogfr parse``, substituted and counted in training, an error naming the file in evaluation and search.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

__all__ = ["MAX_PIXELS", "ImageSource", "UnreadableImage", "read_image", "read_rgb"]

MAX_PIXELS = 25_000_000  # 25 megapixels: far above any person crop or camera frame, 1/10 of a 20k x 20k bomb

ImageSource = str | os.PathLike | bytes


class UnreadableImage(ValueError):
    """An image that cannot be used: ``path`` names it, ``reason`` says why."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def _describe(source: ImageSource, name: str | None) -> str:
    if name is not None:
        return name
    return "<uploaded bytes>" if isinstance(source, bytes) else str(source)


def read_image(
    source: ImageSource,
    *,
    mode: str | None = "RGB",
    max_pixels: int = MAX_PIXELS,
    min_side: int = 1,
    name: str | None = None,
) -> Image.Image:
    """Open ``source`` (a path, or the bytes of an upload) fully decoded.

    ``mode``: convert to this Pillow mode (``"RGB"`` by default, with the EXIF orientation applied, as a
    camera's viewer shows the photo); ``None`` keeps the stored mode and pixels (part-label PNGs, whose
    values are part ids). ``name`` names a bytes source in messages. Raises `UnreadableImage`.
    """
    where = _describe(source, name)
    if not isinstance(source, bytes):
        path = Path(source)
        if not path.exists():
            raise UnreadableImage(where, "file not found")
        if not path.is_file():
            raise UnreadableImage(where, "not a file")
    stream = io.BytesIO(source) if isinstance(source, bytes) else source
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(stream) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise UnreadableImage(
                        where,
                        f"{w}x{h} pixels exceeds the limit of {max_pixels} pixels (decompression bomb?)",
                    )
                if min(w, h) < min_side:
                    raise UnreadableImage(
                        where, f"image is {h}x{w} pixels, below the {min_side}-pixel minimum side"
                    )
                im.load()
                if mode is None:
                    return im.copy()
                if mode == "RGB":
                    im = ImageOps.exif_transpose(im)
                return im.convert(mode)
    except UnreadableImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:  # Pillow's check came first
        found = re.search(r"\((\d+) pixels\)", str(err))
        size = f"{found.group(1)} pixels" if found else "the image"
        raise UnreadableImage(
            where, f"{size} exceeds the limit of {max_pixels} pixels (decompression bomb?)"
        ) from None
    except Exception as err:  # noqa: BLE001 - Pillow raises many kinds for hostile files; all mean unreadable
        if "cannot identify" in str(err):  # Pillow's text only repeats the file (or a BytesIO repr)
            raise UnreadableImage(where, "not an image Pillow can read") from None
        raise UnreadableImage(where, f"unreadable image ({err.__class__.__name__}: {err})") from None


def read_rgb(source: ImageSource, **kwargs) -> np.ndarray:
    """`read_image` as an (H, W, 3) uint8 RGB array (same keyword arguments, ``mode`` excepted)."""
    return np.asarray(read_image(source, mode="RGB", **kwargs))

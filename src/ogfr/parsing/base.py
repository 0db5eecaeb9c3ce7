"""What every parsing backend shares: the result record and image reading.

A backend turns images into part-label maps (values 0..K, ``ogfr.parts.PART_NAMES``) at a fixed label
resolution. ``parse(paths)`` never raises for one bad image: it returns a ``ParseResult`` whose
``status`` says what happened (``ok``, ``no_person``, ``unreadable``) and whose labels are then all
background (every coarse part occluded).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

from ogfr.images import UnreadableImage, read_rgb

log = logging.getLogger(__name__)

Status = Literal["ok", "no_person", "unreadable"]
MIN_SIDE = 8  # images narrower or shorter than this (pixels) are reported unreadable


@dataclass(frozen=True)
class ParseResult:
    """One image's outcome: ``labels`` (h, w) uint8 at the label size, a status and a reason when not ok."""

    labels: np.ndarray
    status: Status = "ok"
    reason: str = ""


class Backend(Protocol):
    """Image paths -> part-label maps at ``label_size`` (h, w)."""

    name: str
    label_size: tuple[int, int]

    def parse(self, paths: Sequence[Path]) -> list[ParseResult]: ...

    def config(self) -> dict: ...


def parse_label_size(text: str | Sequence[int]) -> tuple[int, int]:
    """``"64x32"`` or ``(64, 32)`` -> ``(h, w)``, both positive."""
    if isinstance(text, str):
        parts = text.lower().replace(",", "x").split("x")
        try:
            size = tuple(int(p) for p in parts)
        except ValueError:
            raise ValueError(f"label size must look like 64x32 (height x width), got {text!r}") from None
    else:
        size = tuple(int(p) for p in text)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"label size must be two positive integers (height x width), got {text!r}")
    return size[0], size[1]


def empty_labels(label_size: tuple[int, int]) -> np.ndarray:
    """All-background map (every coarse part occluded)."""
    return np.zeros(label_size, dtype=np.uint8)


def failed(label_size: tuple[int, int], status: Status, reason: str) -> ParseResult:
    return ParseResult(empty_labels(label_size), status, reason)


def read_images(paths: Sequence[Path]) -> list[np.ndarray | str]:
    """Each image as (H, W, 3) uint8 RGB (`ogfr.images.read_rgb`), or the reason it cannot be used.

    Images with a side below ``MIN_SIDE`` pixels are refused (no body part can be located in them).
    """
    out: list[np.ndarray | str] = []
    for path in paths:
        try:
            out.append(read_rgb(path, min_side=MIN_SIDE))
        except UnreadableImage as err:
            out.append(str(err))
    return out


def parse_loaded(
    backend_parse: Callable[[list[np.ndarray]], list[ParseResult]],
    label_size: tuple[int, int],
    paths: Sequence[Path],
) -> list[ParseResult]:
    """Parse the readable images of ``paths`` with ``backend_parse``; the others become ``unreadable``."""
    loaded = read_images(paths)
    parsed = iter(backend_parse([x for x in loaded if not isinstance(x, str)]))
    return [failed(label_size, "unreadable", x) if isinstance(x, str) else next(parsed) for x in loaded]

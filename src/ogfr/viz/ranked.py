"""Ranked-list figure, like the paper's Figure 8: the query on the left, its top-k gallery images on the right.

Borders are green for a correct match and red for a wrong one when both identities are known, grey
otherwise; the query has a blue border. Drawn with Pillow so that the PNG's size is exact:
``ranked_figure_size`` says what it will be.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ogfr.viz.figure import save_figure, to_pil

GREEN, RED, GREY, BLUE, WHITE = (0, 170, 0), (220, 0, 0), (150, 150, 150), (30, 90, 220), (255, 255, 255)
HEADER = 14  # pixels of text above each row of tiles
MARGIN = 6
GAP = 4  # between gallery tiles
SEPARATOR = 16  # between the query and its gallery


@dataclass(frozen=True)
class RankedRow:
    """One query and its ranked gallery images (best first); ids -1 or None = unknown."""

    query: Image.Image | np.ndarray | str | Path
    gallery: Sequence[Image.Image | np.ndarray | str | Path]
    query_pid: int | None = None
    gallery_pids: Sequence[int] | None = None
    distances: Sequence[float] | None = None
    label: str = ""  # optional text above the query, e.g. "OGFR" or "baseline"

    def __post_init__(self) -> None:
        for name in ("gallery_pids", "distances"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.gallery):
                raise ValueError(
                    f"RankedRow.{name} has {len(value)} entries for {len(self.gallery)} gallery images"
                )


def ranked_figure_size(
    num_rows: int, top: int, tile: tuple[int, int] = (128, 64), border: int = 4
) -> tuple[int, int]:
    """(width, height) in pixels of ``ranked_list_figure`` for ``num_rows`` rows of ``top`` gallery images."""
    th, tw = tile[0] + 2 * border, tile[1] + 2 * border
    width = 2 * MARGIN + tw + SEPARATOR + top * tw + max(top - 1, 0) * GAP
    height = 2 * MARGIN + num_rows * (HEADER + th) + max(num_rows - 1, 0) * GAP
    return width, height


def _border_colour(query_pid: int | None, pid: int | None) -> tuple[int, int, int]:
    if query_pid is None or pid is None or query_pid < 0 or pid < 0:
        return GREY
    return GREEN if pid == query_pid else RED


def ranked_list_figure(
    rows: Sequence[RankedRow], out_path: str | Path, tile: tuple[int, int] = (128, 64), border: int = 4
) -> Path:
    """Write the ranked-list PNG for ``rows`` (tiles of ``tile`` = (H, W) pixels) and return its path."""
    if not rows:
        raise ValueError("ranked_list_figure: no rows given")
    top = max(len(r.gallery) for r in rows)
    width, height = ranked_figure_size(len(rows), top, tile, border)
    canvas = Image.new("RGB", (width, height), WHITE)
    draw = ImageDraw.Draw(canvas)
    th, tw = tile[0] + 2 * border, tile[1] + 2 * border

    def paste(img: Image.Image, x: int, y: int, colour: tuple[int, int, int]) -> None:
        draw.rectangle([x, y, x + tw - 1, y + th - 1], fill=colour)
        canvas.paste(img.resize((tile[1], tile[0]), Image.Resampling.BILINEAR), (x + border, y + border))

    y = MARGIN
    for row in rows:
        draw.text((MARGIN, y), row.label or "query", fill=(0, 0, 0))
        paste(to_pil(row.query), MARGIN, y + HEADER, BLUE)
        x = MARGIN + tw + SEPARATOR
        for k, g in enumerate(row.gallery):
            pid = None if row.gallery_pids is None else int(row.gallery_pids[k])
            text = f"{k + 1}" if row.distances is None else f"{k + 1}: {row.distances[k]:.3g}"
            draw.text((x, y), text, fill=(0, 0, 0))
            paste(to_pil(g), x, y + HEADER, _border_colour(row.query_pid, pid))
            x += tw + GAP
        y += HEADER + th + GAP
    return save_figure(canvas, out_path)

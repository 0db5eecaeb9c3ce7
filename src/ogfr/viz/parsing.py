"""Parsing figure: for each image, the image | its coloured part map | its occlusion bits z."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ogfr.parts import PART_COLORS, PART_NAMES
from ogfr.viz.figure import save_figure


def colorize(labels: np.ndarray) -> np.ndarray:
    """(h, w) part ids 0..K -> (h, w, 3) uint8 RGB with ``ogfr.parts.PART_COLORS``."""
    palette = np.asarray(PART_COLORS, dtype=np.uint8)
    labels = np.asarray(labels)
    if labels.ndim != 2 or labels.min(initial=0) < 0 or labels.max(initial=0) >= len(palette):
        raise ValueError(
            f"labels must be an (h, w) map of part ids 0..{len(palette) - 1}, got {labels.shape}"
        )
    return palette[labels.astype(np.int64)]


def parsing_figure(
    images: Sequence[np.ndarray],
    label_maps: Sequence[np.ndarray],
    codes: np.ndarray | Sequence[Sequence[int]],
    out_path: Path | str,
    coarse_names: Sequence[str],
    titles: Sequence[str] | None = None,
    per_row: int = 4,
) -> Path:
    """Write a PNG grid: per image, the RGB image, its part map (same size) and the z bits (1 = occluded).

    ``images`` (H, W, 3) uint8; ``label_maps`` (h, w) part ids; ``codes`` (N, C) 0/1. Returns the path.
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    codes = np.asarray(codes, dtype=np.int64)
    n = len(images)
    if n == 0 or len(label_maps) != n or codes.shape != (n, len(coarse_names)):
        raise ValueError(
            f"parsing_figure: need N images, N label maps and codes (N, C={len(coarse_names)}); got "
            f"{n} images, {len(label_maps)} maps, codes {codes.shape}"
        )
    if titles is not None and len(titles) != n:
        raise ValueError(f"parsing_figure: {len(titles)} titles for {n} images")
    per_row = max(1, min(per_row, n))
    rows = (n + per_row - 1) // per_row
    fig = Figure(figsize=(per_row * 3.3, rows * 2.5 + 0.5), dpi=110)
    grid = fig.add_gridspec(rows, per_row * 3, width_ratios=[1, 1, 0.9] * per_row, wspace=0.08, hspace=0.18)
    for i in range(n):
        r, c = divmod(i, per_row)
        img = np.asarray(images[i], dtype=np.uint8)
        part_rgb = Image.fromarray(colorize(label_maps[i])).resize(
            (img.shape[1], img.shape[0]), Image.NEAREST
        )
        ax_img, ax_map, ax_z = (fig.add_subplot(grid[r, 3 * c + j]) for j in range(3))
        ax_img.imshow(img)
        ax_map.imshow(np.asarray(part_rgb))
        if titles is not None:
            ax_img.set_title(str(titles[i]), fontsize=7, loc="left")
        for ax in (ax_img, ax_map):
            ax.set_xticks([])
            ax.set_yticks([])
        _draw_bits(ax_z, codes[i], coarse_names)
    handles = [
        Patch(color=np.asarray(PART_COLORS[k]) / 255, label=PART_NAMES[k]) for k in range(len(PART_NAMES))
    ]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=7, frameon=False)
    return save_figure(fig, out_path, tight=True)


def _draw_bits(ax, bits: np.ndarray, names: Sequence[str]) -> None:
    """One cell per coarse part, top to bottom: red '1 occluded' or green '0 visible'."""
    from matplotlib.patches import Rectangle

    c = len(names)
    for j, (bit, name) in enumerate(zip(bits, names, strict=True)):
        y = c - 1 - j
        ax.add_patch(Rectangle((0, y + 0.08), 1, 0.84, color="#d62728" if bit else "#2ca02c", alpha=0.85))
        ax.text(0.5, y + 0.5, f"{name}\nz={int(bit)}", ha="center", va="center", fontsize=7, color="white")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, c)
    ax.set_axis_off()

"""Visibility figure, like the paper's Figure 6(b): an image with its C coarse parts marked visible / occluded
(the occlusion code z it was given, eq. 2) and the student's K+1 part maps (the softmax of its semantic
correlation matrix), each titled with the part's visibility flag of eq. 24.

Drawn with matplotlib's object API (no pyplot, no global state); the PNG is ``width x height`` =
``(figure_width * dpi, rows * row_height * dpi)`` pixels, see ``visibility_figure_size``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ogfr.parts import COARSE_NAMES, PART_COLORS, PART_NAMES
from ogfr.viz.figure import save_figure, to_pil

FIG_WIDTH = 9.0  # inches
ROW_HEIGHT = 3.6  # inches per image


def visibility_figure_size(num_images: int, dpi: int = 100) -> tuple[int, int]:
    """(width, height) in pixels of ``visibility_figure`` for ``num_images`` images."""
    return round(FIG_WIDTH * dpi), round(num_images * ROW_HEIGHT * dpi)


def _as_array(x: object, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
    if arr.size == 0:
        raise ValueError(f"visibility_figure: {name} is empty")
    return arr


def visibility_figure(
    images: Sequence[object],
    codes: Sequence[Sequence[int]] | np.ndarray,
    part_maps: Sequence[np.ndarray] | np.ndarray,
    out_path: str | Path,
    visibility: Sequence[Sequence[bool]] | np.ndarray | None = None,
    coarse_names: Sequence[str] | None = None,
    dpi: int = 100,
) -> Path:
    """Write the visibility PNG for N images and return its path.

    ``codes`` (N, C): occlusion code z, 1 = occluded; ``part_maps`` (N, K+1, h, w): the student's part maps
    (index 0 = background); ``visibility`` (N, K) bool: eq. 24 flags (default: a part wins >= 1 pixel).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(images)
    z = _as_array(codes, "codes").astype(int).reshape(n, -1)
    maps = _as_array(part_maps, "part_maps").astype(np.float32)
    if maps.ndim != 4 or maps.shape[0] != n:
        raise ValueError(f"part_maps must be (N={n}, K+1, h, w), got shape {maps.shape}")
    k1 = maps.shape[1]
    winner = maps.argmax(axis=1)  # (N, h, w) pixel-wise argmax over the K+1 maps
    if visibility is None:
        vis = np.stack([[(winner[i] == p).any() for p in range(1, k1)] for i in range(n)])  # eq. 24
    else:
        vis = _as_array(visibility, "visibility").astype(bool).reshape(n, k1 - 1)
    c = z.shape[1]
    names = (
        list(coarse_names)
        if coarse_names is not None
        else list(COARSE_NAMES.get(c, [f"part{i}" for i in range(c)]))
    )
    if len(names) != c:
        raise ValueError(f"coarse_names has {len(names)} names for codes with C={c}")
    part_labels = PART_NAMES if k1 == len(PART_NAMES) else tuple(f"p{i}" for i in range(k1))
    colours = np.array(
        PART_COLORS if k1 <= len(PART_COLORS) else PART_COLORS * math.ceil(k1 / len(PART_COLORS))
    )

    fig = Figure(figsize=(FIG_WIDTH, ROW_HEIGHT * n), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.02, right=0.98, top=1 - 0.25 / (ROW_HEIGHT * n), bottom=0.1 / (ROW_HEIGHT * n))
    grid_cols = math.ceil(k1 / 3)
    gs = fig.add_gridspec(
        n * 3, 2 + grid_cols, width_ratios=[1.2, 1.2] + [1] * grid_cols, wspace=0.3, hspace=0.5
    )
    for i in range(n):
        img = np.asarray(to_pil(images[i]))
        ax = fig.add_subplot(gs[3 * i : 3 * i + 3, 0])
        ax.imshow(img)
        ax.set_xticks([])
        ax.set_yticks([])
        status = [f"{nm}: {'occluded' if b else 'visible'}" for nm, b in zip(names, z[i], strict=True)]
        ax.set_title("z = " + "".join(str(b) for b in z[i]), fontsize=8)
        for j, (text, bit) in enumerate(zip(status, z[i], strict=True)):
            ax.text(
                0.02, 0.97 - 0.09 * j, text, transform=ax.transAxes, fontsize=6, va="top",
                color="white", bbox={"facecolor": "red" if bit else "green", "alpha": 0.8, "pad": 1},
            )  # fmt: skip
        ax2 = fig.add_subplot(gs[3 * i : 3 * i + 3, 1])
        overlay = colours[winner[i]].astype(np.uint8)  # (h, w, 3) coloured argmax map
        ax2.imshow(img)
        ax2.imshow(overlay, alpha=0.55, extent=(-0.5, img.shape[1] - 0.5, img.shape[0] - 0.5, -0.5))
        ax2.set_title("part map (argmax)", fontsize=8)
        ax2.set_xticks([])
        ax2.set_yticks([])
        for p in range(k1):
            axp = fig.add_subplot(gs[3 * i + p % 3, 2 + p // 3])
            axp.imshow(maps[i, p], vmin=0.0, vmax=float(maps[i].max()), cmap="viridis")  # one scale per image
            flag = "" if p == 0 else (" +" if vis[i, p - 1] else " -")
            axp.set_title(
                f"{part_labels[p]}{flag}", fontsize=6, color="black" if p == 0 or vis[i, p - 1] else "red"
            )
            axp.set_xticks([])
            axp.set_yticks([])
    return save_figure(fig, out_path, dpi=dpi)

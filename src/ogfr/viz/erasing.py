"""Erasing-mask figure, like the paper's Figure 7: the FEP agent's retained / replaced patches over the
holistic image. White = patches the agent replaces (a = 0, keep probability m <= 0.5 when not sampling),
as in the paper; next to it the keep probability m of eq. 7 as a heat map. When the ground truth is known
(synthetic images), a panel between them paints the patches that are noise (background, occluder, other
pedestrian: `ogfr.metrics.erasing`) white the same way, with the image's noise AUC of 1 - m.

Patch cells are drawn on the image grid the patch tokens came from: with patch size P and stride S, cell
(i, j) is the S x S tile centred in its patch, rows ``i*S + (P-S)/2 .. i*S + (P+S)/2`` of the model input
(likewise columns), scaled to the shown image, so that tiles of overlapping patches do not overlap;
without ``patch``/``stride`` (e.g. the conv stem) the grid is spread evenly over the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ogfr.viz.figure import save_figure, to_pil

PANEL_WIDTH = 2.2  # inches per panel (3 panels per image, 4 with the ground truth)
ROW_HEIGHT = 3.4  # inches per image


def erasing_figure_size(num_images: int, dpi: int = 100, truth: bool = False) -> tuple[int, int]:
    """(width, height) in pixels of ``erasing_figure`` for ``num_images`` images (``truth``: with noise)."""
    return round((4 if truth else 3) * PANEL_WIDTH * dpi), round(num_images * ROW_HEIGHT * dpi)


def erased_overlay(
    image: Image.Image,
    keep_prob: np.ndarray,
    threshold: float = 0.5,
    patch: int | None = None,
    stride: int | None = None,
    input_size: tuple[int, int] | None = None,
) -> np.ndarray:
    """(H, W, 3) uint8: ``image`` with every replaced patch (keep prob <= threshold) painted white."""
    arr = np.asarray(image.convert("RGB")).copy()
    h, w = arr.shape[:2]
    gh, gw = keep_prob.shape
    erased = np.zeros((h, w), dtype=bool)
    for i in range(gh):
        for j in range(gw):
            if keep_prob[i, j] > threshold:
                continue
            if patch is not None and stride is not None and input_size is not None:
                # The stride x stride tile centred in patch (i, j): tiles do not overlap, as in Figure 7.
                sy, sx = h / input_size[0], w / input_size[1]
                off = (patch - stride) / 2
                y0, x0 = (i * stride + off) * sy, (j * stride + off) * sx
                y1, x1 = y0 + stride * sy, x0 + stride * sx
            else:
                y0, y1 = i * h / gh, (i + 1) * h / gh
                x0, x1 = j * w / gw, (j + 1) * w / gw
            erased[int(round(y0)) : int(round(y1)), int(round(x0)) : int(round(x1))] = True
    arr[erased] = 255
    return arr


def erasing_figure(
    images: Sequence[object],
    keep_probs: Sequence[np.ndarray] | np.ndarray,
    out_path: str | Path,
    threshold: float = 0.5,
    patch: int | None = None,
    stride: int | None = None,
    input_size: tuple[int, int] | None = None,
    dpi: int = 100,
    noise: np.ndarray | None = None,
    aucs: Sequence[float] | None = None,
) -> Path:
    """Write the erasing PNG: per image, original | replaced patches in white | (ground-truth noise
    patches in white) | keep probability m.

    ``keep_probs`` (N, gh, gw): the agent's keep probability per patch on the model's patch grid;
    ``noise`` (N, gh, gw) bool: which patches are noise by the ground truth; ``aucs``: per-image noise AUC.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    n = len(images)
    probs = np.asarray(
        keep_probs.detach().cpu() if hasattr(keep_probs, "detach") else keep_probs, dtype=np.float32
    )
    if probs.ndim != 3 or probs.shape[0] != n:
        raise ValueError(f"keep_probs must be (N={n}, gh, gw), got shape {probs.shape}")
    if noise is not None and np.asarray(noise).shape != probs.shape:
        raise ValueError(
            f"noise must have the shape of keep_probs {probs.shape}, got {np.asarray(noise).shape}"
        )
    cols = 3 if noise is None else 4
    fig = Figure(figsize=(cols * PANEL_WIDTH, ROW_HEIGHT * n), dpi=dpi)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.03, right=0.97, top=1 - 0.3 / (ROW_HEIGHT * n), bottom=0.1 / (ROW_HEIGHT * n))
    for i in range(n):
        img = to_pil(images[i])
        kept = float((probs[i] > threshold).mean())
        panels = [
            (np.asarray(img), "holistic image", None),
            (
                erased_overlay(img, probs[i], threshold, patch, stride, input_size),
                f"replaced (white), kept {kept:.0%}",
                None,
            ),
            (probs[i], "keep probability m (eq. 7)", "viridis"),
        ]
        if noise is not None:
            truth = erased_overlay(
                img, (~np.asarray(noise[i], bool)).astype(np.float32), 0.5, patch, stride, input_size
            )
            auc = "" if aucs is None else f", noise AUC {aucs[i]:.2f}"
            panels.insert(2, (truth, f"ground truth: noise (white){auc}", None))
        for j, (data, title, cmap) in enumerate(panels):
            ax = fig.add_subplot(n, cols, cols * i + j + 1)
            if cmap is None:
                ax.imshow(data)
            else:
                ax.imshow(data, cmap=cmap, vmin=0.0, vmax=1.0)
            ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    return save_figure(fig, out_path, dpi=dpi)

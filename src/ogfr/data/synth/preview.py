"""A picture of a generated data set: images with their part-label maps and occluder masks.

python -m ogfr.data.synth.preview --root DIR --out docs/img/synthetic_samples.png
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ogfr.data.synth.generate import SPLIT_DIRS
from ogfr.images import read_image, read_rgb
from ogfr.parts import PART_COLORS
from ogfr.viz.figure import save_figure


def _column(root: Path, folder: str, stem: str) -> np.ndarray:
    img = read_rgb(root / folder / f"{stem}.jpg")
    labels = np.asarray(read_image(root / "labels" / folder / f"{stem}.png", mode=None))
    occ = np.asarray(read_image(root / "occluders" / folder / f"{stem}.png", mode=None))
    colours = np.array(PART_COLORS, dtype=np.uint8)[labels]
    overlay = np.where(labels[..., None] > 0, colours, (img * 0.35).astype(np.uint8))
    mask = np.repeat(occ[..., None], 3, axis=2)
    gap = np.full((4, img.shape[1], 3), 128, dtype=np.uint8)
    return np.concatenate([img, gap, overlay, gap, mask], axis=0)


def make_preview(root: str | Path, out: str | Path, per_split: int = 8, scale: int = 2) -> Path:
    """Write a PNG: for ``per_split`` query and gallery images, the image, its part labels, its occluder mask."""
    root, out = Path(root), Path(out)
    blocks = []
    for split in ("query", "gallery"):
        folder = SPLIT_DIRS[split]
        stems = sorted(p.stem for p in (root / folder).glob("*.jpg") if not p.name.startswith(("-1", "0000")))
        if not stems:
            raise FileNotFoundError(f"no images in {root / folder}")
        step = max(1, len(stems) // per_split)
        cols = [_column(root, folder, s) for s in stems[::step][:per_split]]
        gap = np.full((cols[0].shape[0], 4, 3), 128, dtype=np.uint8)
        row = np.concatenate([c for col in cols for c in (col, gap)][:-1], axis=1)
        blocks.append(row)
    width = max(b.shape[1] for b in blocks)
    pad = [np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=255) for b in blocks]
    sep = np.full((16, width, 3), 255, dtype=np.uint8)
    grid = np.concatenate([pad[0], sep, pad[1]], axis=0)
    img = Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST)
    legend = Image.new("RGB", (img.width, 22), (255, 255, 255))
    draw = ImageDraw.Draw(legend)
    x = 4
    from ogfr.parts import PART_NAMES

    for name, colour in zip(PART_NAMES[1:], PART_COLORS[1:], strict=True):
        draw.rectangle([x, 6, x + 10, 16], fill=colour)
        draw.text((x + 13, 5), name, fill=(0, 0, 0))
        x += 13 + 7 * len(name) + 8
    canvas = Image.new("RGB", (img.width, img.height + legend.height), (255, 255, 255))
    canvas.paste(img, (0, 0))
    canvas.paste(legend, (0, img.height))
    return save_figure(canvas, out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="picture of a synthetic data set (images, part labels, occluders)"
    )
    parser.add_argument("--root", required=True, type=Path, help="data set written by ogfr synth")
    parser.add_argument("--out", required=True, type=Path, help="PNG to write")
    parser.add_argument("--per-split", type=int, default=8, help="images per split (query, gallery)")
    args = parser.parse_args(argv)
    print(make_preview(args.root, args.out, args.per_split))
    return 0


if __name__ == "__main__":
    sys.exit(main())

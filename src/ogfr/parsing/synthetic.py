"""``synthetic`` backend: the ground-truth part maps written by the synthetic generator.

``ogfr synth`` writes ``labels/<split folder>/<stem>.png`` (uint8 part map at image size) beside the
Market-1501 layout (``<root>/bounding_box_train/<stem>.jpg`` ...). This backend reads the map of each
image and resizes it to the label size (majority vote per output pixel).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ogfr.images import UnreadableImage, read_image
from ogfr.parsing.base import ParseResult, failed
from ogfr.parts import NUM_PARTS, resize_labels


def synthetic_label_path(image_path: Path) -> Path:
    """``<root>/<split folder>/<stem>.jpg`` -> ``<root>/labels/<split folder>/<stem>.png``."""
    image_path = Path(image_path)
    return image_path.parent.parent / "labels" / image_path.parent.name / f"{image_path.stem}.png"


class SyntheticBackend:
    """Ground-truth labels of the synthetic benchmark, resized to ``label_size`` (h, w)."""

    name = "synthetic"

    def __init__(self, label_size: tuple[int, int] = (64, 32), dataset_root: Path | None = None) -> None:
        self.label_size = (int(label_size[0]), int(label_size[1]))
        if dataset_root is not None and not (Path(dataset_root) / "labels").is_dir():
            raise FileNotFoundError(
                f"{Path(dataset_root) / 'labels'}: no ground-truth label folder; the synthetic backend only "
                "works on a data set written by `ogfr synth` (use --backend pose for real photos)"
            )

    def config(self) -> dict:
        return {}

    def read(self, image_path: Path) -> ParseResult:
        """The ground-truth map of one image at the label size (``unreadable`` when missing or invalid)."""
        path = synthetic_label_path(image_path)
        if not path.is_file():
            return failed(self.label_size, "unreadable", f"{path}: ground-truth label map not found")
        try:
            full = np.asarray(read_image(path, mode=None))
        except UnreadableImage as err:
            return failed(self.label_size, "unreadable", str(err))
        if full.ndim != 2 or full.dtype != np.uint8:
            return failed(
                self.label_size,
                "unreadable",
                f"{path}: expected a single-channel uint8 map, got {full.shape}",
            )
        if full.max(initial=0) > NUM_PARTS:
            return failed(
                self.label_size, "unreadable", f"{path}: part ids must be 0..{NUM_PARTS}, found {full.max()}"
            )
        labels = resize_labels(full, self.label_size, mode="majority")
        if not labels.any():
            return ParseResult(labels, "no_person", f"{path}: no body part in the ground truth")
        return ParseResult(labels)

    def parse(self, paths: Sequence[Path]) -> list[ParseResult]:
        return [self.read(Path(p)) for p in paths]

"""Ground truth for the erasing agent: the scene labels the synthetic generator writes beside its images.

``<root>/scene/<split folder>/<stem>.png`` (generator version >= 1.5) holds, for every pixel, what it shows
(`ogfr.parts.SCENE_NAMES`): the target person's body parts 1..8, background 0, an occluder object or another
pedestrian. `SceneLabels` is a label source for `ReIDDataset` (``scene=``); ``occluders/`` masks tell
which images are holistic (nothing stands in front of the person).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ogfr.data.samples import Sample
from ogfr.images import UnreadableImage, read_image
from ogfr.parts import SCENE_NAMES

__all__ = ["SceneLabels", "has_scene_labels", "scene_map"]


def _beside(image_path: Path, kind: str) -> Path:
    """``<root>/<split folder>/<stem>.jpg`` -> ``<root>/<kind>/<split folder>/<stem>.png``."""
    return image_path.parent.parent / kind / image_path.parent.name / f"{image_path.stem}.png"


def has_scene_labels(root: str | Path) -> bool:
    """Whether ``root`` is a synthetic data set with ground-truth scene labels (a ``scene/`` folder)."""
    return (Path(root) / "scene").is_dir()


def _read_map(path: Path, num_values: int) -> np.ndarray:
    arr = np.asarray(read_image(path, mode=None))
    if arr.ndim != 2 or arr.dtype != np.uint8 or (arr.size and arr.max() >= num_values):
        raise UnreadableImage(str(path), f"expected a uint8 (H, W) map with values < {num_values}")
    return arr


def scene_map(image_path: str | Path) -> np.ndarray | None:
    """The (H, W) uint8 scene labels of a synthetic image, None when it has none (another data set)."""
    path = _beside(Path(image_path), "scene")
    return _read_map(path, len(SCENE_NAMES)) if path.is_file() else None


class SceneLabels:
    """Label source ``Sample -> (H, W) uint8 scene map`` (None for an image without one)."""

    def __call__(self, sample: Sample) -> np.ndarray | None:
        return scene_map(sample.path)

    @staticmethod
    def holistic(samples: Sequence[Sample], limit: int) -> list[Sample]:
        """Up to ``limit`` samples, spread evenly in path order, that have a scene map and an empty occluder
        mask: the fixed holistic subset the agent is scored on."""
        ordered = sorted(samples, key=lambda s: str(s.path))
        found = []
        for s in ordered:
            occ = _beside(Path(s.path), "occluders")
            if _beside(Path(s.path), "scene").is_file() and occ.is_file() and not _read_map(occ, 256).any():
                found.append(s)
        step = max(len(found) / max(limit, 1), 1.0)
        return [found[int(i * step)] for i in range(min(limit, len(found)))]

"""`ReIDDataset`: samples -> dict items (image, part labels, optional occluded view) for a DataLoader."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ogfr.data.occlusion import OcclusionAugment, paste_label
from ogfr.data.samples import Sample
from ogfr.data.transforms import EvalTransform, TrainTransform
from ogfr.images import UnreadableImage, read_image
from ogfr.parts import SCENE_OCCLUDER

log = logging.getLogger(__name__)

LabelSource = Callable[[Sample], "np.ndarray | None"]


class ReIDDataset(Dataset):
    """Items: ``img`` (3, H, W) float, ``labels`` (h, w) int64 (all -1 without a label source), ``pid``,
    ``camid``, ``index``, ``path``; with ``occlusion`` also ``img_o``, ``labels_o``, ``occ_mask`` (H, W).
    With a ``scene`` source (ground-truth scene labels, `ogfr.data.truth`) also ``scene`` (h, w) int64 (all
    -1 for an image without one) and, with ``occlusion``, ``scene_o`` where the pasted obstacle is an
    occluder.

    An unreadable image is logged once, remembered in ``unreadable`` (per process: each DataLoader
    worker keeps its own copy) and replaced by another image of the same identity; ``path`` then names
    the image actually used. Randomness comes from torch's global RNG, which a DataLoader seeds per
    worker (pass ``generator=`` to the DataLoader for a reproducible run).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: TrainTransform | EvalTransform,
        labels: LabelSource | None = None,
        occlusion: OcclusionAugment | None = None,
        scene: LabelSource | None = None,
    ) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.labels = labels
        self.occlusion = occlusion
        self.scene = scene
        self.unreadable: set[str] = set()
        self._by_pid: dict[int, list[int]] = {}
        for i, s in enumerate(self.samples):
            self._by_pid.setdefault(s.pid, []).append(i)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def pids(self) -> list[int]:
        """The pid of every sample, in order (what `PKSampler` takes)."""
        return [s.pid for s in self.samples]

    @property
    def num_unreadable(self) -> int:
        """How many distinct unreadable images this process has met."""
        return len(self.unreadable)

    def _try_read(self, sample: Sample) -> Image.Image | None:
        key = str(sample.path)
        if key in self.unreadable:
            return None
        try:
            return read_image(sample.path)
        except UnreadableImage as err:
            self.unreadable.add(key)
            log.warning("%s; using another image of id %d", err, sample.pid)
            return None

    def _load(self, index: int) -> tuple[Sample, Image.Image]:
        """The sample's image, or the next readable image of the same identity."""
        group = self._by_pid[self.samples[index].pid]
        start = group.index(index)
        for j in group[start:] + group[:start]:
            img = self._try_read(self.samples[j])
            if img is not None:
                return self.samples[j], img
        sample = self.samples[index]
        paths = ", ".join(str(self.samples[j].path) for j in group[:3])
        raise ValueError(
            f"{sample.path}: unreadable, and so are all {len(group)} images of identity {sample.pid} "
            f"({paths}{', ...' if len(group) > 3 else ''})"
        )

    def _label_map(self, sample: Sample) -> np.ndarray | None:
        if self.labels is None:
            return None
        return self.labels(sample)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.samples):
            raise IndexError(f"index {index} out of range for {len(self.samples)} samples")
        sample, pil = self._load(index)
        params = self.transform.sample_params()  # one geometry for the image and every map
        scene = None
        try:
            img, labels = self.transform.apply(pil, self._label_map(sample), *params)
            if self.scene is not None:
                truth = self.scene(sample)
                scene = (
                    self._unknown() if truth is None else self.transform.apply_map(truth, *params, scene=True)
                )
        except ValueError as err:  # a bad label map: say whose
            raise ValueError(f"{sample.path}: {err}") from err
        if labels is None:
            labels = self._unknown()
        item: dict[str, Any] = {
            "img": img,
            "labels": labels,
            "pid": sample.pid,
            "camid": sample.camid,
            "index": index,
            "path": str(sample.path),
        }
        if scene is not None:
            item["scene"] = scene
        if self.occlusion is not None:
            img_o, labels_o, occ_mask = self.occlusion(img, labels)
            item.update(img_o=img_o, labels_o=labels_o, occ_mask=occ_mask)
            if scene is not None:
                item["scene_o"] = paste_label(scene, occ_mask, SCENE_OCCLUDER)
        return item

    def _unknown(self) -> torch.Tensor:
        """A label map of -1 ("unknown") at the label size."""
        return torch.full(self.transform.label_size, -1, dtype=torch.int64)

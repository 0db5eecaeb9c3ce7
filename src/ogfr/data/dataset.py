"""`ReIDDataset`: samples -> dict items (image, part labels, optional occluded view) for a DataLoader."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from ogfr.data.occlusion import OcclusionAugment
from ogfr.data.samples import Sample
from ogfr.data.transforms import EvalTransform, TrainTransform
from ogfr.images import UnreadableImage, read_image

log = logging.getLogger(__name__)

LabelSource = Callable[[Sample], "np.ndarray | None"]


class ReIDDataset(Dataset):
    """Items: ``img`` (3, H, W) float, ``labels`` (h, w) int64 (all -1 without a label source), ``pid``,
    ``camid``, ``index``, ``path``, ``substituted``; with ``occlusion`` also ``img_o``, ``labels_o``,
    ``occ_mask`` (H, W).

    An unreadable image is logged once, remembered in ``unreadable`` (per process: each DataLoader
    worker keeps its own copy) and replaced by another image of the same identity; ``path`` then names
    the image actually used and ``substituted`` is True (the training loop counts these). Randomness comes from torch's global RNG, which a DataLoader seeds per
    worker (pass ``generator=`` to the DataLoader for a reproducible run).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: TrainTransform | EvalTransform,
        labels: LabelSource | None = None,
        occlusion: OcclusionAugment | None = None,
    ) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.labels = labels
        self.occlusion = occlusion
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
        try:
            img, labels = self.transform(pil, self._label_map(sample))
        except ValueError as err:  # a bad label map: say whose
            raise ValueError(f"{sample.path}: {err}") from err
        if labels is None:
            labels = torch.full(self.transform.label_size, -1, dtype=torch.int64)
        item: dict[str, Any] = {
            "img": img,
            "labels": labels,
            "pid": sample.pid,
            "camid": sample.camid,
            "index": index,
            "path": str(sample.path),
            "substituted": sample is not self.samples[index],  # the image at ``index`` was unreadable
        }
        if self.occlusion is not None:
            img_o, labels_o, occ_mask = self.occlusion(img, labels)
            item.update(img_o=img_o, labels_o=labels_o, occ_mask=occ_mask)
        return item

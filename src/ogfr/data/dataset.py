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
_Resized = tuple[Sample, torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"]


class ReIDDataset(Dataset):
    """Items: ``img`` (3, H, W) float, ``labels`` (h, w) int64 (all -1 without a label source), ``pid``,
    ``camid``, ``index``, ``path``, ``substituted``; with ``occlusion`` also ``img_o``, ``labels_o``,
    ``occ_mask`` (H, W). With a ``scene`` source (ground-truth scene labels, `ogfr.data.truth`) also
    ``scene`` (h, w) int64 through the image's geometry (all -1 for an image without one) and, with
    ``occlusion``, ``scene_o`` where the pasted obstacle is an occluder.

    An unreadable image is logged once, remembered in ``unreadable`` (per process: each DataLoader
    worker keeps its own copy) and replaced by another image of the same identity; ``path`` then names
    the image actually used and ``substituted`` is True (the training loop counts these). Randomness comes from torch's global RNG, which a DataLoader seeds per
    worker (pass ``generator=`` to the DataLoader for a reproducible run).

    ``cache_images=True`` keeps each image decoded and resized (the deterministic `resize` step of the
    transform, uint8) with its label map after the first use, about 4 x H x W bytes per image; items
    are then identical to the uncached ones. `preload` fills it before DataLoader workers fork.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        transform: TrainTransform | EvalTransform,
        labels: LabelSource | None = None,
        occlusion: OcclusionAugment | None = None,
        cache_images: bool = False,
        scene: LabelSource | None = None,
    ) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.labels = labels
        self.occlusion = occlusion
        self.scene = scene
        self.unreadable: set[str] = set()
        # index -> (sample used, uint8 image (3, H, W), uint8 labels and scene labels (H, W) or None)
        self._cache: dict[int, _Resized] | None = {} if cache_images else None
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

    def _resized(self, index: int) -> _Resized:
        """The image (or its substitute), decoded and resized, its labels and scene labels: the cacheable
        part (maps as uint8)."""
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        sample, pil = self._load(index)
        try:
            x, lab = self.transform.resize(pil, self._label_map(sample))
            truth = None if self.scene is None else self.scene(sample)
            scene = None if truth is None else self.transform.resize_map(truth, scene=True)
        except ValueError as err:  # a bad label map: say whose
            raise ValueError(f"{sample.path}: {err}") from err
        small = [None if t is None else t.to(torch.uint8) for t in (lab, scene)]
        resized = (sample, x, small[0], small[1])
        if self._cache is not None:
            self._cache[index] = resized
        return resized

    def preload(self, progress: bool = False) -> None:
        """Decode and resize every image into the cache now (``cache_images=True``), e.g. before workers fork."""
        if self._cache is None:
            raise ValueError("preload needs ReIDDataset(..., cache_images=True)")
        from rich.progress import track

        for index in track(range(len(self)), "decode images", disable=not progress, transient=True):
            self._resized(index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not 0 <= index < len(self.samples):
            raise IndexError(f"index {index} out of range for {len(self.samples)} samples")
        sample, x, lab, scene = self._resized(index)
        params = self.transform.sample_params()  # one geometry for the image and both maps
        try:
            img, labels = self.transform.augment(x, None if lab is None else lab.long(), *params)
        except ValueError as err:
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
            "substituted": sample is not self.samples[index],  # the image at ``index`` was unreadable
        }
        if self.scene is not None:
            item["scene"] = (
                self._unknown()
                if scene is None
                else self.transform.augment_map(scene.long(), *params, scene=True)
            )
        if self.occlusion is not None:
            img_o, labels_o, occ_mask = self.occlusion(img, labels)
            item.update(img_o=img_o, labels_o=labels_o, occ_mask=occ_mask)
            if self.scene is not None:
                item["scene_o"] = paste_label(item["scene"], occ_mask, SCENE_OCCLUDER)
        return item

    def _unknown(self) -> torch.Tensor:
        """A label map of -1 ("unknown") at the label size."""
        return torch.full(self.transform.label_size, -1, dtype=torch.int64)

"""Occlusion augmentation: paste an obstacle patch at a random position and size (paper §4.2, [41, 42]).

The obstacle bank holds uint8 RGB patches cropped from training images (or given explicitly). The
augmentation works on the already transformed, normalised image, so the occluded view shares the
holistic view's geometry; part labels under the patch become background (0).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ogfr.data.samples import Sample
from ogfr.data.transforms import _channel_stats
from ogfr.images import UnreadableImage, read_rgb
from ogfr.parts import resize_labels

log = logging.getLogger(__name__)


def _check_range(
    value: Sequence[float], name: str, low: float, high: float | None = None
) -> tuple[float, float]:
    a, b = (float(v) for v in value)
    if not (low < a <= b) or (high is not None and b > high):
        bound = f"<= {high}" if high is not None else ""
        raise ValueError(f"{name} must be (min, max) with {low} < min <= max {bound}, got {tuple(value)!r}")
    return a, b


def _as_patch(patch: np.ndarray | str | Path) -> np.ndarray:
    if isinstance(patch, str | Path):
        return read_rgb(patch).copy()
    arr = np.asarray(patch)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8 or min(arr.shape[:2]) < 1:
        raise ValueError(f"obstacle patch must be a (h, w, 3) uint8 array, got {arr.dtype} {arr.shape}")
    return arr


class ObstacleBank:
    """A list of obstacle patches, each a ``(h, w, 3)`` uint8 RGB array."""

    def __init__(self, patches: Sequence[np.ndarray | str | Path]) -> None:
        self.patches = [_as_patch(p) for p in patches]
        if not self.patches:
            raise ValueError("ObstacleBank needs at least one patch")

    def __len__(self) -> int:
        return len(self.patches)

    def __getitem__(self, index: int) -> np.ndarray:
        return self.patches[index]

    @classmethod
    def from_samples(
        cls,
        samples: Sequence[Sample],
        num_patches: int = 256,
        area: tuple[float, float] = (0.05, 0.3),
        aspect: tuple[float, float] = (0.3, 3.3),
        max_side: int = 96,
        seed: int = 0,
    ) -> ObstacleBank:
        """Crop ``num_patches`` random boxes (``area`` = fraction of the image, ``aspect`` = h / w) from
        random images of ``samples``; unreadable images are skipped with a warning."""
        if not samples:
            raise ValueError("ObstacleBank.from_samples needs at least one sample")
        if num_patches < 1:
            raise ValueError(f"num_patches must be >= 1, got {num_patches}")
        area = _check_range(area, "area", 0.0, 1.0)
        aspect = _check_range(aspect, "aspect", 0.0)
        rng = np.random.default_rng(seed)
        patches: list[np.ndarray] = []
        for attempt in range(num_patches * 3):
            if len(patches) == num_patches:
                break
            sample = samples[int(rng.integers(len(samples)))]
            try:
                img = read_rgb(sample.path)
            except UnreadableImage as err:
                log.warning("%s; skipped for the obstacle bank", err)
                continue
            h, w, _ = img.shape
            ph, pw = _box_size(h, w, rng.uniform(*area), _log_uniform(rng.uniform, aspect))
            top, left = int(rng.integers(h - ph + 1)), int(rng.integers(w - pw + 1))
            patch = img[top : top + ph, left : left + pw]
            scale = max_side / max(ph, pw)
            if scale < 1:
                size = (max(1, round(pw * scale)), max(1, round(ph * scale)))
                patch = np.asarray(Image.fromarray(patch).resize(size, Image.BILINEAR))
            patches.append(patch.copy())
            log.debug("obstacle %d from %s (attempt %d)", len(patches), sample.path, attempt)
        if not patches:
            raise ValueError(f"no readable image among {len(samples)} samples to crop obstacles from")
        return cls(patches)


def _log_uniform(uniform, bounds: tuple[float, float]) -> float:
    return math.exp(uniform(math.log(bounds[0]), math.log(bounds[1])))


def _box_size(h: int, w: int, area_frac: float, aspect: float) -> tuple[int, int]:
    """Box (height, width) of ``area_frac * h * w`` pixels and height / width ``aspect``, inside (h, w)."""
    area = area_frac * h * w
    bh = min(h, max(1, round(math.sqrt(area * aspect))))
    bw = min(w, max(1, round(math.sqrt(area / aspect))))
    return bh, bw


@dataclass
class OcclusionAugment:
    """Paste one obstacle patch, with probability ``p``, anywhere on a normalised (3, H, W) image.

    ``area`` is the patch size as a fraction of the image, ``aspect`` its height / width (log-uniform).
    ``mean`` / ``std`` must be those of the image transform (the patch is normalised the same way).
    """

    bank: ObstacleBank
    p: float = 0.5
    area: tuple[float, float] = (0.1, 0.4)
    aspect: tuple[float, float] = (0.3, 3.3)
    mean: float | Sequence[float] = 0.5
    std: float | Sequence[float] = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"p must be in [0, 1], got {self.p}")
        self.area = _check_range(self.area, "area", 0.0, 1.0)
        self.aspect = _check_range(self.aspect, "aspect", 0.0)
        self._mean = torch.tensor(_channel_stats(self.mean, "mean")).view(3, 1, 1)
        self._std = torch.tensor(_channel_stats(self.std, "std")).view(3, 1, 1)

    def __call__(
        self, img: torch.Tensor, labels: torch.Tensor | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor]:
        """Returns ``(img_o, labels_o, occ_mask)``: the occluded image (3, H, W), the labels (h, w) with
        the pasted area set to background 0 (None if ``labels`` is None; -1 "unknown" pixels stay -1)
        and the (H, W) bool mask."""
        if img.ndim != 3 or img.shape[0] != 3:
            raise ValueError(f"image must be (3, H, W), got {tuple(img.shape)}")
        _, h, w = img.shape
        mask = torch.zeros(h, w, dtype=torch.bool)
        img_o = img.clone()
        if torch.rand((), generator=generator).item() >= self.p:
            return img_o, None if labels is None else labels.clone(), mask

        def uniform(a: float, b: float) -> float:
            return a + (b - a) * torch.rand((), generator=generator).item()

        ph, pw = _box_size(h, w, uniform(*self.area), _log_uniform(uniform, self.aspect))
        top = int(torch.randint(0, h - ph + 1, (), generator=generator))
        left = int(torch.randint(0, w - pw + 1, (), generator=generator))
        choice = int(torch.randint(0, len(self.bank), (), generator=generator))
        patch = torch.from_numpy(self.bank[choice].copy()).permute(2, 0, 1).float()  # (3, h', w')
        patch = F.interpolate(patch[None], size=(ph, pw), mode="bilinear", align_corners=False)[0]
        patch = (patch.clamp(0, 255) / 255.0 - self._mean) / self._std
        img_o[:, top : top + ph, left : left + pw] = patch.to(img_o.dtype)
        mask[top : top + ph, left : left + pw] = True
        return img_o, None if labels is None else paste_label(labels, mask, 0), mask


def paste_label(values: torch.Tensor, mask: torch.Tensor, value: int) -> torch.Tensor:
    """A copy of the label map ``values`` (h, w) with ``value`` where an obstacle was pasted (``mask`` (H, W)).

    Label pixels whose centre falls in the pasted area change (the sampling of label resizing); unknown
    pixels (-1, no label source) stay unknown. Part labels get background 0, scene labels the occluder."""
    out = values.clone()
    label_mask = resize_labels(mask.to(torch.int64), tuple(values.shape), mode="nearest").bool()
    out[label_mask & (out >= 0)] = value
    return out

"""Image + part-label transforms that apply one geometry to both (resize, flip, pad + random crop).

Randomness comes from the ``generator`` argument, or torch's global RNG when it is None (which a
DataLoader seeds per worker). Labels follow `ogfr.parts`: 0 background, 1..8 parts; a horizontal flip
also swaps left and right part ids, since the mirrored person's left arm is on the other side. Other
integer maps (the ground-truth scene labels of `ogfr.data.truth`) go through the same geometry with
`resize_map` and `augment_map`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ogfr.parts import PART_NAMES, SCENE_NAMES, resize_labels

Size = tuple[int, int]


def _flip_permutation() -> torch.Tensor:
    """Lookup table mapping each part id to its mirror (left_arm <-> right_arm, ...)."""
    perm = list(range(len(PART_NAMES)))
    for i, name in enumerate(PART_NAMES):
        if name.startswith("left_"):
            j = PART_NAMES.index("right_" + name[len("left_") :])
            perm[i], perm[j] = j, i
    return torch.tensor(perm, dtype=torch.int64)


FLIP_PERMUTATION = _flip_permutation()


def _channel_stats(value: float | Sequence[float], name: str) -> tuple[float, float, float]:
    values = (float(value),) * 3 if isinstance(value, int | float) else tuple(float(v) for v in value)
    if len(values) != 3:
        raise ValueError(f"{name} must be a number or 3 numbers, got {value!r}")
    return values  # type: ignore[return-value]


def _check_size(size: Sequence[int], name: str) -> Size:
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"{name} must be (height, width) with positive values, got {size!r}")
    return int(size[0]), int(size[1])


def _labels_tensor(labels: np.ndarray, num_values: int = len(PART_NAMES)) -> torch.Tensor:
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"label map must be 2-D (h, w), got shape {arr.shape}")
    if arr.size and (arr.min() < 0 or arr.max() >= num_values):
        raise ValueError(f"label map values must be in 0..{num_values - 1}, got {arr.min()}..{arr.max()}")
    return torch.from_numpy(arr.astype(np.int64))


# Mirror tables of part labels (0..K) and of scene labels (0..K, occluder, pedestrian) under a flip.
_FLIP = {
    False: FLIP_PERMUTATION,
    True: torch.cat([FLIP_PERMUTATION, torch.arange(len(PART_NAMES), len(SCENE_NAMES))]),
}


class _Base:
    """Shared resize / normalise steps; subclasses are dataclasses with these fields."""

    size: Size
    mean: float | Sequence[float]
    std: float | Sequence[float]
    label_size: Size

    def _validate(self) -> None:
        self.size = _check_size(self.size, "size")
        self.label_size = _check_size(self.label_size, "label_size")
        self._mean = torch.tensor(_channel_stats(self.mean, "mean")).view(3, 1, 1)
        self._std = torch.tensor(_channel_stats(self.std, "std")).view(3, 1, 1)
        if (self._std <= 0).any():
            raise ValueError(f"std must be > 0, got {self.std!r}")

    def resize(self, img: Image.Image, labels: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The deterministic first step: uint8 image tensor (3, H, W) and int64 labels (H, W) at the image
        size. `from_resized` does the rest; ``t(img, labels) == t.from_resized(*t.resize(img, labels))``."""
        h, w = self.size
        pil = img.convert("RGB").resize((w, h), Image.BICUBIC)
        x = torch.from_numpy(np.asarray(pil).copy()).permute(2, 0, 1)  # (H, W, 3) -> (3, H, W)
        return x, None if labels is None else self.resize_map(labels)

    def resize_map(self, values: np.ndarray, scene: bool = False) -> torch.Tensor:
        """An integer map (part labels; scene labels with ``scene=True``) at the image size, int64."""
        return resize_labels(
            _labels_tensor(values, len(SCENE_NAMES if scene else PART_NAMES)), self.size, mode="nearest"
        )

    def _finish(self, x: torch.Tensor, lab: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        img = (x.float() / 255.0 - self._mean) / self._std
        return img, None if lab is None else resize_labels(lab, self.label_size, mode="nearest")


@dataclass
class EvalTransform(_Base):
    """Resize (bicubic) and normalise; labels are resized (nearest) to ``label_size``."""

    size: Size = (256, 128)
    mean: float | Sequence[float] = 0.5
    std: float | Sequence[float] = 0.5
    label_size: Size = (64, 32)

    def __post_init__(self) -> None:
        self._validate()

    def __call__(
        self, img: Image.Image, labels: np.ndarray | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(3, H, W) float image and (h, w) int64 labels (or None)."""
        return self.from_resized(*self.resize(img, labels))

    def from_resized(
        self, x: torch.Tensor, lab: torch.Tensor | None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The transform after `resize` (normalise, labels to ``label_size``)."""
        return self._finish(x, lab)

    def sample_params(self, generator: torch.Generator | None = None) -> tuple[()]:
        """No random parameters (the interface of `TrainTransform.sample_params`)."""
        return ()

    def augment(self, x: torch.Tensor, lab: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`from_resized` with the (no) parameters of `sample_params`."""
        return self._finish(x, lab)

    def augment_map(self, values: torch.Tensor, scene: bool = False) -> torch.Tensor:
        """A map from `resize_map` at ``label_size``."""
        return resize_labels(values, self.label_size, mode="nearest")


@dataclass
class TrainTransform(_Base):
    """Resize, random horizontal flip (swapping left/right parts), pad + random crop, normalise.

    Padding is black in the image (as torchvision's ``Pad`` on a PIL image) and background (0) in the
    labels; the crop window is the same for both.
    """

    size: Size = (256, 128)
    flip_p: float = 0.5
    pad: int = 10
    mean: float | Sequence[float] = 0.5
    std: float | Sequence[float] = 0.5
    label_size: Size = (64, 32)

    def __post_init__(self) -> None:
        self._validate()
        if not 0.0 <= self.flip_p <= 1.0:
            raise ValueError(f"flip_p must be in [0, 1], got {self.flip_p}")
        if self.pad < 0:
            raise ValueError(f"pad must be >= 0, got {self.pad}")

    def sample_params(self, generator: torch.Generator | None = None) -> tuple[bool, int, int]:
        """Draw ``(flip, top, left)``: whether to flip and the crop offset into the padded image."""
        flip = torch.rand((), generator=generator).item() < self.flip_p
        top, left = torch.randint(0, 2 * self.pad + 1, (2,), generator=generator).tolist()
        return flip, top, left

    def apply(
        self, img: Image.Image, labels: np.ndarray | None, flip: bool, top: int, left: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The transform with given parameters (see `sample_params`)."""
        return self.augment(*self.resize(img, labels), flip, top, left)

    def _pad_crop(self, x: torch.Tensor, top: int, left: int) -> torch.Tensor:
        """Pad the last two dims by ``pad`` (zeros) and crop the image size at (top, left)."""
        if not (0 <= top <= 2 * self.pad and 0 <= left <= 2 * self.pad):
            raise ValueError(f"crop offset must be in 0..{2 * self.pad}, got top={top}, left={left}")
        if not self.pad:
            return x
        h, w = self.size
        return F.pad(x, (self.pad,) * 4)[..., top : top + h, left : left + w]

    def augment(
        self, x: torch.Tensor, lab: torch.Tensor | None, flip: bool, top: int, left: int
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Flip, pad + crop and normalise a resized uint8 image and its int64 labels (see `sample_params`)."""
        img, _ = self._finish(self._pad_crop(x.flip(-1) if flip else x, top, left), None)
        return img, None if lab is None else self.augment_map(lab, flip, top, left)

    def augment_map(
        self, values: torch.Tensor, flip: bool, top: int, left: int, scene: bool = False
    ) -> torch.Tensor:
        """A map from `resize_map` through the image's flip (mirroring left / right part ids) and crop
        (padding is background 0), at ``label_size``."""
        if flip:
            values = _FLIP[scene][values.flip(-1)]
        return resize_labels(self._pad_crop(values, top, left), self.label_size, mode="nearest")

    def __call__(
        self, img: Image.Image, labels: np.ndarray | None = None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Random flip / crop drawn from ``generator`` (torch's global RNG when None)."""
        return self.from_resized(*self.resize(img, labels), generator)

    def from_resized(
        self, x: torch.Tensor, lab: torch.Tensor | None, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The random part of the transform on the output of `resize` (e.g. from an image cache)."""
        return self.augment(x, lab, *self.sample_params(generator))

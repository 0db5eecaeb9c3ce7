"""Plain records shared by the index, the embedder and the search: model identity, image metadata, hits.

No model code here: these are the types a practitioner sees (``ModelIdentity`` of ``ogfr.load(...)``,
``Hit`` from ``Index.search``). The features themselves are ``ogfr.metrics.Features``.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ogfr.parts import PART_NAMES


@dataclass(frozen=True)
class FeatureLayout:
    """What the stored arrays mean: feature size, number of parts, and the model input they came from."""

    dim: int  # D of the global and part features
    num_parts: int  # K part features per image (ogfr.parts: 8; 0 for the plain-ViT baseline)
    num_coarse: int  # C bits of the occlusion code z the model was given
    image_size: tuple[int, int]  # (H, W) the images were resized to

    def __post_init__(self) -> None:
        if self.dim <= 0 or self.num_parts < 0 or self.num_coarse <= 0:
            raise ValueError(
                f"FeatureLayout: dim and num_coarse must be positive, num_parts >= 0, got {self}"
            )
        if len(self.image_size) != 2 or min(self.image_size) <= 0:
            raise ValueError(f"FeatureLayout: image_size must be (H, W) > 0, got {self.image_size}")
        object.__setattr__(self, "image_size", (int(self.image_size[0]), int(self.image_size[1])))

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["image_size"] = list(self.image_size)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeatureLayout:
        return cls(int(d["dim"]), int(d["num_parts"]), int(d["num_coarse"]), tuple(d["image_size"]))


@dataclass(frozen=True)
class ModelIdentity:
    """Which model made the features: the checkpoint's sha256 (or a state-dict hash) and the layout."""

    checkpoint_sha256: str
    layout: FeatureLayout

    def as_dict(self) -> dict[str, Any]:
        return {"checkpoint_sha256": self.checkpoint_sha256, "layout": self.layout.as_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelIdentity:
        return cls(str(d["checkpoint_sha256"]), FeatureLayout.from_dict(d["layout"]))

    def mismatch(self, other: ModelIdentity) -> str | None:
        """A sentence saying how ``other`` differs from this identity, or None when they are the same."""
        if self.layout != other.layout:
            return f"feature layout {other.layout} differs from the index's {self.layout}"
        if self.checkpoint_sha256 != other.checkpoint_sha256:
            return (
                f"checkpoint sha256 {other.checkpoint_sha256[:16]}... differs from the index's "
                f"{self.checkpoint_sha256[:16]}..."
            )
        return None


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def state_dict_sha256(module: torch.nn.Module) -> str:
    """Hex sha256 over a module's state dict (names, shapes, values): an identity for unsaved models."""
    h = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        h.update(name.encode())
        t = tensor.detach().cpu().contiguous()
        h.update(str(tuple(t.shape)).encode() + str(t.dtype).encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


@dataclass(frozen=True)
class ImageRecord:
    """Metadata of one indexed image; ``path`` is relative to the indexed root (POSIX separators)."""

    path: str
    pid: int = -1  # -1 = unknown identity
    camid: int = -1  # 0-based camera parsed from the name; -1 = unknown
    width: int = 0
    height: int = 0
    sha256: str = ""
    code: str = ""  # occlusion code z as bits, e.g. "0010" (1 = occluded)


@dataclass(frozen=True)
class Hit:
    """One ranked gallery image for a query."""

    rank: int  # 1-based
    index: int  # row in the index
    path: str  # relative to the indexed root
    distance: float  # eq. 25
    shared_parts: tuple[str, ...]  # part names visible in both query and gallery image
    pid: int = -1
    camid: int = -1

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["shared_parts"] = list(self.shared_parts)
        return d


def part_names(mask: torch.Tensor) -> tuple[str, ...]:
    """Names of the fine parts set in a (K,) bool mask (``ogfr.parts.PART_NAMES[1:]`` when K = 8)."""
    names = (
        PART_NAMES[1:]
        if mask.numel() == len(PART_NAMES) - 1
        else tuple(f"part{i}" for i in range(mask.numel()))
    )
    return tuple(n for n, m in zip(names, mask.tolist(), strict=True) if m)

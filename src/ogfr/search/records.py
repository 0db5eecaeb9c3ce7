"""Plain records shared by the index, the embedder and the search: features, model identity, hits.

No model code here: these are the types a practitioner sees (``Embeddings`` from ``ogfr.load(...).embed``,
``Hit`` from ``Index.search``).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
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
class Embeddings:
    """Student features of N images: ``global_`` (N, D), ``parts`` (N, K, D) float32, ``visibility`` (N, K) bool.

    Features are pre-BN and L2-normalised (as the evaluation uses them); ``model`` names the model that
    made them so that an index can refuse features from another model.
    """

    global_: torch.Tensor
    parts: torch.Tensor
    visibility: torch.Tensor
    model: ModelIdentity | None = None
    codes: torch.Tensor | None = field(default=None)  # (N, C) int64 occlusion code z given to the model

    def __post_init__(self) -> None:
        g, p, v = self.global_, self.parts, self.visibility
        if g.ndim != 2:
            raise ValueError(f"Embeddings.global_ must be (N, D), got shape {tuple(g.shape)}")
        n, d = g.shape
        if p.ndim != 3 or p.shape[0] != n or p.shape[2] != d:
            raise ValueError(f"Embeddings.parts must be (N={n}, K, D={d}), got shape {tuple(p.shape)}")
        if tuple(v.shape) != tuple(p.shape[:2]):
            raise ValueError(
                f"Embeddings.visibility must be (N, K)={tuple(p.shape[:2])}, got {tuple(v.shape)}"
            )
        if v.dtype != torch.bool:
            raise ValueError(f"Embeddings.visibility must be bool, got {v.dtype}")
        if not (g.is_floating_point() and p.is_floating_point()):
            raise ValueError("Embeddings.global_ and .parts must be floating point")
        if n and not (torch.isfinite(g).all() and torch.isfinite(p).all()):
            raise ValueError("Embeddings contain NaN or Inf")

    def __len__(self) -> int:
        return int(self.global_.shape[0])

    def select(self, index: torch.Tensor | slice) -> Embeddings:
        """The rows ``index`` (a slice or an index tensor) as new Embeddings (rows of checked data: no re-check)."""
        new = object.__new__(Embeddings)
        for name in ("global_", "parts", "visibility", "codes"):
            value = getattr(self, name)
            object.__setattr__(new, name, None if value is None else value[index])
        object.__setattr__(new, "model", self.model)
        return new

    @staticmethod
    def concat(items: list[Embeddings]) -> Embeddings:
        """Rows of several Embeddings of the same model, in order."""
        if not items:
            raise ValueError("Embeddings.concat needs at least one item")
        codes = None if any(e.codes is None for e in items) else torch.cat([e.codes for e in items])
        return Embeddings(
            torch.cat([e.global_ for e in items]),
            torch.cat([e.parts for e in items]),
            torch.cat([e.visibility for e in items]),
            items[0].model,
            codes,
        )


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

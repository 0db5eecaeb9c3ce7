"""`Features`: the retrieval features of a set of images (global, optional parts and visibility)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from ogfr.metrics._checks import as_bool_tensor, as_float_tensor


@dataclass(frozen=True)
class Features:
    """Features of N images, validated on construction.

    Attributes:
        global_: (N, D) float global features (as the engine gives them: pre-BN, L2-normalised).
        parts: (N, K, D') float part features, or None for global-only retrieval.
        visibility: (N, K) bool part visibility (eq. 24, True = visible), or None. When ``parts`` is
            given without ``visibility`` every part counts as visible.
        name: used in error messages ("query", "gallery").
    """

    global_: Tensor
    parts: Tensor | None = None
    visibility: Tensor | None = None
    name: str = "features"

    def __post_init__(self) -> None:
        g = as_float_tensor(self.global_, f"{self.name}.global_", 2)
        object.__setattr__(self, "global_", g)
        n = g.shape[0]
        if self.parts is None:
            if self.visibility is not None:
                raise ValueError(f"{self.name}.visibility: given without {self.name}.parts")
            return
        p = as_float_tensor(self.parts, f"{self.name}.parts", 3)
        if p.shape[0] != n:
            raise ValueError(
                f"{self.name}.parts: expected {n} rows like {self.name}.global_, got shape {tuple(p.shape)}"
            )
        if p.device != g.device:
            raise ValueError(f"{self.name}.parts: on {p.device}, but {self.name}.global_ is on {g.device}")
        object.__setattr__(self, "parts", p)
        if self.visibility is None:
            vis = torch.ones(n, p.shape[1], dtype=torch.bool, device=p.device)
        else:
            vis = as_bool_tensor(self.visibility, f"{self.name}.visibility", (n, p.shape[1])).to(p.device)
        object.__setattr__(self, "visibility", vis)

    @classmethod
    def from_outputs(cls, outputs: dict[str, Any], name: str = "features") -> Features:
        """Build from a model output dict with keys ``global`` and optionally ``parts``, ``visibility``."""
        if "global" not in outputs:
            raise ValueError(f"{name}: the output dict has no 'global' key (keys: {sorted(outputs)})")
        return cls(outputs["global"], outputs.get("parts"), outputs.get("visibility"), name=name)

    def __len__(self) -> int:
        return int(self.global_.shape[0])

    @property
    def has_parts(self) -> bool:
        return self.parts is not None

    def global_only(self) -> Features:
        """The same features without parts (no re-validation)."""
        out = object.__new__(Features)
        for name, value in (
            ("global_", self.global_),
            ("parts", None),
            ("visibility", None),
            ("name", self.name),
        ):
            object.__setattr__(out, name, value)
        return out

    def select(self, rows: slice, device: torch.device | None = None) -> Features:
        """Rows ``rows`` (a slice), moved to ``device``; no re-validation of finite values."""
        dev = self.global_.device if device is None else device
        out = object.__new__(Features)
        object.__setattr__(out, "global_", self.global_[rows].to(dev))
        object.__setattr__(out, "parts", None if self.parts is None else self.parts[rows].to(dev))
        vis = self.visibility
        object.__setattr__(out, "visibility", None if vis is None else vis[rows].to(dev))
        object.__setattr__(out, "name", self.name)
        return out


def concat_features(a: Features, b: Features, name: str = "all") -> Features:
    """Rows of ``a`` then rows of ``b`` (both with parts or both without), no re-validation."""
    if a.has_parts != b.has_parts:
        raise ValueError(f"{b.name}.parts: one side has parts and the other not")
    out = object.__new__(Features)
    object.__setattr__(out, "global_", torch.cat([a.global_, b.global_.to(a.global_.device)]))
    parts = vis = None
    if a.parts is not None and b.parts is not None and a.visibility is not None and b.visibility is not None:
        parts = torch.cat([a.parts, b.parts.to(a.parts.device)])
        vis = torch.cat([a.visibility, b.visibility.to(a.visibility.device)])
    object.__setattr__(out, "parts", parts)
    object.__setattr__(out, "visibility", vis)
    object.__setattr__(out, "name", name)
    return out

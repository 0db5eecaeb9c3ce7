"""`Features`: the one record of retrieval features of N images (global, parts, visibility, and what made them).

Evaluation, ``ogfr extract``, the index, the search, the figures and the demo all pass this record around;
``ogfr.engine.features.FeatureExtractor`` makes it. "No part features" (the plain-ViT baseline) is spelled
one way: K = 0, i.e. ``parts`` of shape (N, 0, D) and ``visibility`` of shape (N, 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch
from torch import Tensor

from ogfr.metrics._checks import as_bool_tensor, as_float_tensor

Rows = slice | Tensor | Sequence[int]


@dataclass(frozen=True)
class Features:
    """Features of N images, validated on construction.

    Attributes:
        global_: (N, D) float global features (as the engine gives them: pre-BN, L2-normalised).
        parts: (N, K, D') float part features; K = 0 for global-only retrieval (``None`` is stored as
            an (N, 0, D) tensor).
        visibility: (N, K) bool part visibility (eq. 24, True = visible); ``None`` = every part visible.
        z: (N, C) int64 occlusion codes the model was given, or None.
        pids, camids: (N,) int64 identities and the cameras the model was given (-1 = unknown), or None.
        paths: N image paths (str), or None.
        model: sha256 of the checkpoint (or state dict) that made the features; "" = not recorded.
        name: used in error messages ("query", "gallery").
    """

    global_: Tensor
    parts: Tensor | None = None
    visibility: Tensor | None = None
    z: Tensor | None = None
    pids: Tensor | None = None
    camids: Tensor | None = None
    paths: tuple[str, ...] | None = None
    model: str = ""
    name: str = "features"

    def __post_init__(self) -> None:
        g = _floats(self.global_, f"{self.name}.global_", 2)
        object.__setattr__(self, "global_", g)
        n = g.shape[0]
        if self.parts is None:
            if self.visibility is not None:
                raise ValueError(f"{self.name}.visibility: given without {self.name}.parts")
            p = g.new_zeros((n, 0, g.shape[1]))
        else:
            p = _floats(self.parts, f"{self.name}.parts", 3)
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
        if self.z is not None:
            z = torch.as_tensor(self.z)
            if z.ndim != 2 or z.shape[0] != n or z.is_floating_point():
                raise ValueError(
                    f"{self.name}.z: expected an (N={n}, C) integer tensor, got {tuple(z.shape)}"
                )
            object.__setattr__(self, "z", z.long())
        for key in ("pids", "camids"):
            value = getattr(self, key)
            if value is not None:
                ids = torch.as_tensor(value)
                if ids.shape != (n,) or ids.is_floating_point():
                    raise ValueError(
                        f"{self.name}.{key}: expected {n} integer ids, got shape {tuple(ids.shape)}"
                    )
                object.__setattr__(self, key, ids.long())
        if self.paths is not None:
            paths = tuple(str(p) for p in self.paths)
            if len(paths) != n:
                raise ValueError(f"{self.name}.paths: expected {n} paths, got {len(paths)}")
            object.__setattr__(self, "paths", paths)

    def __len__(self) -> int:
        return int(self.global_.shape[0])

    @property
    def num_parts(self) -> int:
        """K, the part features per image (0 without parts)."""
        assert self.parts is not None  # always a tensor after __post_init__
        return int(self.parts.shape[1])

    @property
    def has_parts(self) -> bool:
        return self.num_parts > 0

    def global_only(self) -> Features:
        """The same features without parts (K = 0; no re-validation)."""
        n, d = self.global_.shape
        no_vis = torch.ones(n, 0, dtype=torch.bool, device=self.global_.device)
        return _unchecked(self, parts=self.global_.new_zeros((n, 0, d)), visibility=no_vis)

    def select(self, rows: Rows, device: torch.device | str | None = None) -> Features:
        """Rows ``rows`` (a slice or integer indices) with their metadata, moved to ``device``."""
        dev = self.global_.device if device is None else torch.device(device)
        idx = rows if isinstance(rows, slice) else torch.as_tensor(rows, dtype=torch.long)
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if torch.is_tensor(value):
                value = value[idx]
                out[f.name] = value.to(dev) if f.name in ("global_", "parts", "visibility") else value
            elif f.name == "paths" and value is not None:
                out[f.name] = value[idx] if isinstance(idx, slice) else tuple(value[i] for i in idx.tolist())
        return _unchecked(self, **out)

    def renamed(self, name: str) -> Features:
        """The same rows under another name (used in error messages)."""
        return _unchecked(self, name=name)


def _floats(x: object, name: str, ndim: int) -> Tensor:
    """A finite float tensor of ``ndim`` dims; one without elements (no rows, or K = 0 parts) is accepted."""
    if torch.is_tensor(x) and x.ndim == ndim and x.numel() == 0 and x.is_floating_point():
        return x
    return as_float_tensor(x, name, ndim)


def _unchecked(base: Features, **changes: object) -> Features:
    """``dataclasses.replace`` without re-validation, for rows of already checked features."""
    out = object.__new__(Features)
    for f in fields(base):
        object.__setattr__(out, f.name, changes.get(f.name, getattr(base, f.name)))
    return out


def concat_features(*items: Features, name: str = "all") -> Features:
    """Rows of ``items`` in order; all with the same K and the same model (no re-validation)."""
    if not items:
        raise ValueError("concat_features: nothing to concatenate")
    first = items[0]
    for f in items[1:]:
        if f.num_parts != first.num_parts:
            raise ValueError(
                f"{f.name}.parts: K = {f.num_parts} differs from {first.name}'s K = {first.num_parts}"
            )
        if f.model != first.model:
            raise ValueError(
                f"{f.name}: features of another model than {first.name}'s cannot be concatenated"
            )
    dev = first.global_.device
    out: dict[str, object] = {}
    for key in ("global_", "parts", "visibility"):
        out[key] = torch.cat([getattr(f, key).to(dev) for f in items])
    for key in ("z", "pids", "camids"):
        values = [getattr(f, key) for f in items]
        out[key] = None if any(v is None for v in values) else torch.cat(values)
    paths = [f.paths for f in items]
    out["paths"] = None if any(p is None for p in paths) else tuple(p for ps in paths for p in ps)
    return _unchecked(first, name=name, **out)

"""Occlusion code z from part-label maps (paper §3.1.1, eq. 1-2), and the settings that make it.

Fine parts 1..K are merged into C coarse parts (``ogfr.parts.coarse_groups``); a coarse part is
*occluded* (bit 1) when fewer than ``lam`` label pixels belong to it. Works on torch tensors (batched,
any device, no host sync beyond the input check) and on numpy arrays; the output type follows the input.

The rule for maps that say nothing, in this one place for training, evaluation and search:
- a parsing backend that finds no person returns an all-background map: every coarse part is occluded;
- a map with no label source (``-1`` pixels and no body-part pixel, e.g. an image without a cached
  label, even after an obstacle was pasted in as background) gets z = 0: every part assumed visible.

``CodeSettings`` (C, lambda, label size) is stored with every checkpoint, so that evaluation and search
compute z exactly as training did.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, overload

import numpy as np
import torch

from ogfr.parts import COARSE_GROUPS, NUM_PARTS, coarse_groups

log = logging.getLogger(__name__)

Groups = Sequence[Sequence[int]]


def _resolve_groups(num_coarse: int, groups: Groups | None) -> tuple[tuple[int, ...], ...]:
    if groups is None:
        return coarse_groups(num_coarse)
    resolved = tuple(tuple(int(p) for p in g) for g in groups)
    if len(resolved) != num_coarse:
        raise ValueError(f"groups has {len(resolved)} coarse parts but num_coarse={num_coarse}")
    seen: set[int] = set()
    for g in resolved:
        for p in g:
            if not 1 <= p <= NUM_PARTS:
                raise ValueError(f"groups: fine part ids must be in 1..{NUM_PARTS}, got {p}")
            if p in seen:
                raise ValueError(f"groups: fine part {p} appears in two coarse parts")
            seen.add(p)
    return resolved


def coarse_lookup(num_coarse: int = 4, groups: Groups | None = None) -> np.ndarray:
    """Table ``fine part id (0..K) -> coarse index (0..C-1)``, with ``C`` for background / ungrouped."""
    resolved = _resolve_groups(num_coarse, groups)
    lut = np.full(NUM_PARTS + 1, num_coarse, dtype=np.int64)
    for c, group in enumerate(resolved):
        lut[list(group)] = c
    return lut


@overload
def coarse_counts(
    labels: torch.Tensor, num_coarse: int = 4, groups: Groups | None = None
) -> torch.Tensor: ...
@overload
def coarse_counts(labels: np.ndarray, num_coarse: int = 4, groups: Groups | None = None) -> np.ndarray: ...


def coarse_counts(labels, num_coarse=4, groups=None):
    """Pixels per coarse part, y(c) of eq. 1: ``(B, C)`` int64 for labels ``(B, h, w)`` or ``(h, w)``.

    Label values must be in ``-1..K``; ``-1`` (no label available) counts for no part.
    """
    is_torch = isinstance(labels, torch.Tensor)
    if not is_torch and not isinstance(labels, np.ndarray):
        raise ValueError(f"labels must be a torch.Tensor or numpy array, got {type(labels).__name__}")
    if labels.ndim not in (2, 3):
        raise ValueError(f"labels must have shape (B, h, w) or (h, w), got {tuple(labels.shape)}")
    if is_torch and (labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool):
        raise ValueError(f"labels must be an integer tensor, got {labels.dtype}")
    if not is_torch and not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be an integer array, got {labels.dtype}")
    batched = labels if labels.ndim == 3 else labels[None]
    if batched.numel() if is_torch else batched.size:
        lo, hi = int(batched.min()), int(batched.max())
        if lo < -1 or hi > NUM_PARTS:
            raise ValueError(f"labels must hold part ids in -1..{NUM_PARTS}, got values in {lo}..{hi}")
    # Lookup with one extra slot at the end for -1 ("unknown") and one column for "no coarse part".
    lut = np.append(coarse_lookup(num_coarse, groups), num_coarse)  # index -1 -> last slot
    if is_torch:
        t_lut = torch.as_tensor(lut, device=batched.device)
        coarse = t_lut[batched.long()].flatten(1)  # (B, h*w) values 0..C
        counts = torch.zeros(coarse.shape[0], num_coarse + 1, dtype=torch.int64, device=batched.device)
        counts.scatter_add_(1, coarse, torch.ones_like(coarse))
        return counts[:, :num_coarse]  # eq. 1
    if len(batched) == 0:
        return np.zeros((0, num_coarse), dtype=np.int64)
    coarse = lut[batched.astype(np.int64)].reshape(batched.shape[0], -1)  # (B, h*w)
    counts = np.stack([np.bincount(row, minlength=num_coarse + 1) for row in coarse])
    return counts[:, :num_coarse].astype(np.int64)  # eq. 1


@overload
def occlusion_code(
    labels: torch.Tensor, num_coarse: int = 4, lam: float = 5.0, groups: Groups | None = None
) -> torch.Tensor: ...
@overload
def occlusion_code(
    labels: np.ndarray, num_coarse: int = 4, lam: float = 5.0, groups: Groups | None = None
) -> np.ndarray: ...


def occlusion_code(labels, num_coarse=4, lam=5.0, groups=None):
    """Occlusion code z (eq. 2): ``(B, C)`` int64, 1 = occluded (fewer than ``lam`` pixels), 0 = visible.

    ``labels``: part-label maps ``(B, h, w)`` or ``(h, w)`` with values 0..K (``-1`` = unknown pixel);
    ``num_coarse`` C in 1, 2, 4, 8 (``groups`` overrides the grouping); ``lam`` is a pixel count at the
    label resolution. A part with exactly ``lam`` pixels is visible. A map without any body-part pixel
    but with unknown ones (no label source) gets z = 0 (see the module docstring).
    """
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite pixel count >= 0, got {lam}")
    counts = coarse_counts(labels, num_coarse, groups)
    batched = labels if labels.ndim == 3 else labels[None]
    if isinstance(counts, torch.Tensor):
        flat = batched.flatten(1)
        unknown = (flat < 0).any(1) & ~(flat > 0).any(1)  # (B,) no label source
        return (counts < lam).to(torch.int64).masked_fill(unknown[:, None], 0)  # eq. 2
    flat = batched.reshape(batched.shape[0], -1) if len(batched) else batched.reshape(0, 0)
    unknown = (flat < 0).any(1) & ~(flat > 0).any(1)
    return np.where(unknown[:, None], 0, counts < lam).astype(np.int64)  # eq. 2


@dataclass(frozen=True)
class CodeSettings:
    """How part labels become z: C coarse parts, the threshold lambda of eq. 2 and the label size (h, w)
    at which lambda counts pixels. Stored with every checkpoint (``ogfr.engine.checkpoint``)."""

    num_coarse: int = 4
    lam: float = 5.0
    label_size: tuple[int, int] = (64, 32)

    def __post_init__(self) -> None:
        if self.num_coarse not in COARSE_GROUPS:
            raise ValueError(f"num_coarse must be one of {sorted(COARSE_GROUPS)}, got {self.num_coarse}")
        if not math.isfinite(self.lam) or self.lam < 0:
            raise ValueError(f"lam must be a finite pixel count >= 0, got {self.lam}")
        size = tuple(int(v) for v in self.label_size)
        if len(size) != 2 or min(size) < 1:
            raise ValueError(f"label_size must be (h, w) with positive values, got {self.label_size}")
        object.__setattr__(self, "lam", float(self.lam))
        object.__setattr__(self, "label_size", size)

    def code(self, labels: torch.Tensor) -> torch.Tensor:
        """z (B, C) of label maps (B, h, w) at ``label_size`` (eq. 2 and the rule above)."""
        if tuple(labels.shape[-2:]) != self.label_size:
            raise ValueError(
                f"label maps are {tuple(labels.shape[-2:])}, the occlusion code counts pixels at "
                f"label_size {self.label_size}"
            )
        return occlusion_code(labels, self.num_coarse, self.lam)

    def with_lam(self, lam: float | None, source: str = "--lam") -> CodeSettings:
        """These settings with lambda = ``lam`` (None: unchanged); a different value is warned about,
        naming its ``source`` (a flag, an index)."""
        if lam is None or float(lam) == self.lam:
            return self
        log.warning("%s: lambda = %g instead of the %g stored with the model", source, lam, self.lam)
        return replace(self, lam=float(lam))

    def as_dict(self) -> dict[str, Any]:
        return {"num_coarse": self.num_coarse, "lam": self.lam, "label_size": list(self.label_size)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CodeSettings:
        try:
            return cls(int(d["num_coarse"]), float(d["lam"]), tuple(d["label_size"]))
        except (KeyError, TypeError) as err:
            raise ValueError(
                f"occlusion-code settings must hold num_coarse, lam, label_size; got {d!r}"
            ) from err

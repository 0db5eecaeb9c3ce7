"""Occlusion code z from part-label maps (paper §3.1.1, eq. 1-2).

Fine parts 1..K are merged into C coarse parts (``ogfr.parts.coarse_groups``); a coarse part is
*occluded* (bit 1) when fewer than ``lam`` label pixels belong to it. Works on torch tensors (batched,
any device, no host sync beyond the input check) and on numpy arrays; the output type follows the input.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import numpy as np
import torch

from ogfr.parts import NUM_PARTS, coarse_groups

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
    coarse = lut[batched.astype(np.int64)].reshape(batched.shape[0], -1)  # (B, h*w)
    counts = np.stack([np.bincount(row, minlength=num_coarse + 1) for row in coarse]) if len(coarse) else None
    if counts is None:
        return np.zeros((0, num_coarse), dtype=np.int64)
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
    label resolution. A part with exactly ``lam`` pixels is visible.
    """
    if not np.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite pixel count >= 0, got {lam}")
    counts = coarse_counts(labels, num_coarse, groups)
    if isinstance(counts, torch.Tensor):
        return (counts < lam).to(torch.int64)  # eq. 2
    return (counts < lam).astype(np.int64)  # eq. 2

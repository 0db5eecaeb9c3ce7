"""Scoring the erasing agent against ground truth: which patches are noise, and the AUC of its erase score.

A patch is *noise* when most of its known pixels are not the target person's body (background, an occluder
object or another pedestrian: `ogfr.parts.NOISE_LABELS`), *body* otherwise; it is *unknown* when most of
its pixels have no scene label (-1). The agent's erase score is 1 - m (eq. 7); its noise AUC is the
probability that a random noise patch scores above a random body patch (0.5 = chance, 1 = perfect).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F

from ogfr.parts import NOISE_LABELS, NUM_PARTS, SCENE_NAMES

__all__ = ["PatchTruth", "noise_auc", "patch_truth", "roc_auc"]


def roc_auc(scores: torch.Tensor, positives: torch.Tensor) -> float:
    """Area under the ROC curve of ``scores`` for binary labels ``positives`` (same shape), ties counted
    one half (the Mann-Whitney U statistic / (n_pos n_neg)). NaN when either class is empty."""
    s = scores.detach().flatten().double().cpu()
    y = positives.detach().flatten().bool().cpu()
    n_pos = int(y.sum())
    n_neg = y.numel() - n_pos
    if n_pos == 0 or n_neg == 0:
        return math.nan
    values, inverse, counts = torch.unique(s, return_inverse=True, return_counts=True)  # sorted ascending
    last = counts.cumsum(0).double()  # 1-based rank of the last member of each group of ties
    mid_rank = last - (counts.double() - 1) / 2  # ties share their average rank
    rank_sum = mid_rank[inverse][y].sum().item()
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


class PatchTruth(NamedTuple):
    """Ground truth per patch, (B, N) each: ``noise`` bool, ``known`` bool, ``kind`` the dominant noise
    label of a noise patch (0 background, `SCENE_OCCLUDER`, `SCENE_PEDESTRIAN`; -1 for body / unknown)."""

    noise: torch.Tensor
    known: torch.Tensor
    kind: torch.Tensor


def patch_truth(scene: torch.Tensor, grid: tuple[int, int]) -> PatchTruth:
    """`PatchTruth` of scene label maps (B, h, w) (-1 = unknown) on the model's patch grid (gh, gw).

    Each patch covers its cell of the label map (adaptive average pooling of the label areas); the cells of
    overlapping patch embeddings are the centres of their patches.
    """
    num = len(SCENE_NAMES)
    onehot = F.one_hot(scene.long().clamp(min=-1) + 1, num + 1).permute(0, 3, 1, 2).float()  # (B, 1+S, h, w)
    area = F.adaptive_avg_pool2d(onehot, grid).flatten(2)[:, 1:]  # (B, S, N): share of each scene label
    body = area[:, 1 : 1 + NUM_PARTS].sum(dim=1)
    noise_area = area[:, list(NOISE_LABELS)]  # (B, 3, N)
    noisy = noise_area.sum(dim=1)
    known = body + noisy > 0.5
    noise = known & (noisy > body)
    kind = torch.tensor(NOISE_LABELS, device=scene.device)[noise_area.argmax(dim=1)]
    return PatchTruth(noise, known, torch.where(noise, kind, torch.full_like(kind, -1)))


def noise_auc(erase_score: torch.Tensor, truth: PatchTruth, kind: int | None = None) -> float:
    """AUC of ``erase_score`` (B, N) (e.g. 1 - m) for noise patches against body patches, over known patches;
    ``kind``: only noise patches of that scene label (background, occluder or pedestrian) against body."""
    positives = truth.noise if kind is None else truth.kind == kind
    use = truth.known & (positives | ~truth.noise)
    return roc_auc(erase_score[use], positives[use])

"""Agreement of predicted part maps with ground truth: per-part IoU and occlusion-code accuracy."""

from __future__ import annotations

import numpy as np

from ogfr.parsing.codes import occlusion_code
from ogfr.parts import COARSE_NAMES, NUM_PARTS, PART_NAMES


def label_agreement(pred: np.ndarray, gt: np.ndarray, num_coarse: int = 4, lam: float = 5.0) -> dict:
    """Compare (N, h, w) predicted and ground-truth part maps.

    Returns ``iou`` per part (data-set level: summed intersections / summed unions, background included),
    ``miou`` (mean over the K body parts), ``pixel_accuracy``, and per coarse part ``z_accuracy``,
    ``false_occluded`` (visible in truth, occluded in prediction) and ``false_visible`` rates.
    """
    pred, gt = np.asarray(pred), np.asarray(gt)
    if pred.shape != gt.shape or pred.ndim != 3:
        raise ValueError(f"pred and gt must both be (N, h, w), got {pred.shape} and {gt.shape}")
    iou = {}
    for k in range(NUM_PARTS + 1):
        p, g = pred == k, gt == k
        union = int(np.logical_or(p, g).sum())
        iou[PART_NAMES[k]] = float(np.logical_and(p, g).sum() / union) if union else float("nan")
    z_pred = occlusion_code(pred.astype(np.int64), num_coarse, lam)
    z_gt = occlusion_code(gt.astype(np.int64), num_coarse, lam)
    names = COARSE_NAMES[num_coarse]
    return {
        "images": len(pred),
        "iou": iou,
        "miou": float(np.nanmean([iou[n] for n in PART_NAMES[1:]])),
        "pixel_accuracy": float((pred == gt).mean()) if pred.size else float("nan"),
        "z_accuracy": {n: float(v) for n, v in zip(names, (z_pred == z_gt).mean(0), strict=True)},
        "false_occluded": {
            n: float(v) for n, v in zip(names, ((z_gt == 0) & (z_pred == 1)).mean(0), strict=True)
        },
        "false_visible": {
            n: float(v) for n, v in zip(names, ((z_gt == 1) & (z_pred == 0)).mean(0), strict=True)
        },
        "occluded_in_truth": {n: float(v) for n, v in zip(names, z_gt.mean(0), strict=True)},
    }

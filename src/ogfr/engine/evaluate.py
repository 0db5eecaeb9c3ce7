"""Evaluation: student features of a split (eq. 24 visibility) and the query/gallery metrics (eq. 25)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

__all__ = ["evaluate_model", "extract_features", "features_of", "rank_features"]


def extract_features(
    model: torch.nn.Module,
    samples: Sequence[Any],
    *,
    image_size: tuple[int, int],
    label_size: tuple[int, int],
    labels: Callable[[Any], np.ndarray | None] | None = None,
    num_coarse: int = 4,
    lam: float = 5.0,
    batch_size: int = 128,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    amp: str = "none",
    progress: bool = True,
    description: str = "extract",
) -> dict[str, Any]:
    """Student-branch features of ``samples``.

    Returns ``global`` (N, D) and ``parts`` (N, K, D) L2-normalised pre-BN features (``parts`` is
    None for a model without part features), ``visibility`` (N, K) bool (eq. 24), ``z`` (N, C)
    occlusion codes from the labels (0 = visible where no label exists), ``pids``, ``camids`` (N,)
    int64 and ``paths`` (list of str).
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from ogfr.data import EvalTransform, ReIDDataset
    from ogfr.engine.build import batch_codes

    if len(samples) == 0:
        raise ValueError(f"{description}: no images to extract features from")
    device = torch.device(device)
    dataset = ReIDDataset(list(samples), EvalTransform(size=image_size, label_size=label_size), labels=labels)
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        pin_memory=device.type == "cuda",
        generator=torch.Generator().manual_seed(0),  # leaves the global RNG (training state) untouched
    )
    was_training = model.training
    model.eval()
    glob, parts, vis, codes, pids, camids, paths = [], [], [], [], [], [], []
    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with torch.no_grad(), Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task(description, total=len(dataset))
        for batch in loader:
            img = batch["img"].to(device, non_blocking=True)
            z = batch_codes(batch["labels"], num_coarse, lam).to(device)
            camid = batch["camid"].to(device)
            with _autocast(device, amp):
                out = model(img, z, camid)
            glob.append(F.normalize(out["global"].float(), dim=-1).cpu())
            if out.get("parts") is not None and out["parts"].shape[1] > 0:
                parts.append(F.normalize(out["parts"].float(), dim=-1).cpu())
                vis.append(out["visibility"].bool().cpu())
            codes.append(z.cpu())
            pids.append(batch["pid"].long())
            camids.append(batch["camid"].long())
            paths.extend(str(p) for p in batch["path"])
            bar.update(task, advance=len(img))
    model.train(was_training)
    return {
        "global": torch.cat(glob),
        "parts": torch.cat(parts) if parts else None,
        "visibility": torch.cat(vis) if vis else None,
        "z": torch.cat(codes),
        "pids": torch.cat(pids),
        "camids": torch.cat(camids),
        "paths": paths,
    }


def features_of(feats: dict[str, Any], use_parts: bool = True, name: str = "features"):
    """``ogfr.metrics.Features`` of an :func:`extract_features` result."""
    from ogfr.metrics import Features

    if use_parts and feats.get("parts") is not None:
        return Features(feats["global"], feats["parts"], feats["visibility"], name=name)
    return Features(feats["global"], None, None, name=name)


def rank_features(
    query: dict[str, Any],
    gallery: dict[str, Any],
    *,
    use_parts: bool = True,
    rerank: bool = False,
    device=None,
):
    """RankResults of query vs gallery features (eq. 25 when parts are used)."""
    from ogfr.metrics import RankOptions, evaluate

    return evaluate(
        features_of(query, use_parts, "query"),
        features_of(gallery, use_parts, "gallery"),
        query["pids"],
        gallery["pids"],
        query["camids"],
        gallery["camids"],
        RankOptions(use_parts=use_parts and query.get("parts") is not None, rerank=rerank, device=device),
    )


def evaluate_model(
    model: torch.nn.Module,
    query: Sequence[Any],
    gallery: Sequence[Any],
    *,
    image_size: tuple[int, int],
    label_size: tuple[int, int],
    labels: Callable[[Any], np.ndarray | None] | None = None,
    num_coarse: int = 4,
    lam: float = 5.0,
    use_parts: bool = True,
    rerank: bool = False,
    batch_size: int = 128,
    num_workers: int = 0,
    device: str | torch.device = "cpu",
    amp: str = "none",
    progress: bool = True,
):
    """Extract query and gallery features and compute the metrics; returns ``(results, q_feats, g_feats)``."""
    kwargs = dict(
        image_size=image_size,
        label_size=label_size,
        labels=labels,
        num_coarse=num_coarse,
        lam=lam,
        batch_size=batch_size,
        num_workers=num_workers,
        device=device,
        amp=amp,
        progress=progress,
    )
    q = extract_features(model, query, description="query", **kwargs)
    g = extract_features(model, gallery, description="gallery", **kwargs)
    results = rank_features(q, g, use_parts=use_parts, rerank=rerank, device=device)
    return results, q, g


def _autocast(device: torch.device, amp: str):
    if amp == "none" or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)

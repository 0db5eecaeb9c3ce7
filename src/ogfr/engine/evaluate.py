"""Evaluation: student features of a data set split (through the one producer) and the query/gallery metrics."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch

from ogfr.engine.features import FeatureExtractor
from ogfr.metrics import Features, RankOptions, RankResults, evaluate

log = logging.getLogger(__name__)

__all__ = ["evaluate_features", "evaluate_model", "left_out", "split_features"]


def split_features(
    extractor: FeatureExtractor, samples: Sequence[Any], description: str = "features", progress: bool = True
) -> Features:
    """Features of data set samples (``ogfr.data.Sample``): their images, cameras and ids, in order.

    Evaluation never substitutes an image: an unreadable one is left out (with a warning), and
    `left_out` lists which, for the report.
    """
    if len(samples) == 0:
        raise ValueError(f"{description}: no images to extract features from")
    return extractor.embed(
        [s.path for s in samples],
        camids=[s.camid for s in samples],
        pids=[s.pid for s in samples],
        progress=progress,
        description=description,
        skip_unreadable=True,
    )


def left_out(samples: Sequence[Any], feats: Features) -> list[str]:
    """Paths of ``samples`` that `split_features` left out of ``feats`` (unreadable images), in order."""
    kept = set(feats.paths or ())
    return [str(s.path) for s in samples if str(s.path) not in kept]


def evaluate_features(
    query: Features,
    gallery: Features,
    *,
    use_parts: bool = True,
    rerank: bool = False,
    device: str | torch.device | None = None,
) -> RankResults:
    """RankResults of query vs gallery features (eq. 25 when both have parts and ``use_parts``)."""
    for f in (query, gallery):
        if f.pids is None or f.camids is None:
            raise ValueError(f"{f.name}: evaluation needs the features' pids and camids")
    return evaluate(
        query.renamed("query"),
        gallery.renamed("gallery"),
        query.pids,
        gallery.pids,
        query.camids,
        gallery.camids,
        RankOptions(use_parts=use_parts, rerank=rerank, device=device),
    )


def evaluate_model(
    extractor: FeatureExtractor,
    query: Sequence[Any],
    gallery: Sequence[Any],
    *,
    use_parts: bool = True,
    rerank: bool = False,
    progress: bool = True,
) -> tuple[RankResults, Features, Features]:
    """Extract query and gallery features and compute the metrics; returns ``(results, query, gallery)``."""
    q = split_features(extractor, query, "query", progress)
    g = split_features(extractor, gallery, "gallery", progress)
    return evaluate_features(q, g, use_parts=use_parts, rerank=rerank, device=extractor.device), q, g

"""From features (or a distance matrix) to `RankResults`, in blocks of query rows."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ogfr.metrics._checks import as_float_tensor, as_ids
from ogfr.metrics._progress import block_progress
from ogfr.metrics.distance import _distance, _visibility_distance, squared_norms
from ogfr.metrics.features import Features
from ogfr.metrics.rank import RankAccumulator, RankOptions
from ogfr.metrics.rerank import re_ranking, rerank_features
from ogfr.metrics.results import RankResults

log = logging.getLogger(__name__)

# Default block: about 2^24 distances (64 MB in float32) per block of query rows.
BLOCK_ELEMENTS = 1 << 24


def auto_chunk_size(num_query: int, num_gallery: int, block_elements: int = BLOCK_ELEMENTS) -> int:
    """Query rows per block so that one (rows, G) block holds about ``block_elements`` distances."""
    return max(1, min(num_query, block_elements // max(1, num_gallery)))


def _resolve_device(device: str | torch.device | None, default: torch.device) -> torch.device:
    if device is None:
        return default
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device: {device!r} requested but CUDA is not available")
    return dev


def _ids(q_pids: Any, g_pids: Any, q_camids: Any, g_camids: Any, nq: int, ng: int) -> tuple[np.ndarray, ...]:
    return (
        as_ids(q_pids, "q_pids", nq),
        as_ids(g_pids, "g_pids", ng),
        as_ids(q_camids, "q_camids", nq),
        as_ids(g_camids, "g_camids", ng),
    )


def _options(options: RankOptions | None) -> RankOptions:
    if options is None:
        return RankOptions()
    if not isinstance(options, RankOptions):
        raise ValueError(f"options: expected ogfr.metrics.RankOptions, got {type(options).__name__}")
    return options


def _uses_parts(query: Features, gallery: Features, use_parts: bool) -> bool:
    """Whether eq. 25 applies: ``use_parts`` and part features of the same shape on both sides."""
    if query.global_.shape[1] != gallery.global_.shape[1]:
        raise ValueError(
            f"gallery.global_: feature size {gallery.global_.shape[1]} differs from query's {query.global_.shape[1]}"
        )
    if query.global_.dtype != gallery.global_.dtype:
        raise ValueError(
            f"gallery.global_: dtype {gallery.global_.dtype} differs from query's {query.global_.dtype}"
        )
    if not (use_parts and (query.has_parts or gallery.has_parts)):
        return False
    if not (query.has_parts and gallery.has_parts):
        side = "query" if not query.has_parts else "gallery"
        raise ValueError(
            f"{side}.parts: missing while the other side has parts (use RankOptions(use_parts=False))"
        )
    assert query.parts is not None and gallery.parts is not None
    if query.parts.shape[1:] != gallery.parts.shape[1:]:
        raise ValueError(
            f"gallery.parts: shape {tuple(gallery.parts.shape)} does not match query.parts {tuple(query.parts.shape)}"
        )
    return True


def evaluate(
    query: Features,
    gallery: Features,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any,
    g_camids: Any,
    options: RankOptions | None = None,
) -> RankResults:
    """Retrieval metrics from query and gallery features, never holding the full (Q, G) matrix.

    Distances are computed for ``options.chunk_size`` query rows at a time (default: about 2^24
    distances per block) against the whole gallery, on ``options.device`` (default: where the
    features are), and scored right away (:class:`RankOptions` lists the protocol options). With
    ``use_parts`` and part features on both sides, the distance is eq. 25; otherwise the global
    distance. ``rerank=True`` applies k-reciprocal re-ranking (:mod:`ogfr.metrics.rerank`), whose
    memory grows with (Q + G) x k1, not (Q + G)^2.
    """
    opts = _options(options)
    if not isinstance(query, Features):
        raise ValueError(f"query: expected ogfr.metrics.Features, got {type(query).__name__}")
    if not isinstance(gallery, Features):
        raise ValueError(f"gallery: expected ogfr.metrics.Features, got {type(gallery).__name__}")
    nq, ng = len(query), len(gallery)
    parts = _uses_parts(query, gallery, opts.use_parts)
    acc = RankAccumulator(*_ids(q_pids, g_pids, q_camids, g_camids, nq, ng), opts)
    chunk = opts.chunk_size or auto_chunk_size(nq, ng)
    dev = _resolve_device(opts.device, query.global_.device)
    if not parts:
        query = query.global_only()
        gallery = gallery.global_only()

    def dist_fn(q: Features, g: Features, g_sq: Any = None) -> Tensor:
        if parts:
            return _visibility_distance(
                q.global_, q.parts, q.visibility, g.global_, g.parts, g.visibility, opts.metric, g_sq
            )
        return _distance(q.global_, g.global_, opts.metric, g_sq)

    with torch.no_grad():
        if opts.rerank:
            k = (opts.k1, opts.k2, opts.lambda_value)
            for rows, block in rerank_features(query, gallery, dist_fn, *k, chunk, dev, opts.progress):
                acc.add(rows, block)
        else:
            g = gallery.select(slice(0, ng), dev)
            g_sq = None
            if opts.metric == "euclidean":  # gallery norms once, not once per block
                g_sq = (
                    (squared_norms(g.global_), squared_norms(g.parts)) if parts else squared_norms(g.global_)
                )
            with block_progress((nq + chunk - 1) // chunk, opts.progress, "evaluating") as step:
                for s in range(0, nq, chunk):
                    rows = slice(s, min(nq, s + chunk))
                    acc.add(rows, dist_fn(query.select(rows, dev), g, g_sq))
                    step()
    res = acc.result(opts.settings("eq25" if parts else "global"))
    log.info("evaluated %d queries x %d gallery: Rank-1 %.4f mAP %.4f", nq, ng, res.rank1, res.mAP)
    return res


def evaluate_distmat(
    distmat: Any,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any,
    g_camids: Any,
    options: RankOptions | None = None,
    *,
    q_q_dist: Any = None,
    g_g_dist: Any = None,
) -> RankResults:
    """Retrieval metrics from a ready (Q, G) distance matrix (numpy or tensor, kept in its dtype).

    ``options.use_parts`` and ``options.metric`` do not apply (the distances are given);
    ``options.rerank`` needs ``q_q_dist`` (Q, Q) and ``g_g_dist`` (G, G) too (see :func:`re_ranking`).
    """
    opts = _options(options)
    d = as_float_tensor(distmat, "distmat", 2)
    nq, ng = d.shape
    acc = RankAccumulator(*_ids(q_pids, g_pids, q_camids, g_camids, nq, ng), opts)
    if opts.rerank:
        if q_q_dist is None or g_g_dist is None:
            raise ValueError("q_q_dist, g_g_dist: both are needed for RankOptions(rerank=True)")
        reranked = re_ranking(d, q_q_dist, g_g_dist, opts.k1, opts.k2, opts.lambda_value)
        d = as_float_tensor(reranked, "re-ranked distmat", 2)
    chunk = opts.chunk_size or auto_chunk_size(nq, ng)
    dev = _resolve_device(opts.device, d.device)
    with block_progress((nq + chunk - 1) // chunk, opts.progress, "evaluating") as step:
        for s in range(0, nq, chunk):
            rows = slice(s, min(nq, s + chunk))
            acc.add(rows, d[rows].to(dev))
            step()
    return acc.result(opts.settings("given"))


def evaluate_rank(
    distmat: Any,
    q_pids: Any,
    g_pids: Any,
    q_camids: Any,
    g_camids: Any,
    max_rank: int = 50,
    use_metric_cuhk03: bool = False,
) -> tuple[np.ndarray, float]:
    """Drop-in for ``torchreid.metrics.evaluate_rank``: returns ``(cmc, mAP)`` as torchreid does.

    Same protocol (same id + same camera removed, no junk handling, CMC cut to the gallery size,
    float32 CMC, mean of the per-query AP); cuhk03 sampling draws from numpy's global random state as
    torchreid does. Accepts numpy arrays or tensors. Raises ValueError (not an assert) when no query
    has a match.
    """
    d = as_float_tensor(distmat, "distmat", 2)
    nq, ng = d.shape
    ids = _ids(q_pids, g_pids, q_camids, g_camids, nq, ng)
    acc = RankAccumulator(*ids, RankOptions(max_rank=max_rank, junk_pid=None, cuhk03=use_metric_cuhk03))
    if use_metric_cuhk03:
        acc._rng = np.random.mtrand._rand  # torchreid samples with np.random.choice (global state)
    chunk = auto_chunk_size(nq, ng)
    for s in range(0, nq, chunk):
        rows = slice(s, min(nq, s + chunk))
        acc.add(rows, d[rows])
    res = acc.result()
    return res.cmc, res.mAP

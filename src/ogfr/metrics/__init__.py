"""Retrieval math: distances (Euclidean, cosine, eq. 25), CMC / mAP / mINP, ranked lists, re-ranking.

Pure torch / numpy; no model code. See docs/metrics.md.
"""

from ogfr.metrics.distance import pairwise_distance, visibility_distance
from ogfr.metrics.evaluate import auto_chunk_size, evaluate, evaluate_distmat, evaluate_rank
from ogfr.metrics.features import Features
from ogfr.metrics.rank import RankAccumulator, RankOptions
from ogfr.metrics.rerank import re_ranking
from ogfr.metrics.results import RankResults
from ogfr.metrics.topk import TopK, feature_distance, top_k

__all__ = [
    "Features",
    "RankAccumulator",
    "RankOptions",
    "RankResults",
    "TopK",
    "auto_chunk_size",
    "evaluate",
    "evaluate_distmat",
    "evaluate_rank",
    "feature_distance",
    "pairwise_distance",
    "re_ranking",
    "top_k",
    "visibility_distance",
]

"""Ranked lists: the ``k`` closest gallery rows of every query by eq. 25, exactly, in chunks.

What the search, ``ogfr show ranked`` and the demo's Figure 8 use (the metrics themselves only need the
ranks of the true matches, see :mod:`ogfr.metrics.rank`). Ties are broken by gallery order (a stable
sort). Optionally the Market-1501 protocol's filter (gallery rows with the query's id AND camera are left
out) and, for a faiss shortlist, a set of candidate rows per query.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor

from ogfr.metrics.distance import _distance, _visibility_distance
from ogfr.metrics.features import Features


@dataclass(frozen=True)
class TopK:
    """``index`` (Q, k) gallery rows, ``distance`` (Q, k) eq. 25, ``shared`` (Q, k, K) parts visible on
    both sides; rows with fewer than k results are padded with index -1 and distance inf."""

    index: Tensor
    distance: Tensor
    shared: Tensor

    def row(self, q: int) -> Iterator[tuple[int, float, Tensor]]:
        """(gallery row, distance, (K,) bool shared-visible parts) for query ``q``, best first."""
        for gi, d, s in zip(self.index[q].tolist(), self.distance[q].tolist(), self.shared[q], strict=True):
            if gi >= 0:
                yield gi, float(d), s


def feature_distance(query: Features, gallery: Features) -> Tensor:
    """(Q, G) eq. 25 between all rows; without part features (K = 0) eq. 25 is D(global)."""
    if query.num_parts != gallery.num_parts:
        raise ValueError(
            f"{gallery.name}: K = {gallery.num_parts} parts, {query.name} has K = {query.num_parts}"
        )
    if query.has_parts:
        q, g = query, gallery
        return _visibility_distance(
            q.global_, q.parts, q.visibility, g.global_, g.parts, g.visibility, "euclidean"
        )
    return _distance(query.global_, gallery.global_, "euclidean")


def _protocol_mask(query: Features, gallery: Features, cols: Tensor) -> Tensor:
    """(q, M) True where gallery row ``cols`` has the query's id and camera (left out by the protocol)."""
    for f in (query, gallery):
        if f.pids is None or f.camids is None:
            raise ValueError(f"{f.name}: camera_filter needs pids and camids")
    assert query.pids is not None and query.camids is not None
    assert gallery.pids is not None and gallery.camids is not None
    return (gallery.pids[cols] == query.pids[:, None]) & (gallery.camids[cols] == query.camids[:, None])


def _pick(dist: Tensor, cols: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """Stable k smallest of ``dist`` (q, M) whose columns are gallery rows ``cols`` (q, M); inf -> -1."""
    order = torch.sort(dist, dim=1, stable=True).indices[:, :k]
    d = torch.gather(dist, 1, order)
    idx = torch.gather(cols, 1, order).masked_fill(torch.isinf(d), -1)
    return idx, d


def top_k(
    query: Features,
    gallery: Features,
    k: int = 10,
    *,
    candidates: Tensor | None = None,
    camera_filter: bool = False,
    query_chunk: int = 256,
    gallery_chunk: int = 20_000,
) -> TopK:
    """The ``k`` closest gallery rows of every query by eq. 25 (memory ~ query_chunk x G distances).

    ``candidates`` (Q, S): only these gallery rows are ranked for each query (-1 = none), e.g. a faiss
    shortlist; ties still break by gallery order. ``camera_filter``: leave out gallery rows with the
    query's id and camera (needs ``pids`` and ``camids`` on both sides).
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if query.global_.shape[1] != gallery.global_.shape[1]:
        raise ValueError(
            f"{gallery.name}: feature size {gallery.global_.shape[1]} differs from {query.name}'s "
            f"{query.global_.shape[1]}"
        )
    q_n, g_n = len(query), len(gallery)
    width = g_n if candidates is None else candidates.shape[1]
    k = min(k, max(width, 1))
    index = torch.full((q_n, k), -1, dtype=torch.long)
    distance = torch.full((q_n, k), float("inf"))
    for q0 in range(0, q_n, query_chunk):
        q = query.select(slice(q0, q0 + query_chunk))
        if candidates is None:
            blocks = range(0, g_n, gallery_chunk)
            dist = torch.cat(
                [feature_distance(q, gallery.select(slice(g0, g0 + gallery_chunk))) for g0 in blocks], 1
            ).cpu()
            cols = torch.arange(g_n).expand(len(q), g_n)
        else:
            cols, dist = _candidate_distances(q, gallery, candidates[q0 : q0 + len(q)])
        if camera_filter:
            dist = dist.masked_fill(_protocol_mask(q, gallery, cols.clamp(min=0)), float("inf"))
        idx, d = _pick(dist, cols, k)
        index[q0 : q0 + len(q)], distance[q0 : q0 + len(q)] = idx, d.float()
    safe = index.clamp(min=0)
    shared = query.visibility.cpu()[:, None, :] & gallery.visibility.cpu()[safe]  # (Q, k, K)
    return TopK(index, distance, shared & (index >= 0)[..., None])


def _candidate_distances(q: Features, gallery: Features, candidates: Tensor) -> tuple[Tensor, Tensor]:
    """Each query's candidate rows (q, S) in gallery order, -1 last, and their eq. 25 distances (inf at -1)."""
    n = len(gallery)
    cols = torch.sort(
        torch.where(candidates >= 0, candidates.long(), n), dim=1
    ).values  # ties as exact search
    dist = torch.full(cols.shape, float("inf"), dtype=q.global_.dtype)
    for i in range(len(q)):
        real = cols[i] < n
        if real.any():
            dist[i, real] = feature_distance(q.select(slice(i, i + 1)), gallery.select(cols[i, real]))[
                0
            ].cpu()
    return cols.masked_fill(cols == n, -1), dist

"""Top-k by eq. 25: exact over a whole gallery, or exact re-ranking of a faiss shortlist.

The distance itself is ``ogfr.metrics.visibility_distance`` (eq. 25); this module only chunks it, picks the
top k (ties broken by gallery order, like a stable sort) and counts the parts visible on both sides.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ogfr.search.records import Embeddings, part_names


@dataclass(frozen=True)
class TopK:
    """``index`` (Q, k) gallery rows, ``distance`` (Q, k) eq. 25, ``shared`` (Q, k, K) bool; -1 pads short rows."""

    index: torch.Tensor
    distance: torch.Tensor
    shared: torch.Tensor

    def row(self, q: int) -> Iterator[tuple[int, float, tuple[str, ...]]]:
        """(gallery row, distance, names of shared visible parts) for query ``q``, best first."""
        for gi, d, s in zip(self.index[q].tolist(), self.distance[q].tolist(), self.shared[q], strict=True):
            if gi >= 0:
                yield gi, float(d), part_names(s)


def eq25(query: Embeddings, gallery: Embeddings) -> torch.Tensor:
    """(Q, G) visibility-weighted distance of eq. 25 between all query and gallery rows.

    A model without part features (the plain-ViT baseline, K = 0) gives D(global), eq. 25 with no parts.
    """
    from ogfr.metrics import pairwise_distance, visibility_distance

    if query.parts.shape[1] == 0:
        return pairwise_distance(query.global_, gallery.global_)

    return visibility_distance(
        query.global_, query.parts, query.visibility, gallery.global_, gallery.parts, gallery.visibility
    )


def _pick(dist: torch.Tensor, cand: torch.Tensor, top: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Stable top-``top`` smallest of ``dist`` (Q, M) whose columns are gallery rows ``cand`` (Q, M)."""
    order = torch.sort(dist, dim=1, stable=True).indices[:, :top]
    return torch.gather(cand, 1, order), torch.gather(dist, 1, order)


def _shared(query: Embeddings, gallery: Embeddings, index: torch.Tensor) -> torch.Tensor:
    """(Q, k, K) parts visible in the query and in each chosen gallery row (-1 rows: none)."""
    safe = index.clamp(min=0)
    shared = query.visibility[:, None, :] & gallery.visibility[safe]  # (Q, k, K)
    return shared & (index >= 0)[..., None]


def exact_topk(
    query: Embeddings, gallery: Embeddings, top: int = 10, query_chunk: int = 256, gallery_chunk: int = 20_000
) -> TopK:
    """Exact top-``top`` by eq. 25 over the whole gallery, in chunks (memory ~ query_chunk x G floats)."""
    q_n, g_n = len(query), len(gallery)
    k = min(top, g_n)
    idx_out = torch.full((q_n, k), -1, dtype=torch.long)
    dist_out = torch.full((q_n, k), float("inf"))
    for q0 in range(0, q_n, query_chunk):
        q = query.select(slice(q0, q0 + query_chunk))
        dist = torch.cat(
            [eq25(q, gallery.select(slice(g0, g0 + gallery_chunk))) for g0 in range(0, g_n, gallery_chunk)],
            dim=1,
        )  # (q, G)
        cand = torch.arange(g_n).expand(len(q), g_n)
        idx, d = _pick(dist, cand, k)
        idx_out[q0 : q0 + len(q)], dist_out[q0 : q0 + len(q)] = idx, d
    return TopK(idx_out, dist_out, _shared(query, gallery, idx_out))


def rerank_candidates(
    query: Embeddings, gallery: Embeddings, candidates: torch.Tensor, top: int = 10
) -> TopK:
    """Exact eq. 25 re-ranking of ``candidates`` (Q, S) gallery rows per query (-1 = no candidate)."""
    q_n, s = candidates.shape
    k = min(top, s)
    idx_out = torch.full((q_n, k), -1, dtype=torch.long)
    dist_out = torch.full((q_n, k), float("inf"))
    for qi in range(q_n):
        cand = candidates[qi]
        cand = cand[cand >= 0]
        # Gallery order inside the shortlist, so ties break as in the exact search.
        cand = torch.sort(cand).values
        if len(cand) == 0:
            continue
        dist = eq25(query.select(slice(qi, qi + 1)), gallery.select(cand))  # (1, S')
        idx, d = _pick(dist, cand[None], k)
        idx_out[qi, : idx.shape[1]], dist_out[qi, : idx.shape[1]] = idx[0], d[0]
    return TopK(idx_out, dist_out, _shared(query, gallery, idx_out))


def shortlist_topk(
    query: Embeddings,
    gallery: Embeddings,
    faiss_index: Any,
    top: int = 10,
    shortlist: int = 1000,
    nprobe: int = 32,
) -> TopK:
    """Shortlist ``shortlist`` rows per query with faiss on the global feature, then re-rank with eq. 25."""
    from ogfr.search.faiss_shortlist import faiss_candidates

    cand = faiss_candidates(faiss_index, query.global_, max(shortlist, top), nprobe=nprobe)
    return rerank_candidates(query, gallery, torch.from_numpy(np.asarray(cand, dtype=np.int64)), top=top)

"""k-reciprocal re-ranking (Zhong et al., "Re-ranking person re-identification with k-reciprocal
encoding", CVPR 2017), memory-bounded.

The original algorithm works on the dense (N, N) matrix of all query + gallery items, N = Q + G. Here
only sparse structures are kept: the k1 + 1 nearest neighbours of every item (N x (k1 + 1) indices), the
sparse k-reciprocal weight vectors V (about 19 non-zeros per row measured on random features) and their
query-expanded version (at most k2 times that), plus one block of distance rows at a time. Distance rows
are computed twice for all N items (neighbours, then weights) and once more for the query rows (final).

Definitions follow the paper and its public code: squared distances, each row divided by its maximum;
R(i, k) = k-reciprocal neighbours (j in the top k + 1 of i and i in the top k + 1 of j); R(i, k1) is
expanded by R(c, round(k1 / 2)) of each candidate c that shares more than 2/3 of its set with R(i, k1);
V(i, j) = exp(-d(i, j)) normalised over the expanded set; local query expansion averages V over the k2
nearest neighbours; Jaccard distance 1 - sum_k min(V_ik, V_jk) / (2 - sum_k min(V_ik, V_jk)); final
distance (1 - lambda) * Jaccard + lambda * d. Ties in distance may order neighbours differently from
numpy's argsort.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ogfr.metrics._checks import as_float_tensor, check_rerank_params
from ogfr.metrics._progress import block_progress
from ogfr.metrics.features import Features, concat_features

RowBlock = Callable[[int, int], Tensor]  # (start, stop) -> (stop - start, N) distances to all N items

PAIR_BUDGET = 1 << 23  # (query entry, gallery entry) pairs per Jaccard step


def _reciprocal(top: Tensor, k: int) -> Tensor:
    """(N, k + 1) mask: top[i, m] is a k-reciprocal neighbour of i (i is in its top k + 1 too)."""
    t = top[:, : k + 1]
    me = torch.arange(t.shape[0], device=t.device).view(-1, 1, 1)
    return (t[t] == me).any(-1)  # t[t]: (N, k + 1, k + 1) neighbours of the neighbours


def _expanded_sets(top: Tensor, rec: Tensor, rec_h: Tensor, kh: int, rows: slice) -> tuple[Tensor, Tensor]:
    """Expanded k-reciprocal sets of ``rows``: sorted indices (R, M) and a mask of the unique valid ones."""
    n = top.shape[0]
    r_idx, r_ok = top[rows], rec[rows]  # (R, k1 + 1)
    h_idx, h_ok = top[:, : kh + 1][r_idx], rec_h[r_idx] & r_ok.unsqueeze(-1)  # (R, k1 + 1, kh + 1)
    member = ((h_idx.unsqueeze(-1) == r_idx[:, None, None, :]) & r_ok[:, None, None, :]).any(-1)
    inter = (member & h_ok).sum(-1).to(torch.float64)
    size = h_ok.sum(-1).to(torch.float64)
    accept = (inter > 2.0 / 3.0 * size) & r_ok  # candidate c adds its half-size set R(c, kh)
    cand = torch.cat([r_idx, h_idx.flatten(1)], 1)  # (R, (k1 + 1) (kh + 2))
    ok = torch.cat([r_ok, (h_ok & accept.unsqueeze(-1)).flatten(1)], 1)
    cand = torch.where(ok, cand, torch.full_like(cand, n)).sort(1).values
    uniq = cand < n
    uniq[:, 1:] &= cand[:, 1:] != cand[:, :-1]
    return cand.clamp(max=n - 1), uniq


def _rerank_core(
    row_block: RowBlock, n: int, nq: int, k1: int, k2: int, lam: float, chunk: int, progress: bool
) -> Iterator[tuple[slice, Tensor]]:
    """Yields (query rows, (rows, G) re-ranked distances) for blocks of query rows."""
    kh = int(round(k1 / 2.0))
    kk = min(k1 + 1, n)
    blocks = [slice(s, min(n, s + chunk)) for s in range(0, n, chunk)]
    with block_progress(2 * len(blocks) + (nq + chunk - 1) // chunk, progress, "re-ranking") as step:
        # Pass 1: nearest neighbours and row maxima of the squared distances.
        tops, maxes = [], []
        for b in blocks:
            d2 = row_block(b.start, b.stop).float().square_()
            maxes.append(d2.amax(1).clamp_(min=torch.finfo(torch.float32).tiny))
            tops.append(torch.topk(d2, kk, dim=1, largest=False, sorted=True).indices)
            step()
        top, rowmax = torch.cat(tops), torch.cat(maxes)
        if kk < k1 + 1:  # fewer items than k1 + 1: every item is a neighbour
            top = torch.cat([top, top[:, -1:].expand(-1, k1 + 1 - kk)], 1)
        rec, rec_h = _reciprocal(top, k1), _reciprocal(top, kh)
        # Pass 2: sparse weight vectors V (COO pieces).
        vr, vc, vv = [], [], []
        for b in blocks:
            d2 = row_block(b.start, b.stop).float().square_() / rowmax[b].unsqueeze(1)
            idx, ok = _expanded_sets(top, rec, rec_h, kh, b)
            w = torch.exp(-d2.gather(1, idx)) * ok
            w = w / w.sum(1, keepdim=True)
            r = torch.arange(b.start, b.stop, device=idx.device).unsqueeze(1).expand_as(idx)
            vr.append(r[ok])
            vc.append(idx[ok])
            vv.append(w[ok])
            step()
        v = torch.sparse_coo_tensor(
            torch.stack([torch.cat(vr), torch.cat(vc)]), torch.cat(vv), (n, n), check_invariants=False
        )
        if k2 != 1:  # local query expansion: mean of V over the k2 nearest neighbours
            qe_r = torch.arange(n, device=top.device).repeat_interleave(k2)
            qe = torch.sparse_coo_tensor(
                torch.stack([qe_r, top[:, :k2].reshape(-1)]),
                torch.full((n * k2,), 1.0 / k2),
                (n, n),
                check_invariants=False,
            )
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
                v = torch.sparse.mm(qe.coalesce(), v.coalesce())
        v = v.coalesce()
        vi, vj = v.indices()
        vals = v.values()
        # Gallery rows of V by column (CSC) for the Jaccard join; query rows of V by row (CSR).
        gal = vi >= nq
        col_order = torch.argsort(vj[gal], stable=True)
        g_rows, g_cols, g_vals = vi[gal][col_order] - nq, vj[gal][col_order], vals[gal][col_order]
        col_ptr = torch.zeros(n + 1, dtype=torch.long, device=vi.device)
        col_ptr[1:] = torch.bincount(g_cols, minlength=n).cumsum(0)
        row_ptr = torch.zeros(n + 1, dtype=torch.long, device=vi.device)
        row_ptr[1:] = torch.bincount(vi, minlength=n).cumsum(0)
        ng = n - nq
        # Pass 3: final distances, one block of query rows at a time.
        for s in range(0, nq, chunk):
            rows = slice(s, min(nq, s + chunk))
            d2 = row_block(rows.start, rows.stop)[:, nq:].float().square_() / rowmax[rows].unsqueeze(1)
            tmin = torch.zeros(rows.stop - rows.start, ng)
            a, e = int(row_ptr[rows.start]), int(row_ptr[rows.stop])
            q_r, q_c, q_v = vi[a:e] - rows.start, vj[a:e], vals[a:e]
            cnt = col_ptr[q_c + 1] - col_ptr[q_c]  # gallery entries sharing each query entry's column
            ends = torch.cumsum(cnt, 0)
            for lo, hi in _pair_slices(ends):
                c = cnt[lo:hi]
                rep = torch.repeat_interleave(torch.arange(lo, hi), c)
                start = ends[lo:hi] - c - (ends[lo - 1] if lo > 0 else 0)
                within = torch.arange(int(c.sum())) - torch.repeat_interleave(start, c)
                pos = col_ptr[q_c[rep]] + within
                tmin.index_put_(
                    (q_r[rep], g_rows[pos]), torch.minimum(q_v[rep], g_vals[pos]), accumulate=True
                )
            jaccard = 1.0 - tmin / (2.0 - tmin)
            yield rows, jaccard * (1.0 - lam) + d2 * lam
            step()


def _pair_slices(ends: Tensor) -> Iterator[tuple[int, int]]:
    """Split query entries so that each step joins at most about PAIR_BUDGET pairs."""
    lo, total = 0, len(ends)
    while lo < total:
        base = int(ends[lo - 1]) if lo > 0 else 0
        hi = int(torch.searchsorted(ends, torch.tensor(base + PAIR_BUDGET), right=True))
        hi = max(hi, lo + 1)
        yield lo, min(hi, total)
        lo = hi


def rerank_features(
    query: Features,
    gallery: Features,
    dist_fn: Callable[[Features, Features], Tensor],
    k1: int,
    k2: int,
    lambda_value: float,
    chunk: int,
    device: torch.device,
    progress: bool = False,
) -> Iterator[tuple[slice, Tensor]]:
    """Re-ranked (rows, G) distance blocks for blocks of query rows, from features (used by evaluate,
    whose ``RankOptions`` checked k1, k2 and lambda_value)."""
    every = concat_features(query, gallery).select(slice(None), device)
    n, nq = len(every), len(query)

    def row_block(s: int, e: int) -> Tensor:
        return dist_fn(every.select(slice(s, e)), every).cpu()

    yield from _rerank_core(row_block, n, nq, k1, k2, float(lambda_value), chunk, progress)


def re_ranking(
    q_g_dist: Any, q_q_dist: Any, g_g_dist: Any, k1: int = 20, k2: int = 6, lambda_value: float = 0.3
) -> Any:
    """k-reciprocal re-ranking of a (Q, G) distance matrix (the usual signature of the public code).

    Args:
        q_g_dist: (Q, G), q_q_dist: (Q, Q), g_g_dist: (G, G) distances (numpy or tensors).
    Returns:
        (Q, G) float32 re-ranked distances, numpy when ``q_g_dist`` is numpy, else a tensor. The inputs
        are already dense; the work itself only holds sparse structures and one block of rows.
    """
    check_rerank_params(k1, k2, lambda_value)
    was_numpy = isinstance(q_g_dist, np.ndarray)
    qg = as_float_tensor(q_g_dist, "q_g_dist", 2).cpu()
    nq, ng = qg.shape
    qq = as_float_tensor(q_q_dist, "q_q_dist", 2).cpu()
    gg = as_float_tensor(g_g_dist, "g_g_dist", 2).cpu()
    if qq.shape != (nq, nq):
        raise ValueError(f"q_q_dist: expected shape {(nq, nq)} (Q = rows of q_g_dist), got {tuple(qq.shape)}")
    if gg.shape != (ng, ng):
        raise ValueError(
            f"g_g_dist: expected shape {(ng, ng)} (G = columns of q_g_dist), got {tuple(gg.shape)}"
        )

    def row_block(s: int, e: int) -> Tensor:
        parts = []
        if s < nq:
            parts.append(torch.cat([qq[s : min(e, nq)], qg[s : min(e, nq)]], 1))
        if e > nq:
            a, b = max(s, nq) - nq, e - nq
            parts.append(torch.cat([qg[:, a:b].t(), gg[a:b]], 1))
        return torch.cat(parts).float()

    chunk = max(1, min(nq + ng, (1 << 24) // (nq + ng)))
    out = torch.empty(nq, ng)
    for rows, block in _rerank_core(row_block, nq + ng, nq, k1, k2, float(lambda_value), chunk, False):
        out[rows] = block
    return out.numpy() if was_numpy else out

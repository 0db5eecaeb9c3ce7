"""k-reciprocal re-ranking against a straightforward dense implementation written here."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ogfr.metrics import Features, RankOptions, evaluate, evaluate_distmat, pairwise_distance, re_ranking
from ogfr.metrics import rerank as rerank_mod


def dense_rerank(qg, qq, gg, k1, k2, lam):
    """The algorithm as the paper states it, on the dense (N, N) matrix, one item at a time."""
    nq = qg.shape[0]
    full = np.block([[qq, qg], [qg.T, gg]]).astype(np.float64) ** 2
    n = full.shape[0]
    dist = full / full.max(1, keepdims=True)
    rank = np.argsort(dist, axis=1, kind="stable")

    def recip(i, k):
        return [j for j in rank[i, : k + 1] if i in rank[j, : k + 1]]

    v = np.zeros((n, n))
    for i in range(n):
        r = recip(i, k1)
        expanded = set(r)
        for c in r:
            rc = recip(c, int(round(k1 / 2)))
            if len(set(rc) & set(r)) > 2 / 3 * len(rc):
                expanded |= set(rc)
        idx = sorted(expanded)
        w = np.exp(-dist[i, idx])
        v[i, idx] = w / w.sum()
    if k2 != 1:
        v = np.stack([v[rank[i, :k2]].mean(0) for i in range(n)])
    out = np.zeros((nq, n - nq))
    for i in range(nq):
        for j in range(nq, n):
            m = np.minimum(v[i], v[j]).sum()
            out[i, j - nq] = (1 - m / (2 - m)) * (1 - lam) + dist[i, j] * lam
    return out


def _points(seed, nq, ng, d=6):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(nq, d, generator=g, dtype=torch.float64), torch.randn(
        ng, d, generator=g, dtype=torch.float64
    )


@pytest.mark.parametrize("k1, k2, lam, seed", [(20, 6, 0.3, 0), (5, 3, 0.5, 1), (4, 1, 0.0, 2)])
def test_rerank_matches_dense_reference(k1, k2, lam, seed):
    q, g = _points(seed, 12, 50)
    qg, qq, gg = (pairwise_distance(a, b).numpy() for a, b in ((q, g), (q, q), (g, g)))
    want = dense_rerank(qg, qq, gg, k1, k2, lam)
    got = re_ranking(qg, qq, gg, k1=k1, k2=k2, lambda_value=lam)
    assert isinstance(got, np.ndarray) and got.shape == (12, 50)
    np.testing.assert_allclose(got, want, rtol=0, atol=2e-5)
    # tensors in -> tensor out; small join steps give the same numbers
    got_t = re_ranking(
        torch.from_numpy(qg), torch.from_numpy(qq), torch.from_numpy(gg), k1=k1, k2=k2, lambda_value=lam
    )
    assert isinstance(got_t, torch.Tensor)
    np.testing.assert_allclose(got_t.numpy(), got, rtol=0, atol=1e-6)


def test_rerank_join_in_small_steps(monkeypatch):
    q, g = _points(3, 10, 40)
    qg, qq, gg = (pairwise_distance(a, b).numpy() for a, b in ((q, g), (q, q), (g, g)))
    want = re_ranking(qg, qq, gg)
    monkeypatch.setattr(rerank_mod, "PAIR_BUDGET", 7)
    np.testing.assert_allclose(re_ranking(qg, qq, gg), want, rtol=0, atol=1e-6)


def test_evaluate_with_rerank_equals_distmat_rerank():
    q, g = _points(4, 15, 60)
    q, g = q.float(), g.float()
    gen = torch.Generator().manual_seed(0)
    qp, gp = torch.randint(0, 8, (15,), generator=gen), torch.randint(0, 8, (60,), generator=gen)
    qc, gc = torch.zeros(15, dtype=torch.long), torch.ones(60, dtype=torch.long)
    a = evaluate(Features(q), Features(g), qp, gp, qc, gc, RankOptions(rerank=True, chunk_size=7))
    b = evaluate_distmat(
        pairwise_distance(q, g),
        qp,
        gp,
        qc,
        gc,
        RankOptions(rerank=True),
        q_q_dist=pairwise_distance(q, q),
        g_g_dist=pairwise_distance(g, g),
    )
    np.testing.assert_allclose(a.cmc, b.cmc, atol=1e-6)
    assert a.mAP == pytest.approx(b.mAP, abs=1e-6) and a.settings["rerank"] is True


def test_rerank_bad_input():
    qg, qq, gg = np.zeros((2, 3), np.float32), np.zeros((2, 2), np.float32), np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="g_g_dist: expected shape"):
        re_ranking(qg, qq, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="k2"):
        re_ranking(qg, qq, gg, k1=3, k2=9)
    with pytest.raises(ValueError, match="lambda_value"):
        re_ranking(qg, qq, gg, lambda_value=2.0)
    with pytest.raises(ValueError, match="q_q_dist, g_g_dist"):
        evaluate_distmat(qg, [0, 1], [0, 1, 2], [0, 0], [1, 1, 1], RankOptions(rerank=True))

"""Cross-checks against torchreid 0.2.5 and fast-reid 1.4.0 (their pure-Python evaluate_rank).

Random and adversarial inputs: ties in distance (integer distances, duplicated gallery rows), queries
without a valid match, junk ids, one camera, duplicated queries. CMC, mAP and mINP must agree to 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ogfr.metrics import Features, RankOptions, evaluate, evaluate_distmat, evaluate_rank, pairwise_distance

TOL = 1e-6


class _StableNumpy:
    """numpy with a stable argsort, to run a reference with ties broken by gallery index."""

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def argsort(a, axis=-1):
        return np.argsort(a, axis=axis, kind="stable")


def _case(seed: int):
    """One random or adversarial problem; kept large enough that the references' Python code works."""
    rng = np.random.default_rng(seed)
    kind = seed % 6
    nq, ng, nid = int(rng.integers(2, 25)), int(rng.integers(60, 160)), int(rng.integers(2, 12))
    qp, gp = rng.integers(0, nid, nq), rng.integers(0, nid, ng)
    qc, gc = rng.integers(0, 3, nq), rng.integers(0, 3, ng)
    d = rng.random((nq, ng)).astype(np.float32)
    if kind == 1:  # heavy ties: few distinct values
        d = rng.integers(0, 4, (nq, ng)).astype(np.float32)
    elif kind == 2:  # duplicated gallery items (same features -> same distances), duplicated queries
        src = rng.integers(0, ng, ng // 3)
        d[:, : len(src)] = d[:, src]
        gp[: len(src)] = gp[src]
        d[nq // 2 :] = d[: nq - nq // 2]
        qp[nq // 2 :] = qp[: nq - nq // 2]
    elif kind == 3:  # queries whose identity is absent from the gallery
        qp[: max(1, nq // 2)] = nid + 5
    elif kind == 4:  # one camera for the whole gallery, the queries in another
        gc[:] = 1
        qc[:] = 0
    elif kind == 5:  # float64 input and a distance matrix from features
        q = rng.standard_normal((nq, 8))
        g = rng.standard_normal((ng, 8))
        d = np.sqrt(((q[:, None] - g[None]) ** 2).sum(-1))
    return d, qp, gp, qc, gc


def _valid(d, qp, gp, qc, gc, max_rank):
    """The references' Python code needs >= max_rank kept items per valid query and one valid query."""
    kept = ~((gp[None] == qp[:, None]) & (gc[None] == qc[:, None]))
    match = (gp[None] == qp[:, None]) & kept
    has = match.any(1)
    return has.any() and np.all(kept.sum(1)[has] >= max_rank)


@pytest.mark.parametrize("seed", range(36))
def test_agrees_with_torchreid_and_fastreid(seed, torchreid_rank, fastreid_rank):
    d, qp, gp, qc, gc = _case(seed)
    max_rank = 20
    assert _valid(d, qp, gp, qc, gc, max_rank)
    cmc_t, map_t = torchreid_rank.evaluate_rank(d, qp, gp, qc, gc, max_rank=max_rank, use_cython=False)
    cmc_f, ap_f, inp_f = fastreid_rank.evaluate_rank(d, qp, gp, qc, gc, max_rank=max_rank, use_cython=False)
    res = evaluate_distmat(d, qp, gp, qc, gc, RankOptions(max_rank=max_rank, junk_pid=None))
    np.testing.assert_allclose(res.cmc, cmc_t, rtol=0, atol=TOL)
    np.testing.assert_allclose(res.cmc, cmc_f, rtol=0, atol=TOL)
    assert abs(res.mAP - map_t) <= TOL and abs(res.mAP - np.mean(ap_f)) <= TOL
    assert abs(res.mINP - np.mean(inp_f)) <= TOL
    assert res.num_valid == len(ap_f)
    # the torchreid drop-in: same types and values, numpy or tensors in
    cmc, m = evaluate_rank(torch.from_numpy(d), torch.from_numpy(qp), gp, qc, torch.from_numpy(gc), max_rank)
    assert cmc.dtype == np.float32 and cmc.shape == cmc_t.shape
    np.testing.assert_allclose(cmc, cmc_t, rtol=0, atol=TOL)
    assert abs(m - map_t) <= TOL


@pytest.mark.parametrize("seed", [1, 7, 13, 2, 8])
def test_stable_ties_agree_with_a_stable_reference(seed, fastreid_rank, monkeypatch):
    d, qp, gp, qc, gc = _case(seed)
    monkeypatch.setattr(fastreid_rank, "np", _StableNumpy())
    cmc_f, ap_f, inp_f = fastreid_rank.evaluate_rank(d, qp, gp, qc, gc, max_rank=20, use_cython=False)
    res = evaluate_distmat(d, qp, gp, qc, gc, RankOptions(max_rank=20, junk_pid=None, ties="stable"))
    np.testing.assert_allclose(res.cmc, cmc_f, rtol=0, atol=TOL)
    assert abs(res.mAP - np.mean(ap_f)) <= TOL and abs(res.mINP - np.mean(inp_f)) <= TOL


def test_junk_handling_equals_reference_without_the_junk(fastreid_rank):
    d, qp, gp, qc, gc = _case(0)
    gp[::7] = -1
    qp[0] = -1
    res = evaluate_distmat(d, qp, gp, qc, gc, RankOptions(max_rank=20))
    keep_g, keep_q = gp != -1, qp != -1
    cmc_f, ap_f, inp_f = fastreid_rank.evaluate_rank(
        d[keep_q][:, keep_g], qp[keep_q], gp[keep_g], qc[keep_q], gc[keep_g], max_rank=20, use_cython=False
    )
    np.testing.assert_allclose(res.cmc, cmc_f, rtol=0, atol=TOL)
    assert abs(res.mAP - np.mean(ap_f)) <= TOL and abs(res.mINP - np.mean(inp_f)) <= TOL
    assert res.num_skipped == len(qp) - len(ap_f)


def test_many_float32_ties_deep_in_the_list(fastreid_rank, torchreid_rank):
    """Coarsely rounded feature distances: many positive/negative ties, most of them far down the list."""
    g = torch.Generator().manual_seed(3)
    q = torch.nn.functional.normalize(torch.randn(30, 8, generator=g), dim=1)
    gal = torch.nn.functional.normalize(torch.randn(2000, 8, generator=g), dim=1)
    d = (pairwise_distance(q, gal) * 512).round() / 512  # ~700 distinct values for 2000 items
    qp = torch.randint(0, 40, (30,), generator=g).numpy()
    gp = torch.randint(0, 40, (2000,), generator=g).numpy()
    qc, gc = np.zeros(30, dtype=np.int64), np.ones(2000, dtype=np.int64)
    dn = d.numpy()
    cmc_t, map_t = torchreid_rank.evaluate_rank(dn, qp, gp, qc, gc, max_rank=50, use_cython=False)
    _, ap_f, inp_f = fastreid_rank.evaluate_rank(dn, qp, gp, qc, gc, max_rank=50, use_cython=False)
    res = evaluate_distmat(d, qp, gp, qc, gc, RankOptions(junk_pid=None))
    np.testing.assert_array_equal(res.cmc, cmc_t)
    assert abs(res.mAP - map_t) <= TOL and abs(res.mINP - np.mean(inp_f)) <= TOL


def test_evaluate_from_features_agrees_with_reference(fastreid_rank):
    g = torch.Generator().manual_seed(4)
    q = torch.nn.functional.normalize(torch.randn(50, 32, generator=g), dim=1)
    gal = torch.nn.functional.normalize(torch.randn(400, 32, generator=g), dim=1)
    qp, gp = torch.randint(0, 30, (50,), generator=g), torch.randint(0, 30, (400,), generator=g)
    qc, gc = torch.randint(0, 4, (50,), generator=g), torch.randint(0, 4, (400,), generator=g)
    res = evaluate(Features(q), Features(gal), qp, gp, qc, gc, RankOptions(chunk_size=16))
    dn = pairwise_distance(q, gal).numpy()
    cmc_f, ap_f, inp_f = fastreid_rank.evaluate_rank(
        dn, qp.numpy(), gp.numpy(), qc.numpy(), gc.numpy(), max_rank=50, use_cython=False
    )
    np.testing.assert_allclose(res.cmc, cmc_f, rtol=0, atol=TOL)
    assert abs(res.mAP - np.mean(ap_f)) <= TOL and abs(res.mINP - np.mean(inp_f)) <= TOL


@pytest.mark.parametrize("seed", [0, 4])
def test_cuhk03_single_shot_matches_torchreid(seed, torchreid_rank):
    d, qp, gp, qc, gc = _case(seed)
    np.random.seed(123)
    cmc_t, map_t = torchreid_rank.evaluate_rank(
        d, qp, gp, qc, gc, max_rank=10, use_metric_cuhk03=True, use_cython=False
    )
    np.random.seed(123)
    cmc, m = evaluate_rank(d, qp, gp, qc, gc, max_rank=10, use_metric_cuhk03=True)
    np.testing.assert_allclose(cmc, cmc_t, rtol=0, atol=TOL)
    assert abs(m - map_t) <= TOL
    # the rich API: seeded, reproducible, same AP as the multi-shot protocol
    a = evaluate_distmat(d, qp, gp, qc, gc, RankOptions(max_rank=10, junk_pid=None, cuhk03=True, seed=5))
    b = evaluate_distmat(d, qp, gp, qc, gc, RankOptions(max_rank=10, junk_pid=None, cuhk03=True, seed=5))
    multi = evaluate_distmat(d, qp, gp, qc, gc, RankOptions(max_rank=10, junk_pid=None))
    np.testing.assert_array_equal(a.cmc, b.cmc)
    assert a.mAP == pytest.approx(multi.mAP, abs=1e-12)
    # one gallery image per identity: nothing to sample, the single-shot CMC is the usual one
    ug = np.arange(len(gp))
    uq = np.where(qp < len(gp), qp, 0)
    one = evaluate_distmat(d, uq, ug, qc, gc + 10, RankOptions(max_rank=10, cuhk03=True))
    np.testing.assert_array_equal(
        one.cmc, evaluate_distmat(d, uq, ug, qc, gc + 10, RankOptions(max_rank=10)).cmc
    )

"""CMC / mAP / mINP: hand-computed values, protocol switches, chunking, skipped queries, properties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ogfr.metrics import Features, RankOptions, evaluate, evaluate_distmat, evaluate_rank, pairwise_distance

# 3 queries x 5 gallery, worked out by hand in the comments.
D = np.array(
    [
        [0.5, 0.1, 0.2, 0.3, 0.4],  # q0 (id 1, cam 0): g2 dropped (id 1, cam 0); kept g1 g3 g4 g0 -> hit at 4
        [0.3, 0.2, 0.1, 0.5, 0.4],  # q1 (id 2, cam 0): g4 dropped; kept g2 g1 g0 g3 -> hits at 2 and 4
        [0.1, 0.2, 0.3, 0.4, 0.5],  # q2 (id 3): no id 3 in the gallery -> skipped
    ],
    dtype=np.float32,
)
QP, QC = np.array([1, 2, 3]), np.array([0, 0, 0])
GP, GC = np.array([1, 2, 1, 2, 2]), np.array([1, 1, 0, 1, 0])


def test_hand_computed_3x5():
    res = evaluate_distmat(D, QP, GP, QC, GC)
    np.testing.assert_array_equal(res.cmc, np.array([0, 0.5, 0.5, 1, 1], dtype=np.float32))  # first hits 4, 2
    assert res.mAP == pytest.approx((1 / 4 + (1 / 2 + 2 / 4) / 2) / 2)  # 0.375
    assert res.mINP == pytest.approx((1 / 4 + 2 / 4) / 2)  # INP = hits / rank of last hit
    assert (res.num_queries, res.num_skipped, res.num_valid) == (3, 1, 2)
    assert (res.rank1, res.rank5, res.rank20) == (0.0, 1.0, 1.0)  # a short curve keeps its last value


def test_hand_computed_trapezoid_ap():
    res = evaluate_distmat(D, QP, GP, QC, GC, RankOptions(ap="trapezoid"))
    # q0: hit at 4: (1/4 + 0/3) / 2 = 0.125; q1: hits at 2, 4: ((1/2 + 0) / 2 + (2/4 + 1/3) / 2) / 2
    q1 = ((0.5 + 0.0) / 2 + (0.5 + 1 / 3) / 2) / 2
    assert res.mAP == pytest.approx((0.125 + q1) / 2)


def test_camera_filter_off_keeps_same_camera_matches():
    res = evaluate_distmat(D, QP, GP, QC, GC, RankOptions(camera_filter=False))
    # q0 now also matches g2 (0.2): order g1 g2 g3 g4 g0 -> hits at 2, 5; q1: g4 (0.4) is a hit too:
    # order g2 g1 g0 g4 g3 -> hits at 2, 4, 5
    ap0 = (1 / 2 + 2 / 5) / 2
    ap1 = (1 / 2 + 2 / 4 + 3 / 5) / 3
    assert res.mAP == pytest.approx((ap0 + ap1) / 2)
    np.testing.assert_array_equal(res.cmc, np.array([0, 1, 1, 1, 1], dtype=np.float32))


def test_junk_gallery_items_are_dropped_and_junk_queries_skipped():
    gp = GP.copy()
    gp[1] = -1  # g1 (0.1 for q0, 0.2 for q1) becomes junk
    res = evaluate_distmat(D, np.array([1, 2, -1]), gp, QC, GC)
    # q0: kept g3 g4 g0 -> hit at 3; q1: kept g2 g0 g3 -> hit (g3) at 3; q2 has the junk id -> skipped
    assert res.mAP == pytest.approx(1 / 3)
    assert res.num_skipped == 1
    kept = evaluate_distmat(D, np.array([1, 2, -1]), gp, QC, GC, RankOptions(junk_pid=None))
    assert kept.num_skipped == 0  # junk handling off: -1 is an ordinary id (q2 matches g1)


def test_all_queries_skipped_is_an_error():
    with pytest.raises(ValueError, match="no query has a valid match"):
        evaluate_distmat(D, np.array([7, 8, 9]), GP, QC, GC)


def test_max_rank_cuts_the_curve():
    assert evaluate_distmat(D, QP, GP, QC, GC, RankOptions(max_rank=3)).cmc.shape == (3,)
    assert evaluate_rank(D, QP, GP, QC, GC, max_rank=50)[0].shape == (5,)


def _random_problem(seed: int, nq: int = 40, ng: int = 300, d: int = 16):
    g = torch.Generator().manual_seed(seed)
    q = torch.nn.functional.normalize(torch.randn(nq, d, generator=g), dim=1)
    gal = torch.nn.functional.normalize(torch.randn(ng, d, generator=g), dim=1)
    qp = torch.randint(0, 25, (nq,), generator=g)
    gp = torch.randint(0, 25, (ng,), generator=g)
    qc = torch.randint(0, 4, (nq,), generator=g)
    gc = torch.randint(0, 4, (ng,), generator=g)
    return q, gal, qp, gp, qc, gc


def test_chunked_equals_unchunked_and_equals_distmat_path():
    q, g, qp, gp, qc, gc = _random_problem(0)
    full = evaluate_distmat(pairwise_distance(q, g), qp, gp, qc, gc)
    for chunk in (1, 7, None, 1000):
        res = evaluate(Features(q), Features(g), qp, gp, qc, gc, RankOptions(chunk_size=chunk))
        np.testing.assert_array_equal(res.cmc, full.cmc)
        assert res.mAP == pytest.approx(full.mAP, abs=1e-12)
        assert res.mINP == pytest.approx(full.mINP, abs=1e-12)
    for chunk in (1, 13):
        res = evaluate_distmat(pairwise_distance(q, g), qp, gp, qc, gc, RankOptions(chunk_size=chunk))
        assert (res.mAP, res.mINP) == (full.mAP, full.mINP)


def test_parts_switch_uses_eq25_or_global():
    q, g, qp, gp, qc, gc = _random_problem(1)
    gen = torch.Generator().manual_seed(5)
    qf = Features(q, torch.randn(len(q), 3, 16, generator=gen), torch.rand(len(q), 3, generator=gen) > 0.5)
    gf = Features(g, torch.randn(len(g), 3, 16, generator=gen), torch.rand(len(g), 3, generator=gen) > 0.5)
    glob = evaluate(Features(q), Features(g), qp, gp, qc, gc)
    assert evaluate(qf, gf, qp, gp, qc, gc, RankOptions(use_parts=False)).mAP == glob.mAP
    with_parts = evaluate(qf, gf, qp, gp, qc, gc, RankOptions(chunk_size=9))
    assert with_parts.settings["distance"] == "eq25"
    assert with_parts.mAP != glob.mAP


def _ids_strategy():
    return st.integers(min_value=0, max_value=10_000)


@settings(max_examples=25, deadline=None)
@given(seed=_ids_strategy())
def test_properties_map_range_monotone_cmc_permutation_invariance(seed):
    rng = np.random.default_rng(seed)
    nq, ng = int(rng.integers(1, 12)), int(rng.integers(5, 60))
    d = rng.random((nq, ng)).astype(np.float32)  # continuous: no ties
    qp, gp = rng.integers(0, 5, nq), rng.integers(0, 5, ng)
    qc, gc = rng.integers(0, 2, nq), rng.integers(0, 2, ng)
    try:
        res = evaluate_distmat(d, qp, gp, qc, gc, RankOptions(max_rank=10))
    except ValueError:
        return  # no valid query at all: covered by test_all_queries_skipped_is_an_error
    assert 0.0 < res.mAP <= 1.0 and 0.0 < res.mINP <= 1.0
    assert np.all(np.diff(res.cmc) >= 0) and res.cmc[0] >= 0.0 and res.cmc[-1] <= 1.0
    perm = rng.permutation(ng)
    res_p = evaluate_distmat(d[:, perm], qp, gp[perm], qc, gc[perm], RankOptions(max_rank=10))
    np.testing.assert_array_equal(res.cmc, res_p.cmc)
    assert res_p.mAP == pytest.approx(res.mAP, abs=1e-12)
    assert res_p.mINP == pytest.approx(res.mINP, abs=1e-12)


@settings(max_examples=15, deadline=None)
@given(seed=_ids_strategy())
def test_perfect_distances_score_one(seed):
    rng = np.random.default_rng(seed)
    nq, ng = int(rng.integers(1, 10)), int(rng.integers(10, 40))
    qp = rng.integers(0, 4, nq)
    gp = np.concatenate([np.arange(4), rng.integers(0, 4, ng - 4)])  # every id in the gallery
    d = np.where(qp[:, None] == gp[None, :], 0.1, 1.0).astype(np.float32)
    res = evaluate_distmat(
        d + rng.random((nq, ng)).astype(np.float32) * 0.01, qp, gp, np.zeros(nq), np.ones(ng)
    )
    assert res.mAP == 1.0 and res.mINP == 1.0 and np.all(res.cmc == 1.0) and res.num_skipped == 0


def test_result_is_independent_of_query_order():
    q, g, qp, gp, qc, gc = _random_problem(2)
    res = evaluate(Features(q), Features(g), qp, gp, qc, gc)
    p = torch.randperm(len(q), generator=torch.Generator().manual_seed(0))
    res_p = evaluate(Features(q[p]), Features(g), qp[p], gp, qc[p], gc, RankOptions(chunk_size=5))
    np.testing.assert_array_equal(res.cmc, res_p.cmc)
    assert res_p.mAP == pytest.approx(res.mAP, abs=1e-12)

"""Distances (Euclidean, cosine, eq. 25), Features validation, RankResults output, bad input."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from ogfr.metrics import (
    Features,
    RankOptions,
    RankResults,
    evaluate,
    evaluate_distmat,
    pairwise_distance,
    visibility_distance,
)


def test_pairwise_euclidean_and_cosine_hand_computed():
    q = torch.tensor([[0.0, 0.0], [3.0, 4.0]])
    g = torch.tensor([[3.0, 4.0], [0.0, 1.0], [-1.0, 0.0]])
    torch.testing.assert_close(
        pairwise_distance(q, g), torch.tensor([[5.0, 1.0, 1.0], [0.0, math.sqrt(18.0), math.sqrt(32.0)]])
    )
    cos = pairwise_distance(q[1:], g, metric="cosine")  # 1 - cos: same direction 0, 4/5, 1 + 3/5
    torch.testing.assert_close(cos, torch.tensor([[0.0, 1 - 4 / 5, 1 + 3 / 5]]))


def test_eq25_hand_computed_2x2():
    # K = 2 parts of size 1, global of size 1: every D is |a - b|.
    qg, gg = torch.tensor([[0.0], [1.0]]), torch.tensor([[2.0], [4.0]])
    qp = torch.tensor([[[0.0], [0.0]], [[1.0], [3.0]]])  # (2, 2, 1)
    gp = torch.tensor([[[1.0], [2.0]], [[5.0], [0.0]]])
    qv = torch.tensor([[True, True], [True, False]])
    gv = torch.tensor([[True, False], [True, True]])
    want = torch.tensor(
        [
            [(1.0 + 2.0) / 2, 0.0],  # q0 vs g0: only part 0 visible in both (D=1), global D=2
            [(0.0 + 1.0) / 2, (4.0 + 3.0) / 2],  # q1 (part 1 hidden): only part 0 counts with both
        ]
    )
    # q0 vs g1: both parts visible on both sides: (|0-5| + |0-0| + |0-4|) / 3
    want[0, 1] = (5.0 + 0.0 + 4.0) / 3
    torch.testing.assert_close(visibility_distance(qg, qp, qv, gg, gp, gv), want)


@settings(max_examples=15, deadline=None)
@given(nq=st.integers(1, 6), ng=st.integers(1, 6), k=st.integers(1, 4), seed=st.integers(0, 1000))
def test_eq25_all_parts_invisible_equals_global(nq, ng, k, seed):
    gen = torch.Generator().manual_seed(seed)
    qg, gg = torch.randn(nq, 5, generator=gen), torch.randn(ng, 5, generator=gen)
    qp, gp = torch.randn(nq, k, 5, generator=gen), torch.randn(ng, k, 5, generator=gen)
    qv = torch.rand(nq, k, generator=gen) > 0.5
    # nothing visible on the gallery side -> no part is visible in both
    d = visibility_distance(qg, qp, qv, gg, gp, torch.zeros(ng, k, dtype=torch.bool))
    assert torch.equal(d, pairwise_distance(qg, gg))
    d2 = visibility_distance(
        qg, qp, torch.zeros(nq, k, dtype=torch.bool), gg, gp, torch.ones(ng, k, dtype=torch.bool)
    )
    assert torch.equal(d2, pairwise_distance(qg, gg))


def test_eq25_all_visible_is_the_mean_of_all_distances():
    gen = torch.Generator().manual_seed(0)
    qg, gg = torch.randn(3, 4, generator=gen), torch.randn(5, 4, generator=gen)
    qp, gp = torch.randn(3, 2, 4, generator=gen), torch.randn(5, 2, 4, generator=gen)
    t = torch.ones(3, 2, dtype=torch.bool)
    want = (
        pairwise_distance(qg, gg)
        + pairwise_distance(qp[:, 0], gp[:, 0])
        + pairwise_distance(qp[:, 1], gp[:, 1])
    ) / 3
    torch.testing.assert_close(
        visibility_distance(qg, qp, t, gg, gp, torch.ones(5, 2, dtype=torch.bool)), want
    )


def test_euclidean_matches_cdist():
    gen = torch.Generator().manual_seed(1)
    q, g = (
        torch.randn(7, 33, generator=gen, dtype=torch.float64),
        torch.randn(11, 33, generator=gen, dtype=torch.float64),
    )
    torch.testing.assert_close(pairwise_distance(q, g), torch.cdist(q, g))


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: pairwise_distance(torch.zeros(2, 3), torch.zeros(2, 4)), "g: shape"),
        (lambda: pairwise_distance(torch.zeros(0, 3), torch.zeros(2, 3)), "q: is empty"),
        (
            lambda: pairwise_distance(torch.tensor([[float("nan"), 0.0]]), torch.zeros(2, 2)),
            "q: contains 1 NaN",
        ),
        (
            lambda: pairwise_distance(torch.zeros(2, 2), torch.tensor([[float("inf"), 0.0]])),
            "g: contains 1 NaN or Inf",
        ),
        (
            lambda: pairwise_distance(torch.zeros(2, 2, dtype=torch.long), torch.zeros(2, 2)),
            "q: expected a floating",
        ),
        (lambda: pairwise_distance(torch.zeros(2, 2), torch.zeros(2, 2), metric="l1"), "metric"),
        (
            lambda: Features(torch.zeros(3, 4), torch.zeros(3, 2, 4), torch.ones(3, 2), name="query"),
            "query.visibility: expected dtype torch.bool",
        ),
        (
            lambda: Features(torch.zeros(3, 4), torch.zeros(3, 2, 4), torch.ones(3, 3, dtype=torch.bool)),
            "visibility: expected shape",
        ),
        (
            lambda: Features(torch.zeros(3, 4), torch.zeros(2, 2, 4), name="gallery"),
            "gallery.parts: expected 3 rows",
        ),
        (  # an empty record is allowed (an empty index), evaluating it is not
            lambda: evaluate(
                Features(torch.zeros(0, 4)), Features(torch.zeros(2, 4)), [], [1, 2], [], [0, 1]
            ),
            "no queries",
        ),
        (lambda: Features(torch.full((2, 4), float("nan")), name="query"), "query.global_: contains 8 NaN"),
        (lambda: Features(torch.zeros(2, 4), visibility=torch.ones(2, 2, dtype=torch.bool)), "given without"),
        (
            lambda: visibility_distance(
                torch.zeros(2, 3),
                torch.zeros(2, 2, 3),
                torch.ones(2, 2).bool(),
                torch.zeros(1, 3),
                torch.zeros(1, 2, 3),
                torch.ones(1, 2),
            ),
            "g_vis: expected dtype torch.bool",
        ),
    ],
)
def test_bad_input_names_the_argument(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_bad_evaluate_arguments():
    q, g = Features(torch.randn(4, 3), name="query"), Features(torch.randn(6, 3), name="gallery")
    ids = dict(q_pids=[0, 1, 2, 3], g_pids=[0, 1, 2, 3, 0, 1], q_camids=[0] * 4, g_camids=[1] * 6)
    with pytest.raises(ValueError, match="q_pids: expected 4 ids"):
        evaluate(q, g, **{**ids, "q_pids": [0, 1]})
    with pytest.raises(ValueError, match="g_camids: expected 6 ids"):
        evaluate(q, g, **{**ids, "g_camids": [1]})
    with pytest.raises(ValueError, match="chunk_size"):
        RankOptions(chunk_size=0)
    with pytest.raises(ValueError, match="gallery.global_: feature size"):
        evaluate(q, Features(torch.randn(6, 5), name="gallery"), **ids)
    with pytest.raises(ValueError, match="gallery.parts: missing"):
        evaluate(Features(torch.randn(4, 3), torch.randn(4, 2, 3)), g, **ids)
    with pytest.raises(ValueError, match="ap:"):
        RankOptions(ap="interpolated")
    with pytest.raises(ValueError, match="q_pids: expected integer ids"):
        evaluate(q, g, **{**ids, "q_pids": [0.5, 1, 2, 3]})
    with pytest.raises(ValueError, match="distmat: contains"):
        evaluate_distmat(np.full((4, 6), np.nan, dtype=np.float32), **ids)
    with pytest.raises(ValueError, match="gallery.global_: dtype"):
        evaluate(q, Features(torch.randn(6, 3, dtype=torch.float64), name="gallery"), **ids)
    with pytest.raises(ValueError, match="query: expected ogfr.metrics.Features"):
        evaluate(torch.randn(4, 3), g, **ids)


def test_features_parts_without_flags_are_visible():
    f = Features(torch.randn(2, 4), torch.randn(2, 3, 4), name="query")
    assert len(f) == 2 and f.has_parts and f.visibility.shape == (2, 3) and f.visibility.all()


def test_rank_results_table_and_json(tmp_path):
    res = RankResults(
        np.array([0.5, 0.75, 1.0], dtype=np.float32), 0.625, 0.5, 10, 2, {"metric": "euclidean"}
    )
    assert (res.rank1, res.rank5, res.rank10, res.num_valid) == (0.5, 1.0, 1.0, 8)
    text = res.table(rich=False)
    assert "Rank-1" in text and "50.00" in text and "62.50" in text and "skipped (no match)" in text
    from rich.table import Table

    assert isinstance(res.table(), Table)
    path = res.to_json(tmp_path / "r.json")
    data = json.loads(path.read_text())
    assert data["mAP"] == 0.625 and data["num_skipped"] == 2 and data["cmc"] == [0.5, 0.75, 1.0]
    assert data["settings"] == {"metric": "euclidean"}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temp file left behind
    with pytest.raises(FileNotFoundError, match="does not exist"):
        res.to_json(tmp_path / "missing" / "r.json")
    with pytest.raises(ValueError, match="k: expected"):
        res.rank(0)

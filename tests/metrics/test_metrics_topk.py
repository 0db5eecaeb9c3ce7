"""The one record (`Features`) and the ranked lists of `top_k`, against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from ogfr.metrics import Features, top_k
from ogfr.metrics.features import concat_features

E0, E1 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])


def test_eq25_ranked_by_hand():
    # K = 2 parts, D = 2. Query sees part 1 only; gallery row 0 sees both, row 1 sees part 2 only.
    q = Features(E0[None], torch.stack([E0, E1])[None], torch.tensor([[True, False]]))
    g = Features(
        torch.stack([E1, E0]),
        torch.stack([torch.stack([E0, E0]), torch.stack([E1, E1])]),
        torch.tensor([[True, True], [False, True]]),
    )
    top = top_k(q, g, 2)
    # row 0: (D(part1)=0 + D(global)=sqrt 2) / (1 + 1); row 1: no shared part -> D(global) = 0.
    assert top.index.tolist() == [[1, 0]]
    assert top.distance[0].tolist() == pytest.approx([0.0, math.sqrt(2) / 2])
    assert [int(s.sum()) for _, _, s in top.row(0)] == [0, 1]


def test_global_only_ties_camera_filter_and_padding():
    # Gallery rows 0, 1, 2 all at distance 0 from the query, row 3 far: ties keep gallery order.
    g = Features(
        torch.stack([E0, E0, E0, E1]),
        pids=torch.tensor([7, 7, 8, 7]),
        camids=torch.tensor([0, 1, 0, 0]),
    )
    q = Features(E0[None], pids=torch.tensor([7]), camids=torch.tensor([0]))
    assert q.num_parts == 0 and q.parts.shape == (1, 0, 2) and not q.has_parts
    assert top_k(q, g, 3).index.tolist() == [[0, 1, 2]]
    # The protocol leaves out rows with the query's id AND camera: rows 0 and 3.
    top = top_k(q, g, 10, camera_filter=True)
    assert top.index.tolist() == [[1, 2, -1, -1]]
    assert top.distance[0, :2].tolist() == [0.0, 0.0] and torch.isinf(top.distance[0, 2:]).all()
    assert [gi for gi, _, _ in top.row(0)] == [1, 2]
    with pytest.raises(ValueError, match="camera_filter needs pids and camids"):
        top_k(Features(E0[None]), g, 2, camera_filter=True)


def test_candidates_rank_only_the_shortlist_in_gallery_order():
    g = Features(torch.stack([E1, E0, E0, E1 * 0.5 + E0 * 0.5]))
    q = Features(E0[None].repeat(2, 1))
    # Query 0: shortlist given out of order with padding; query 1: only the far rows.
    cand = torch.tensor([[2, -1, 3, 1], [0, 3, -1, -1]])
    top = top_k(q, g, 3, candidates=cand)
    assert top.index.tolist() == [[1, 2, 3], [3, 0, -1]]  # tie 1 vs 2 broken by gallery order
    exact = top_k(q, g, 3)
    assert torch.equal(exact.index[0], top.index[0])
    assert torch.allclose(top.distance[0], exact.distance[0])


def test_parts_on_one_side_only_is_an_error():
    with_parts = Features(E0[None], torch.stack([E0, E1])[None])
    with pytest.raises(ValueError, match="K = 0 parts"):
        top_k(with_parts, Features(E0[None]), 1)
    with pytest.raises(ValueError, match="k must be"):
        top_k(with_parts, with_parts, 0)


def test_features_record_checks_and_rows():
    f = Features(
        torch.randn(3, 4),
        torch.randn(3, 2, 4),
        torch.tensor([[True, False]] * 3),
        z=torch.tensor([[0, 1], [1, 1], [0, 0]]),
        pids=[5, 6, 7],
        camids=[0, 1, 0],
        paths=["a.jpg", "b.jpg", "c.jpg"],
        model="m",
    )
    rows = f.select([2, 0])
    assert (
        rows.paths == ("c.jpg", "a.jpg")
        and rows.pids.tolist() == [7, 5]
        and rows.z.tolist() == [[0, 0], [0, 1]]
    )
    assert f.select(slice(1, 2)).paths == ("b.jpg",) and rows.model == "m"
    both = concat_features(f, rows, name="x")
    assert len(both) == 5 and both.paths[3:] == ("c.jpg", "a.jpg") and both.name == "x"
    assert concat_features(f, Features(torch.randn(1, 4), torch.randn(1, 2, 4), model="m")).paths is None
    with pytest.raises(ValueError, match="another model"):
        concat_features(f, Features(torch.randn(1, 4), torch.randn(1, 2, 4), model="other"))
    with pytest.raises(ValueError, match="K = 0"):
        concat_features(f, Features(torch.randn(1, 4), model="m"))
    assert not f.global_only().has_parts and f.global_only().visibility.shape == (3, 0)
    for bad, match in (
        (dict(z=torch.zeros(2, 2)), "z: expected"),
        (dict(pids=[1, 2]), "pids: expected 3"),
        (dict(paths=["a"]), "paths: expected 3"),
        (dict(visibility=torch.ones(3, 2, dtype=torch.bool)), "given without"),
    ):
        with pytest.raises(ValueError, match=match):
            Features(torch.randn(3, 4), **bad)
    with pytest.raises(ValueError, match="NaN or Inf"):
        Features(torch.full((2, 4), float("nan")))
    empty = Features(torch.zeros(0, 4), torch.zeros(0, 8, 4))  # an empty gallery is a record too
    assert len(empty) == 0 and empty.num_parts == 8

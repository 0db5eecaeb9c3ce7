"""Eq. 1-2: coarse pixel counts and the occlusion code, against hand counts."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from ogfr.parsing import CodeSettings, coarse_counts, occlusion_code


def _map_with_counts(counts: dict[int, int], shape=(8, 8)) -> np.ndarray:
    """A label map with exactly ``counts[part]`` pixels of each fine part (row-major fill)."""
    flat = np.zeros(shape[0] * shape[1], dtype=np.int64)
    pos = 0
    for part, n in counts.items():
        flat[pos : pos + n] = part
        pos += n
    return flat.reshape(shape)


def test_counts_by_hand_c4():
    # head 5, left arm 2 + right arm 3 (arms 5), torso 4, legs 1 + 1 + feet 1 + 1 = 4
    m = _map_with_counts({1: 5, 2: 2, 3: 3, 4: 4, 5: 1, 6: 1, 7: 1, 8: 1})
    assert coarse_counts(m, 4).tolist() == [[5, 5, 4, 4]]
    # lam = 5: count == lam is visible, count < lam occluded
    assert occlusion_code(m, 4, 5.0).tolist() == [[0, 0, 1, 1]]
    assert occlusion_code(m, 4, 4.0).tolist() == [[0, 0, 0, 0]]
    assert occlusion_code(m, 4, 6.0).tolist() == [[1, 1, 1, 1]]
    assert occlusion_code(m, 4, 0.0).tolist() == [[0, 0, 0, 0]]


@pytest.mark.parametrize(
    ("num_coarse", "expected_counts"),
    [
        (1, [[18]]),
        (2, [[14, 4]]),
        (4, [[5, 5, 4, 4]]),
        (8, [[5, 2, 3, 4, 1, 1, 1, 1]]),
    ],
)
def test_every_c(num_coarse, expected_counts):
    m = _map_with_counts({1: 5, 2: 2, 3: 3, 4: 4, 5: 1, 6: 1, 7: 1, 8: 1})
    assert coarse_counts(m, num_coarse).tolist() == expected_counts
    z = occlusion_code(m, num_coarse, 5.0)
    assert z.shape == (1, num_coarse) and z.dtype == np.int64
    assert z.tolist() == [[int(c < 5) for c in expected_counts[0]]]


def test_background_and_unknown_count_for_nothing():
    m = np.full((4, 4), -1, dtype=np.int64)
    m[0, 0] = 0
    assert coarse_counts(m, 4).tolist() == [[0, 0, 0, 0]]
    m[1, 1] = 1  # one head pixel: the map is known, the other parts have 0 < lambda pixels
    assert occlusion_code(m, 4, 1).tolist() == [[0, 1, 1, 1]]


@pytest.mark.parametrize("as_torch", [False, True])
def test_the_rule_for_maps_that_say_nothing(as_torch):
    no_person = np.zeros((4, 4), dtype=np.int64)  # what a backend returns when it finds no person
    no_source = np.full((4, 4), -1, dtype=np.int64)  # an image without labels
    pasted = no_source.copy()
    pasted[2:, :2] = 0  # the same image after an obstacle was pasted in (background)
    person = _map_with_counts({1: 5, 4: 6}, shape=(4, 4))  # head and torso visible at lambda 5
    labels = np.stack([no_person, no_source, pasted, person])
    if as_torch:
        labels = torch.from_numpy(labels)
    z = occlusion_code(labels, 4, 5.0)
    assert z.tolist() == [[1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0], [0, 1, 0, 1]]
    assert occlusion_code(np.zeros((0, 4, 4), dtype=np.int64), 4, 5.0).shape == (0, 4)


def test_code_settings_validate_round_trip_and_override(caplog):
    codes = CodeSettings(num_coarse=2, lam=3, label_size=[4, 4])
    assert codes.label_size == (4, 4) and codes.lam == 3.0
    assert CodeSettings.from_dict(codes.as_dict()) == codes
    assert codes.code(torch.from_numpy(_map_with_counts({1: 3}, shape=(4, 4))[None])).tolist() == [[0, 1]]
    with pytest.raises(ValueError, match="label_size"):
        codes.code(torch.zeros(1, 8, 4, dtype=torch.long))
    for bad in ({"num_coarse": 3}, {"lam": float("nan")}, {"label_size": (0, 4)}):
        with pytest.raises(ValueError):
            CodeSettings(**bad)
    with pytest.raises(ValueError, match="num_coarse, lam, label_size"):
        CodeSettings.from_dict({"lam": 5})
    with caplog.at_level(logging.WARNING):
        assert codes.with_lam(None) is codes and codes.with_lam(3.0) is codes
        assert not caplog.text
        assert codes.with_lam(10, "--lam").lam == 10.0
    assert "--lam: lambda = 10 instead of the 3 stored with the model" in caplog.text


def test_custom_groups():
    m = _map_with_counts({1: 3, 4: 6})
    # one coarse part of head + torso, one of the rest
    assert coarse_counts(m, 2, groups=[(1, 4), (2, 3, 5, 6, 7, 8)]).tolist() == [[9, 0]]
    with pytest.raises(ValueError, match="two coarse parts"):
        coarse_counts(m, 2, groups=[(1, 4), (4, 5)])
    with pytest.raises(ValueError, match="num_coarse=4"):
        coarse_counts(m, 4, groups=[(1,), (2,)])


def test_batched_torch_equals_numpy():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 9, size=(6, 16, 8))
    labels[2] = 0  # an empty map: all occluded
    labels[3, :, :] = np.where(labels[3] == 1, 0, labels[3])  # no head
    for c in (1, 2, 4, 8):
        z_np = occlusion_code(labels, c, 5.0)
        z_t = occlusion_code(torch.from_numpy(labels), c, 5.0)
        assert isinstance(z_t, torch.Tensor) and z_t.dtype == torch.int64 and z_t.shape == (6, c)
        assert np.array_equal(z_t.numpy(), z_np)
        # batched == one image at a time
        rows = np.concatenate([occlusion_code(labels[i], c, 5.0) for i in range(6)])
        assert np.array_equal(rows, z_np)
    assert occlusion_code(labels, 4, 5.0)[2].tolist() == [1, 1, 1, 1]
    assert occlusion_code(labels, 4, 5.0)[3, 0] == 1
    # uint8 tensors work too
    assert torch.equal(
        occlusion_code(torch.from_numpy(labels).to(torch.uint8)), occlusion_code(torch.from_numpy(labels))
    )


def test_bad_input():
    with pytest.raises(ValueError, match="0..8|-1..8"):
        occlusion_code(np.full((4, 4), 9))
    with pytest.raises(ValueError, match="integer"):
        occlusion_code(torch.zeros(4, 4))
    with pytest.raises(ValueError, match="shape"):
        occlusion_code(np.zeros((1, 1, 4, 4), dtype=np.int64))
    with pytest.raises(ValueError, match="num_coarse"):
        occlusion_code(np.zeros((4, 4), dtype=np.int64), num_coarse=3)
    with pytest.raises(ValueError, match="lam"):
        occlusion_code(np.zeros((4, 4), dtype=np.int64), lam=-1)

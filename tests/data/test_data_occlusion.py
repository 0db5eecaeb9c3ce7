"""Obstacle bank and occlusion augmentation: pasted area is background, everything outside unchanged."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from ogfr.data import ObstacleBank, OcclusionAugment, Sample
from ogfr.parts import resize_labels


def _patch(value: int, h: int = 6, w: int = 4) -> np.ndarray:
    return np.full((h, w, 3), value, dtype=np.uint8)


def _inputs(h: int = 64, w: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    img = torch.rand(3, h, w, generator=g) * 2 - 1
    labels = torch.randint(1, 9, (h // 4, w // 4), generator=g)
    return img, labels


@pytest.mark.parametrize("seed", range(10))
def test_paste_consistency(seed):
    aug = OcclusionAugment(ObstacleBank([_patch(255)]), p=1.0, area=(0.1, 0.4))
    img, labels = _inputs()
    img_o, labels_o, mask = aug(img, labels, generator=torch.Generator().manual_seed(seed))
    assert mask.shape == (64, 32) and mask.dtype == torch.bool
    # the mask is one filled rectangle
    rows, cols = mask.any(1).nonzero()[:, 0], mask.any(0).nonzero()[:, 0]
    box = torch.zeros_like(mask)
    box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    assert torch.equal(mask, box)
    assert 0.1 * 64 * 32 * 0.7 <= mask.sum() <= 0.4 * 64 * 32 * 1.3
    # inside: the normalised white patch ((1 - 0.5) / 0.5 = 1); outside: untouched
    assert torch.allclose(img_o[:, mask], torch.tensor(1.0), atol=1e-5)
    assert torch.equal(img_o[:, ~mask], img[:, ~mask])
    # labels: background exactly where the label pixel centre is pasted over, unchanged elsewhere
    label_mask = resize_labels(mask.long(), (16, 8), mode="nearest").bool()
    assert torch.all(labels_o[label_mask] == 0)
    assert torch.equal(labels_o[~label_mask], labels[~label_mask])
    assert label_mask.any()
    # inputs are not modified
    assert not torch.equal(img_o, img) and (labels > 0).all()


def test_label_mask_hand_computed():
    """A paste covering image rows 8..15, cols 0..3 of a 16 x 8 image hits label rows 2..3, cols 0..1."""
    aug = OcclusionAugment(ObstacleBank([_patch(0)]), p=1.0, area=(0.25, 0.25), aspect=(2.0, 2.0))
    img, labels = torch.zeros(3, 16, 8), torch.ones(4, 2, dtype=torch.int64)
    found = False
    for seed in range(200):
        img_o, labels_o, mask = aug(img, labels, generator=torch.Generator().manual_seed(seed))
        assert mask.sum() == 32  # area 0.25 * 128, aspect h / w = 2 -> 8 x 4
        if mask[8:16, 0:4].all():
            assert labels_o.tolist() == [[1, 1], [1, 1], [0, 1], [0, 1]]
            assert torch.all(img_o[:, 8:16, :4] == -1.0)  # black patch normalised
            found = True
    assert found


def test_unknown_labels_stay_unknown():
    aug = OcclusionAugment(ObstacleBank([_patch(9)]), p=1.0)
    img = torch.zeros(3, 16, 8)
    unknown = torch.full((4, 2), -1, dtype=torch.int64)
    img_o, labels_o, mask = aug(img, unknown, generator=torch.Generator().manual_seed(0))
    assert mask.any() and torch.all(labels_o == -1)


def test_probability_and_positions():
    aug = OcclusionAugment(ObstacleBank([_patch(10), _patch(200)]), p=0.5)
    img, labels = _inputs()
    pasted, corners = 0, set()
    for seed in range(100):
        img_o, labels_o, mask = aug(img, labels, generator=torch.Generator().manual_seed(seed))
        if mask.any():
            pasted += 1
            corners.add(tuple(mask.nonzero()[0].tolist()))
        else:
            assert torch.equal(img_o, img) and torch.equal(labels_o, labels)
    assert 30 <= pasted <= 70
    assert len(corners) > 10  # anywhere, not only four fixed positions
    never = OcclusionAugment(ObstacleBank([_patch(1)]), p=0.0)
    assert not never(img, None)[2].any() and never(img, None)[1] is None


def test_seeded_and_patch_normalisation():
    aug = OcclusionAugment(ObstacleBank([_patch(51)]), p=1.0, mean=(0.2, 0.2, 0.2), std=(0.1, 0.1, 0.1))
    img, labels = _inputs()
    a = aug(img, labels, generator=torch.Generator().manual_seed(7))
    b = aug(img, labels, generator=torch.Generator().manual_seed(7))
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert torch.allclose(a[0][:, a[2]], torch.tensor(0.0), atol=1e-5)  # 51 / 255 = 0.2 -> 0


def test_bank_from_samples_and_paths(tmp_path, image_writer, caplog):
    good = [image_writer(tmp_path / f"{i}.jpg", size=(64, 32), value=40 * i) for i in range(3)]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not really a jpeg")
    samples = [Sample(p, 0, 0, "train", "t") for p in [*good, broken]]
    with caplog.at_level(logging.WARNING, logger="ogfr.data.occlusion"):
        bank = ObstacleBank.from_samples(samples, num_patches=30, area=(0.1, 0.2), max_side=16, seed=1)
    assert len(bank) == 30
    assert "broken.jpg: not an image Pillow can read" in caplog.text
    assert "skipped for the obstacle bank" in caplog.text
    for patch in bank.patches:
        assert patch.dtype == np.uint8 and patch.ndim == 3 and patch.shape[2] == 3
        assert max(patch.shape[:2]) <= 16
    again = ObstacleBank.from_samples(samples, num_patches=30, area=(0.1, 0.2), max_side=16, seed=1)
    assert all(np.array_equal(a, b) for a, b in zip(bank.patches, again.patches, strict=True))
    from_paths = ObstacleBank([good[0], str(good[1])])
    assert from_paths[0].shape == (64, 32, 3) and from_paths[1][0, 0, 0] == 40


def test_bank_errors(tmp_path):
    with pytest.raises(ValueError, match="at least one patch"):
        ObstacleBank([])
    with pytest.raises(ValueError, match=r"\(h, w, 3\) uint8 array, got float64"):
        ObstacleBank([np.zeros((4, 4, 3))])
    with pytest.raises(ValueError, match=r"nope\.png: file not found"):
        ObstacleBank([tmp_path / "nope.png"])
    missing = [Sample(Path(tmp_path / "gone.jpg"), 0, 0, "train", "t")]
    with pytest.raises(ValueError, match="no readable image among 1 samples"):
        ObstacleBank.from_samples(missing, num_patches=2)
    with pytest.raises(ValueError, match="area must be"):
        OcclusionAugment(ObstacleBank([_patch(1)]), area=(0.5, 0.1))
    with pytest.raises(ValueError, match="p must be in"):
        OcclusionAugment(ObstacleBank([_patch(1)]), p=1.5)
    with pytest.raises(ValueError, match=r"image must be \(3, H, W\)"):
        OcclusionAugment(ObstacleBank([_patch(1)]))(torch.zeros(1, 8, 8))

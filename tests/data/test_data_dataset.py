"""ReIDDataset items, label sources, the occluded view, unreadable images and DataLoader workers."""

from __future__ import annotations

import logging
import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from ogfr.data import (
    EvalTransform,
    ObstacleBank,
    OcclusionAugment,
    PKSampler,
    ReIDDataset,
    Sample,
    TrainTransform,
)


@pytest.fixture
def samples(tmp_path, image_writer):
    out = []
    for pid in range(3):
        for n in range(2):
            path = image_writer(
                tmp_path / f"{pid:04d}_c{n + 1}s1_{n}.jpg", size=(32, 16), value=60 * pid + 10
            )
            out.append(Sample(path, pid, n, "train", "t"))
    return out


def _labels_of(sample: Sample) -> np.ndarray:
    """A fake label source: the top half is the head (1), the bottom half the torso (4)."""
    lab = np.full((32, 16), 4, dtype=np.uint8)
    lab[:16] = 1
    return lab


def test_eval_items_without_labels(samples):
    ds = ReIDDataset(samples, EvalTransform(size=(16, 8), label_size=(8, 4)))
    assert len(ds) == 6 and ds.pids == [0, 0, 1, 1, 2, 2]
    item = ds[3]
    assert set(item) == {"img", "labels", "pid", "camid", "index", "path", "substituted"}
    assert item["substituted"] is False
    assert item["img"].shape == (3, 16, 8) and item["img"].dtype == torch.float32
    assert item["labels"].shape == (8, 4) and item["labels"].dtype == torch.int64
    assert torch.all(item["labels"] == -1)  # no label source
    assert (item["pid"], item["camid"], item["index"]) == (1, 1, 3)
    assert item["path"] == str(samples[3].path)
    assert torch.allclose(item["img"], torch.tensor((70 / 255 - 0.5) / 0.5), atol=0.02)  # grey 70, JPEG
    with pytest.raises(IndexError, match="index 6 out of range for 6 samples"):
        ds[6]


def test_label_source_and_occluded_view_share_geometry(samples):
    bank = ObstacleBank([np.full((8, 8, 3), 255, np.uint8)])
    ds = ReIDDataset(
        samples,
        TrainTransform(size=(32, 16), pad=2, label_size=(16, 8)),
        labels=_labels_of,
        occlusion=OcclusionAugment(bank, p=1.0),
    )
    torch.manual_seed(0)
    item = ds[0]
    assert {"img_o", "labels_o", "occ_mask"} <= set(item)
    lab, mask = item["labels"], item["occ_mask"]
    assert set(lab.unique().tolist()) <= {0, 1, 4} and {1, 4} <= set(lab.unique().tolist())
    # the occluded view is the holistic view plus the patch
    assert torch.equal(item["img_o"][:, ~mask], item["img"][:, ~mask])
    assert mask.any() and torch.allclose(item["img_o"][:, mask], torch.tensor(1.0), atol=1e-5)
    changed = item["labels_o"] != lab
    assert torch.all(item["labels_o"][changed] == 0)


def test_unreadable_image_is_replaced_by_same_identity(samples, caplog):
    samples[2].path.write_bytes(samples[2].path.read_bytes()[:40])  # truncated JPEG of id 1
    ds = ReIDDataset(samples, EvalTransform(size=(16, 8), label_size=(8, 4)))
    with caplog.at_level(logging.WARNING, logger="ogfr.data.dataset"):
        item = ds[2]
        again = ds[2]
    assert item["pid"] == 1 and item["index"] == 2
    assert item["path"] == str(samples[3].path) == again["path"]
    assert ds.num_unreadable == 1 and ds.unreadable == {str(samples[2].path)}
    assert caplog.text.count("unreadable image") == 1  # warned once, remembered afterwards
    assert ds[3]["path"] == str(samples[3].path)


def test_all_images_of_identity_unreadable(samples):
    samples[4].path.write_bytes(b"garbage")
    samples[5].path.unlink()
    ds = ReIDDataset(samples, EvalTransform(size=(16, 8), label_size=(8, 4)))
    with pytest.raises(
        ValueError, match=r"0002_c1s1_0\.jpg: unreadable, and so are all 2 images of identity 2"
    ):
        ds[4]
    assert ds.num_unreadable == 2


def test_workers_and_pickling(samples):
    ds = ReIDDataset(
        samples,
        TrainTransform(size=(16, 8), pad=2, label_size=(8, 4)),
        labels=_labels_of,
        occlusion=OcclusionAugment(ObstacleBank([np.zeros((4, 4, 3), np.uint8)]), p=0.5),
    )
    clone = pickle.loads(pickle.dumps(ds))
    assert len(clone) == len(ds) and clone.samples == ds.samples
    sampler = PKSampler(ds.pids, p=1, k=2, seed=0)  # 3 ids x 2 images -> 3 batches

    def run() -> list[torch.Tensor]:
        loader = DataLoader(
            ds,
            batch_size=sampler.batch_size,
            sampler=sampler,
            num_workers=2,
            generator=torch.Generator().manual_seed(11),
        )
        return [b["img_o"] for b in loader]

    first, second = run(), run()
    assert len(first) == 3 and first[0].shape == (2, 3, 16, 8)
    # per-worker RNG comes from the DataLoader's seed: the same seed gives the same augmentation
    assert all(torch.equal(a, b) for a, b in zip(first, second, strict=True))


def test_bad_label_map_names_the_image(samples):
    ds = ReIDDataset(samples, EvalTransform(size=(16, 8)), labels=lambda s: np.full((4, 4), 12, np.uint8))
    with pytest.raises(ValueError, match=r"0000_c1s1_0\.jpg: label map values must be in 0..8, got 12..12"):
        ds[0]


def test_image_cache_gives_the_same_items_and_reads_each_file_once(samples, monkeypatch):
    import ogfr.data.dataset as dataset_module

    reads: list[str] = []
    real_read = dataset_module.read_image
    monkeypatch.setattr(
        dataset_module, "read_image", lambda p, **kw: reads.append(str(p)) or real_read(p, **kw)
    )
    transform = TrainTransform(size=(32, 16), pad=2, label_size=(16, 8))
    bank = ObstacleBank.from_samples(samples, num_patches=4, seed=0)

    def items(cache: bool) -> list[dict]:
        ds = ReIDDataset(samples, transform, _labels_of, OcclusionAugment(bank, p=1.0), cache_images=cache)
        if cache:
            ds.preload()
        torch.manual_seed(3)
        return [ds[i] for i in [0, 3, 5, 0, 3]]

    plain = items(False)
    reads.clear()
    cached = items(True)
    assert sorted(reads) == sorted(str(s.path) for s in samples)  # preload read each file once, then none
    for a, b in zip(plain, cached, strict=True):
        for key in ("img", "labels", "img_o", "labels_o", "occ_mask"):
            assert torch.equal(a[key], b[key]), key
        assert a["path"] == b["path"] and a["pid"] == b["pid"]
    with pytest.raises(ValueError, match="cache_images=True"):
        ReIDDataset(samples, transform).preload()

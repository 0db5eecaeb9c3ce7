"""Ground-truth scene labels for the erasing agent: the reader, the holistic subset, the dataset items."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ogfr.data import ObstacleBank, OcclusionAugment, ReIDDataset, TrainTransform, load_dataset
from ogfr.data.synth import SynthConfig
from ogfr.data.truth import SceneLabels, has_scene_labels
from ogfr.images import UnreadableImage
from ogfr.parts import SCENE_OCCLUDER, SCENE_PEDESTRIAN


def test_scene_reader_and_holistic_subset(synth_root, tmp_path) -> None:
    data = load_dataset("synthetic", synth_root)
    assert has_scene_labels(synth_root) and not has_scene_labels(tmp_path)
    scene = SceneLabels()(data.train[0])
    assert scene.dtype == np.uint8 and scene.shape == SynthConfig.tiny().image_size
    picked = SceneLabels.holistic(data.gallery, limit=5)
    assert 0 < len(picked) <= 5 and picked == sorted(picked, key=lambda s: str(s.path))
    for s in picked:
        occ = np.asarray(
            Image.open(s.path.parent.parent / "occluders" / s.path.parent.name / f"{s.path.stem}.png")
        )
        assert not occ.any()
    assert SceneLabels.holistic(data.gallery, limit=10_000) == SceneLabels.holistic(data.gallery, 10_000)
    missing = data.train[0].__class__(tmp_path / "query" / "x.jpg", 1, 0, "train", "t")
    assert SceneLabels()(missing) is None  # no scene map: unknown


def test_a_bad_scene_map_names_the_file(synth_root, tmp_path) -> None:
    sample = load_dataset("synthetic", synth_root).train[0]
    fake = tmp_path / "bounding_box_train" / sample.path.name
    (tmp_path / "scene" / "bounding_box_train").mkdir(parents=True)
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(
        tmp_path / "scene" / "bounding_box_train" / f"{fake.stem}.png"
    )
    with pytest.raises(UnreadableImage, match=fake.stem):
        SceneLabels()(sample.__class__(fake, 1, 0, "train", "t"))


def test_dataset_scene_items_share_the_geometry_and_mark_the_pasted_obstacle(synth_root) -> None:
    data = load_dataset("synthetic", synth_root)
    bank = ObstacleBank([np.full((8, 8, 3), 255, np.uint8)])
    transform = TrainTransform(size=(64, 32), pad=4, label_size=(32, 16))
    ds = ReIDDataset(
        data.train,
        transform,
        labels=_labels_from_scene,
        occlusion=OcclusionAugment(bank, p=1.0),
        scene=SceneLabels(),
    )
    for i in range(6):
        torch.manual_seed(i)
        item = ds[i]
        scene, labels = item["scene"], item["labels"]
        assert scene.shape == labels.shape == (32, 16) and scene.dtype == torch.int64
        body = (scene >= 1) & (scene <= 8)
        # the label source below is the scene map's body: after the same flip and crop they still agree
        assert torch.equal(torch.where(body, scene, 0), labels)
        pasted = item["scene_o"] != scene
        assert pasted.any() and torch.all(item["scene_o"][pasted] == SCENE_OCCLUDER)
        assert torch.equal(item["labels_o"] != labels, pasted & body)  # body under the obstacle -> background
    unknown = ReIDDataset(data.train, transform, scene=lambda s: None)[0]
    assert torch.all(unknown["scene"] == -1)
    assert "scene" not in ReIDDataset(data.train, transform)[0]


def _labels_from_scene(sample):
    scene = SceneLabels()(sample)
    return np.where(scene <= 8, scene, 0).astype(np.uint8)


def test_pedestrian_label_survives_the_flip() -> None:
    t = TrainTransform(size=(4, 2), pad=0, flip_p=1.0, label_size=(4, 2))
    values = np.array([[2, SCENE_PEDESTRIAN]] * 4, np.uint8)  # left arm | pedestrian
    out = t.augment_map(t.resize_map(values, scene=True), flip=True, top=0, left=0, scene=True)
    assert out[0].tolist() == [SCENE_PEDESTRIAN, 3]  # mirrored: pedestrian | right arm
    with pytest.raises(ValueError, match=r"values must be in 0\.\.8"):
        t.resize_map(values)  # 10 is not a part label


def test_cached_items_keep_the_scene_labels(synth_root) -> None:
    data = load_dataset("synthetic", synth_root)
    transform = TrainTransform(size=(64, 32), pad=4, label_size=(32, 16))
    plain = ReIDDataset(data.train[:4], transform, scene=SceneLabels())
    cached = ReIDDataset(data.train[:4], transform, scene=SceneLabels(), cache_images=True)
    cached.preload()
    for i in range(4):
        torch.manual_seed(i)
        a = plain[i]
        torch.manual_seed(i)
        b = cached[i]
        assert torch.equal(a["scene"], b["scene"]) and torch.equal(a["img"], b["img"])

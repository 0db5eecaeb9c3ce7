"""files backend: PifPaf field grouping (BPBreID release) and the plain format, with clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from ogfr.parsing import LabelCache, SyntheticBackend, build_cache
from ogfr.parsing.files import PIFPAF_FIELDS, PIFPAF_GROUPS, FilesBackend, pifpaf_to_labels
from ogfr.parts import PART_NAMES

F = {name: i for i, name in enumerate(PIFPAF_FIELDS)}
P = {name: i for i, name in enumerate(PART_NAMES)}


def test_field_order_and_grouping():
    assert len(PIFPAF_FIELDS) == 36
    assert PIFPAF_FIELDS[0] == "nose" and PIFPAF_FIELDS[16] == "right_ankle"
    assert (
        PIFPAF_FIELDS[17] == "left_ankle_to_left_knee" and PIFPAF_FIELDS[35] == "right_ear_to_right_shoulder"
    )
    # every field in exactly one part
    assert sorted(i for g in PIFPAF_GROUPS.values() for i in g) == list(range(36))
    expect = {
        "nose": "head",
        "left_ear_to_left_shoulder": "head",
        "left_eye_to_right_eye": "head",
        "left_elbow": "left_arm",
        "right_elbow_to_right_wrist": "right_arm",
        "left_shoulder": "torso",
        "left_hip_to_right_hip": "torso",
        "right_shoulder_to_right_elbow": "right_arm",
        "left_knee": "left_leg",
        "right_ankle_to_right_knee": "right_leg",
        "left_ankle": "left_foot",
        "right_ankle": "right_foot",
    }
    for field, part in expect.items():
        assert F[field] in PIFPAF_GROUPS[P[part]], (field, part)


def hand_fields(h: int = 32, w: int = 16) -> np.ndarray:
    """36 fields at 0.1 everywhere, with a few confident blobs."""
    f = np.full((36, h, w), 0.1, dtype=np.float32)
    f[F["nose"], 0:4, 6:10] = 0.9  # head at the top
    f[F["left_shoulder_to_left_hip"], 8:16, 4:12] = 0.8  # torso
    f[F["left_elbow"], 8:16, 0:3] = 0.7  # left arm, beside the torso
    f[F["left_knee"], 18:26, 2:7] = 0.95  # left leg
    f[F["right_ankle"], 28:32, 10:14] = 0.6  # right foot
    f[F["right_knee"], 18:26, 10:14] = 0.45  # below 0.5: background
    return f


def test_pifpaf_to_labels_by_hand():
    labels = pifpaf_to_labels(hand_fields(), (32, 16))  # same size: no resampling effects
    assert labels.dtype == np.uint8 and labels.shape == (32, 16)
    assert (labels[0:4, 6:10] == P["head"]).all()
    assert (labels[8:16, 4:12] == P["torso"]).all()
    assert (labels[8:16, 0:3] == P["left_arm"]).all()
    assert (labels[18:26, 2:7] == P["left_leg"]).all()
    assert (labels[28:32, 10:14] == P["right_foot"]).all()
    assert (labels[18:26, 10:14] == 0).all()  # max 0.45 < 0.5 -> background
    assert set(np.unique(labels)) == {0, P["head"], P["torso"], P["left_arm"], P["left_leg"], P["right_foot"]}
    # resized to the label size: the same layout at twice the resolution
    big = pifpaf_to_labels(hand_fields(), (64, 32))
    assert big[2, 15] == P["head"] and big[44, 8] == P["left_leg"] and big[60, 24] == P["right_foot"]


def _bpbreid_tree(root, paths, shape=(36, 32, 16)):
    for p in paths:
        d = root / "masks" / "pifpaf_maskrcnn_filtering" / p.parent.name
        d.mkdir(parents=True, exist_ok=True)
        np.save(
            d / f"{p.stem}.npy", np.broadcast_to(hand_fields(), shape) if shape[0] == 36 else np.zeros(shape)
        )


def test_files_backend_bpbreid_layout(market):
    root, paths = market
    _bpbreid_tree(root, paths[:3])
    backend = FilesBackend(root, (64, 32))
    assert backend.fmt == "pifpaf"
    ok = backend.parse([paths[0]])[0]
    assert ok.status == "ok" and ok.labels[2, 15] == P["head"]
    missing = backend.parse([paths[4]])[0]
    assert missing.status == "unreadable" and "mask file not found" in missing.reason
    d = root / "masks" / "pifpaf_maskrcnn_filtering" / "bounding_box_train"
    np.save(d / f"{paths[1].stem}.npy", np.zeros((35, 32, 16), np.float32))
    bad_shape = backend.parse([paths[1]])[0]
    assert bad_shape.status == "unreadable" and "(36, h, w)" in bad_shape.reason
    np.save(d / f"{paths[2].stem}.npy", np.zeros((36, 16, 32), np.float32))  # landscape mask, portrait image
    wrong_size = backend.parse([paths[2]])[0]
    assert wrong_size.status == "unreadable" and "another image size" in wrong_size.reason
    with pytest.raises(FileNotFoundError, match="pifpaf_maskrcnn_filtering"):
        FilesBackend(root / "query")


def test_files_backend_plain(market, tmp_path):
    root, paths = market
    # an ogfr cache folder is a plain-format tree of (h, w) part-id PNGs
    cache_dir = tmp_path / "cache"
    build_cache(paths, SyntheticBackend((64, 32)), cache_dir, root, progress=False)
    plain = FilesBackend(root, (64, 32), masks_root=cache_dir)
    assert plain.fmt == "plain"
    cache = LabelCache(cache_dir)
    for p, res in zip(paths, plain.parse(paths), strict=True):
        assert res.status == "ok" and np.array_equal(res.labels, cache(p))
    # a (K+1, H, W) one-hot stack, as .npy
    stack_root = tmp_path / "stack" / "query"
    stack_root.mkdir(parents=True)
    labels = cache(paths[3])
    np.save(stack_root / f"{paths[3].stem}.npy", np.eye(9, dtype=np.float32)[labels].transpose(2, 0, 1))
    res = FilesBackend(root, (64, 32), masks_root=tmp_path / "stack").parse([paths[3]])[0]
    assert np.array_equal(res.labels, labels)
    np.save(stack_root / f"{paths[4].stem}.npy", np.full((64, 32), 12, np.int64))
    res = FilesBackend(root, (64, 32), masks_root=tmp_path / "stack").parse([paths[4]])[0]
    assert res.status == "unreadable" and "0..8" in res.reason

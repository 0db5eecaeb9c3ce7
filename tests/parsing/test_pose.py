"""pose backend: geometry helpers by hand, the model on real photos, and bad inputs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ogfr.parsing import build_cache, occlusion_code
from ogfr.parsing import pose as P
from ogfr.parts import PART_NAMES

PART = {name: i for i, name in enumerate(PART_NAMES)}


@pytest.fixture(scope="module")
def backend() -> P.PoseBackend:
    # The model comes from `python -m ogfr.parsing.pose_model fetch` (./run setup does it).
    return P.PoseBackend((64, 32))


def skeleton() -> np.ndarray:
    """33 BlazePose landmarks (x, y) of an upright person on a 64 x 32 grid, facing the camera."""
    lm = np.zeros((33, 2))
    lm[[P.NOSE, P.L_EYE, P.R_EYE, 1, 3, 4, 6, P.MOUTH_L, P.MOUTH_R]] = [16, 6]
    lm[P.L_EAR], lm[P.R_EAR] = [19, 6], [13, 6]
    lm[P.L_SH], lm[P.R_SH] = [22, 14], [10, 14]
    lm[P.L_EL], lm[P.R_EL] = [26, 22], [6, 22]
    lm[P.L_WR], lm[P.R_WR] = [27, 30], [5, 30]
    lm[[P.L_PINKY, P.L_INDEX, 21]] = [27, 32]
    lm[[P.R_PINKY, P.R_INDEX, 22]] = [5, 32]
    lm[P.L_HIP], lm[P.R_HIP] = [20, 32], [12, 32]
    lm[P.L_KNEE], lm[P.R_KNEE] = [20, 44], [12, 44]
    lm[P.L_ANK], lm[P.R_ANK] = [20, 56], [12, 56]
    lm[P.L_HEEL], lm[P.R_HEEL] = [20, 59], [12, 59]
    lm[P.L_TOE], lm[P.R_TOE] = [22, 60], [10, 60]
    return lm


def test_landmarks_to_parts_by_hand():
    person = np.zeros((64, 32), dtype=bool)
    person[2:62, 4:29] = True
    lab = P.landmarks_to_parts(skeleton(), np.ones(33), person)
    assert lab[6, 16] == PART["head"]
    assert lab[24, 16] == PART["torso"]  # inside the shoulder-hip quad
    assert lab[22, 27] == PART["left_arm"] and lab[22, 5] == PART["right_arm"]
    assert lab[44, 20] == PART["left_leg"] and lab[44, 12] == PART["right_leg"]
    assert lab[60, 21] == PART["left_foot"] and lab[60, 11] == PART["right_foot"]
    assert (lab[~person] == 0).all() and (lab[person] > 0).all()
    # low visibility of knees, ankles, heels and toes drops the leg and foot segments
    vis = np.ones(33)
    vis[P.L_KNEE : P.R_TOE + 1] = 0.1
    lab2 = P.landmarks_to_parts(skeleton(), vis, person)
    assert not np.isin(
        lab2, [PART["left_leg"], PART["right_leg"], PART["left_foot"], PART["right_foot"]]
    ).any()
    assert (P.landmarks_to_parts(skeleton(), np.zeros(33), person) == 0).all()


def test_mask_helpers():
    m = np.zeros((10, 10), dtype=bool)
    m[0:5, 0:5] = True  # 25 px
    m[8:10, 8:10] = True  # 4 px fragment
    m[0:3, 7:10] = True  # 9 px, >= 0.3 * 25
    kept = P.keep_main_components(m)
    assert kept[:5, :5].all() and not kept[8:, 8:].any() and kept[0:3, 7:10].all()
    lm = np.array([[2.5, 2.5], [9.5, 6.5], [-1.0, 3.0]])
    assert P.supported_by_mask(lm, kept).tolist() == [True, False, False]
    _, box = P.letterbox(np.zeros((128, 64, 3), np.uint8))
    assert (box.side, box.top, box.left) == (160, 16, 48)


def _crops(real_photos, n=None):
    paths = sorted((real_photos / "dgnet_visual_data_market").glob("*.jpg"))[:n]
    return paths, [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def test_real_photos_parts_and_occlusion(real_photos, backend):
    paths, images = _crops(real_photos)
    clean = backend.parse_images(images)
    found = [r.status == "ok" for r in clean]
    assert sum(found) >= 0.9 * len(images)  # measured: 48 / 48

    def mean_row(lab, parts):
        rows = np.nonzero(np.isin(lab, parts))[0]
        return rows.mean() if len(rows) else np.nan

    ordered = [
        mean_row(r.labels, [1]) < mean_row(r.labels, [4]) < mean_row(r.labels, [5, 6, 7, 8])
        for r in clean
        if r.status == "ok"
    ]
    assert np.mean(ordered) >= 0.9  # head above torso above legs

    covered = []
    for img in images:
        occ = img.copy()
        occ[img.shape[0] // 2 :] = 128  # lower half covered by a grey board
        covered.append(occ)
    z_clean = occlusion_code(np.stack([r.labels for r in clean]))
    z_occ = occlusion_code(np.stack([r.labels for r in backend.parse_images(covered)]))
    legs_visible = z_clean[:, 3] == 0
    flipped = (z_occ[:, 3] == 1) & legs_visible
    assert flipped.sum() >= 0.7 * legs_visible.sum()  # measured: 38 / 48
    assert (z_occ[:, 0] == 0).mean() >= 0.9  # the head stays visible


def test_bad_inputs_never_crash(tmp_path, backend):
    root = tmp_path / "photos"
    root.mkdir()
    (root / "notes.jpg").write_text("not an image")
    Image.fromarray(np.full((128, 1, 3), 90, np.uint8)).save(root / "thin.png")
    Image.fromarray(np.full((128, 64, 3), 128, np.uint8)).save(root / "blank.png")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (128, 64), dtype=np.uint8), mode="L").save(root / "grey.png")
    Image.fromarray(rng.integers(0, 255, (128, 64, 4), dtype=np.uint8), mode="RGBA").save(root / "rgba.png")
    paths = sorted(root.iterdir())
    summary = build_cache(paths, backend, tmp_path / "cache", root, progress=False)
    by_key = {p["key"]: p for p in summary["problems"]}
    assert (
        by_key["notes.png"]["status"] == "unreadable"
        and "not an image Pillow can read" in by_key["notes.png"]["reason"]
    )
    assert by_key["thin.png"]["status"] == "unreadable" and "128x1" in by_key["thin.png"]["reason"]
    assert by_key["blank.png"]["status"] == "no_person"
    assert summary["images"] == 5 and summary["unreadable"] == 2
    assert summary["no_person"] + summary["ok"] == 3
    # every image has an entry: all background (all parts occluded) where nothing was found
    assert len(list((tmp_path / "cache").glob("*.png"))) == 5
    assert summary["visible_fraction"]["head"] <= 3 / 5


def test_grey_and_rgba_real_photo(real_photos, backend, tmp_path):
    path = sorted((real_photos / "dgnet_visual_data_market").glob("*.jpg"))[0]
    rgb = Image.open(path).convert("RGB")
    rgb.convert("L").save(tmp_path / "grey.png")
    rgba = rgb.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(tmp_path / "rgba.png")
    results = backend.parse([tmp_path / "grey.png", tmp_path / "rgba.png"])
    assert [r.status for r in results] == ["ok", "ok"]
    assert occlusion_code(np.stack([r.labels for r in results])).tolist() == [[0, 0, 0, 0], [0, 0, 0, 0]]


def test_parallel_interpreters_give_the_same_labels_in_order(real_photos):
    import pickle

    _, images = _crops(real_photos, 12)
    images = images + [np.full((40, 20, 3), 128, np.uint8)]  # a blank one: no person, in its place
    one = P.PoseBackend((64, 32), cfg=P.PoseConfig(workers=1)).parse_images(images)
    two = P.PoseBackend((64, 32), cfg=P.PoseConfig(workers=2, batch_size=2))
    many = pickle.loads(pickle.dumps(two)).parse_images(images)  # picklable, threads rebuilt on use
    assert [r.status for r in one] == [r.status for r in many] and one[-1].status == "no_person"
    assert all(np.array_equal(a.labels, b.labels) for a, b in zip(one, many, strict=True))
    assert two.config() == P.PoseConfig().labels_config()  # speed settings are not label settings

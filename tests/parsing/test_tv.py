"""torchvision backend: the keypoints + mask -> parts conversion on hand-made keypoints, and missing weights.

The detectors themselves are not run here: with random weights one call costs about a minute on 2 CPU cores.
"""

from __future__ import annotations

import numpy as np
import pytest

from ogfr.parsing import tv
from ogfr.parts import PART_NAMES

PART = {name: i for i, name in enumerate(PART_NAMES)}


def coco_keypoints() -> np.ndarray:
    """17 COCO keypoints (x, y) of an upright person facing the camera on a 64 x 32 grid."""
    kp = np.zeros((17, 2))
    kp[tv.NOSE], kp[tv.L_EYE], kp[tv.R_EYE] = [16, 6], [18, 5], [14, 5]
    kp[tv.L_EAR], kp[tv.R_EAR] = [20, 6], [12, 6]
    kp[tv.L_SH], kp[tv.R_SH], kp[tv.L_EL], kp[tv.R_EL] = [22, 14], [10, 14], [26, 22], [6, 22]
    kp[tv.L_WR], kp[tv.R_WR], kp[tv.L_HIP], kp[tv.R_HIP] = [27, 30], [5, 30], [20, 32], [12, 32]
    kp[tv.L_KNEE], kp[tv.R_KNEE], kp[tv.L_ANK], kp[tv.R_ANK] = [20, 44], [12, 44], [20, 54], [12, 54]
    return kp


def test_extend_feet():
    kp, sc = tv.extend_feet(coco_keypoints(), np.arange(17.0))
    assert kp.shape == (19, 2) and sc.shape == (19,)
    assert kp[tv.L_TOE].tolist() == pytest.approx([20, 57])  # ankle + 0.3 x (ankle - knee)
    assert sc[tv.L_TOE] == min(13.0, 15.0) and sc[tv.R_TOE] == min(14.0, 16.0)


def test_keypoints_to_parts_by_hand():
    person = np.zeros((64, 32), dtype=bool)
    person[2:60, 4:29] = True
    scores = np.full(17, 5.0)
    lab = tv.keypoints_to_parts(coco_keypoints(), scores, person)
    assert lab.shape == (64, 32) and lab.dtype == np.uint8
    assert lab[5, 16] == PART["head"] and lab[24, 16] == PART["torso"]
    assert lab[22, 27] == PART["left_arm"] and lab[22, 5] == PART["right_arm"]
    assert lab[40, 20] == PART["left_leg"] and lab[40, 12] == PART["right_leg"]
    assert lab[58, 20] == PART["left_foot"] and lab[58, 12] == PART["right_foot"]
    # keypoint logits below the threshold drop their segments: no arms without elbows and wrists
    scores[[tv.L_EL, tv.R_EL, tv.L_WR, tv.R_WR]] = -1.0
    lab2 = tv.keypoints_to_parts(coco_keypoints(), scores, person)
    assert not np.isin(lab2, [PART["left_arm"], PART["right_arm"]]).any()


def test_missing_weights_name_the_file(tmp_path, monkeypatch):
    monkeypatch.setattr(tv.torch.hub, "get_dir", lambda: str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        tv.TorchvisionBackend((64, 32))  # fails before any network is built
    msg = str(err.value)
    assert str(tmp_path / "checkpoints" / tv.MASK_WEIGHTS) in msg and tv.WEIGHTS_URL + tv.MASK_WEIGHTS in msg
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        tv._find_weights(tmp_path / "nope.pth", tv.KEYPOINT_WEIGHTS)

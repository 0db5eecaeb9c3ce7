"""Body-part vocabulary shared by the synthetic generator, the parsing backends, the model and the figures.

Part-label maps everywhere in ogfr are integer maps with values 0..K (K = 8): 0 is background and
1..K are the fine body parts of the paper (§3.1.1). Coarse parts (C of them) group fine parts for the
occlusion code z (eq. 1-2); the paper's default C = 4 is {head, arms, torso, legs}. ``resize_labels``
is the one way to resize such a map (data transforms, parsing backends).
"""

from __future__ import annotations

from typing import Literal, TypeVar

import numpy as np
import torch
import torch.nn.functional as F

PART_NAMES: tuple[str, ...] = (
    "background",
    "head",
    "left_arm",
    "right_arm",
    "torso",
    "left_leg",
    "right_leg",
    "left_foot",
    "right_foot",
)
NUM_PARTS = len(PART_NAMES) - 1  # K = 8 body parts (background excluded)

# Scene labels: the ground truth of what each pixel shows, written by the synthetic generator (``scene/``
# maps) to score the erasing agent. 0..K as PART_NAMES (the target person's visible parts and the
# background), then objects standing in front of the person and any other pedestrian (in front or behind).
SCENE_NAMES: tuple[str, ...] = (*PART_NAMES, "occluder", "pedestrian")
SCENE_OCCLUDER = len(PART_NAMES)  # 9
SCENE_PEDESTRIAN = len(PART_NAMES) + 1  # 10
# "Noise" for the agent (Figure 7: obstacles, cluttered background, other pedestrians): every scene label
# that is not a body part of the target person.
NOISE_LABELS: tuple[int, ...] = (0, SCENE_OCCLUDER, SCENE_PEDESTRIAN)

# Fine part indices (1..K) per coarse part, for each C of the paper's Figure 4.
COARSE_GROUPS: dict[int, tuple[tuple[int, ...], ...]] = {
    1: ((1, 2, 3, 4, 5, 6, 7, 8),),
    2: ((1, 2, 3, 4), (5, 6, 7, 8)),  # upper body, lower body
    4: ((1,), (2, 3), (4,), (5, 6, 7, 8)),  # head, arms, torso, legs (+ feet)
    8: ((1,), (2,), (3,), (4,), (5,), (6,), (7,), (8,)),
}
COARSE_NAMES: dict[int, tuple[str, ...]] = {
    1: ("body",),
    2: ("upper", "lower"),
    4: ("head", "arms", "torso", "legs"),
    8: PART_NAMES[1:],
}

# RGB colours for drawing part maps (index = part id).
PART_COLORS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 0),
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
)


def coarse_groups(num_coarse: int) -> tuple[tuple[int, ...], ...]:
    """Fine part ids (1..K) of each of the ``num_coarse`` coarse parts; C must be 1, 2, 4 or 8."""
    if num_coarse not in COARSE_GROUPS:
        raise ValueError(f"num_coarse must be one of {sorted(COARSE_GROUPS)}, got {num_coarse}")
    return COARSE_GROUPS[num_coarse]


LabelMap = TypeVar("LabelMap", np.ndarray, torch.Tensor)


def resize_labels(labels: LabelMap, size: tuple[int, int], mode: Literal["majority", "nearest"]) -> LabelMap:
    """A part-label map (h, w) resized to ``size``: numpy in, numpy out; tensor in, tensor out; same dtype.

    ``nearest``: nearest neighbour, pixel-centre sampling (as PIL NEAREST); what moving labels along with
    an image needs (transforms, pasted masks). ``majority``: each output pixel takes the part covering
    most of its area (ties go to a body part rather than background, so thin limbs survive shrinking);
    what bringing a full-resolution parse to the label size needs. A side that grows is sampled nearest.
    """
    if mode not in ("majority", "nearest"):
        raise ValueError(f"mode must be 'majority' or 'nearest', got {mode!r}")
    is_numpy = isinstance(labels, np.ndarray)
    t = torch.from_numpy(np.array(labels)) if is_numpy else labels  # a copy: the input may be read-only
    if t.ndim != 2:
        raise ValueError(f"label map must be (h, w), got shape {tuple(t.shape)}")
    size = (int(size[0]), int(size[1]))
    if tuple(t.shape) == size:
        return labels
    if mode == "nearest" or t.shape[0] < size[0] or t.shape[1] < size[1]:
        out = F.interpolate(t[None, None].float(), size=size, mode="nearest-exact")[0, 0]
    else:
        onehot = (
            F.one_hot(t.long().clamp(0, NUM_PARTS), NUM_PARTS + 1).permute(2, 0, 1).float()
        )  # (K+1, h, w)
        area = F.adaptive_avg_pool2d(onehot[None], size)[0]  # (K+1, h', w') share of each part
        area[0] -= 1e-4  # tie-break: a body part beats background on an even split
        out = area.argmax(0)
    out = out.to(t.dtype)
    return out.numpy() if is_numpy else out

"""Transforms keep image and part labels aligned: colour encodes the label, checked after random draws."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ogfr.data import FLIP_PERMUTATION, EvalTransform, TrainTransform
from ogfr.parts import PART_NAMES, resize_labels

# One distinct colour per label (0 = background black, as padding).
COLOURS = np.array(
    [[0, 0, 0], [250, 0, 0], [0, 250, 0], [0, 0, 250], [250, 250, 0], [0, 250, 250], [250, 0, 250],
     [130, 130, 130], [250, 130, 0]],
    dtype=np.uint8,
)  # fmt: skip


def _coded_pair(h: int = 200, w: int = 100) -> tuple[Image.Image, np.ndarray]:
    """A label map of 4 x 2 blocks (labels 1..8) plus background margins, and the image painting each
    label in its colour."""
    labels = np.zeros((h, w), dtype=np.uint8)
    bh, bw = (h - 20) // 4, (w - 10) // 2
    for r in range(4):
        for c in range(2):
            labels[10 + r * bh : 10 + (r + 1) * bh, 5 + c * bw : 5 + (c + 1) * bw] = 1 + 2 * r + c
    return Image.fromarray(COLOURS[labels]), labels


def _expected_colour(labels: torch.Tensor, flipped: bool) -> torch.Tensor:
    """Normalised colour each label pixel must show (a flipped right_arm label shows the left arm's
    colour: the pixels moved, the ids were swapped)."""
    source = FLIP_PERMUTATION[labels] if flipped else labels
    return (torch.from_numpy(COLOURS).float()[source] / 255 - 0.5) / 0.5  # (h, w, 3)


def _image_at_label_centres(img: torch.Tensor, label_size: tuple[int, int]) -> torch.Tensor:
    h, w = label_size
    rows = ((torch.arange(h) + 0.5) * img.shape[1] / h).long()
    cols = ((torch.arange(w) + 0.5) * img.shape[2] / w).long()
    return img[:, rows][:, :, cols].permute(1, 2, 0)  # (h, w, 3)


def _interior(labels: torch.Tensor) -> torch.Tensor:
    """Label pixels whose 3 x 3 neighbourhood has one label (away from bicubic blur at edges; the map's
    border rows and columns never count: a crop can cut just past an edge)."""
    padded = torch.nn.functional.pad(labels[None, None].float(), (1, 1, 1, 1), value=-1.0)
    lo = -torch.nn.functional.max_pool2d(-padded, 3, stride=1)[0, 0]
    hi = torch.nn.functional.max_pool2d(padded, 3, stride=1)[0, 0]
    return lo == hi


def test_flip_permutation_swaps_left_and_right():
    assert FLIP_PERMUTATION.tolist() == [0, 1, 3, 2, 4, 6, 5, 8, 7]
    for i, name in enumerate(PART_NAMES):
        mirrored = PART_NAMES[FLIP_PERMUTATION[i]]
        assert mirrored == name.replace("left", "@").replace("right", "left").replace("@", "right")


@pytest.mark.parametrize("seed", range(12))
def test_train_transform_keeps_alignment(seed):
    t = TrainTransform(size=(256, 128), flip_p=0.5, pad=10, label_size=(64, 32))
    pil, labels = _coded_pair()
    g = torch.Generator().manual_seed(seed)
    flipped, top, left = t.sample_params(torch.Generator().manual_seed(seed))
    img, lab = t(pil, labels, generator=g)
    assert img.shape == (3, 256, 128) and img.dtype == torch.float32
    assert lab.shape == (64, 32) and lab.dtype == torch.int64
    seen = _image_at_label_centres(img, (64, 32))
    keep = _interior(lab)
    assert keep.sum() > 0.6 * keep.numel()
    err = (seen - _expected_colour(lab, flipped)).abs().amax(-1)
    assert err[keep].max() < 0.05, f"flip={flipped} top={top} left={left}: max error {err[keep].max()}"
    # the crop shifts the content: the first label row holding a part moves with `top`
    first_part_row = int((lab > 0).any(1).nonzero()[0])
    assert abs(first_part_row * 4 - (10 + 10 * 256 / 200 - top)) <= 4


def test_flip_moves_left_arm_label_to_image_right():
    pil, labels = _coded_pair()
    t = TrainTransform(size=(256, 128), pad=0, label_size=(256, 128))
    _, plain = t.apply(pil, labels, flip=False, top=0, left=0)
    _, flipped = t.apply(pil, labels, flip=True, top=0, left=0)
    # image row 150 / 256 is source row 117 / 200: the block row of left_leg (5, left column) and
    # right_leg (6, right column); after a flip the right-hand block is the mirrored left leg
    row = 150
    assert plain[row, 20].item() == 5 and plain[row, 100].item() == 6  # left_leg / right_leg ids 5, 6
    assert flipped[row, 100].item() == FLIP_PERMUTATION[5].item() == 6
    assert flipped[row, 20].item() == FLIP_PERMUTATION[6].item() == 5


def test_padding_is_black_and_background():
    t = TrainTransform(size=(32, 16), flip_p=0.0, pad=4, label_size=(32, 16))
    pil = Image.new("RGB", (16, 32), (255, 255, 255))
    img, lab = t.apply(pil, np.full((32, 16), 4, np.uint8), flip=False, top=0, left=8)
    # top=0: rows 0..3 come from the padding; left=8: the last 4 columns too
    assert torch.all(img[:, :4] == -1.0) and torch.all(img[:, :, 12:] == -1.0)
    assert torch.all(img[:, 4:, :12] == 1.0)
    assert torch.all(lab[:4] == 0) and torch.all(lab[:, 12:] == 0) and torch.all(lab[4:, :12] == 4)
    with pytest.raises(ValueError, match="crop offset must be in 0..8"):
        t.apply(pil, None, flip=False, top=9, left=0)


def test_random_draws_cover_flip_and_offsets_and_are_seeded():
    t = TrainTransform(size=(16, 8), pad=10)
    draws = [t.sample_params(torch.Generator().manual_seed(s)) for s in range(200)]
    assert {d[0] for d in draws} == {True, False}
    assert {d[1] for d in draws} == set(range(21)) and {d[2] for d in draws} == set(range(21))
    pil, labels = _coded_pair(40, 20)
    a = t(pil, labels, generator=torch.Generator().manual_seed(3))
    b = t(pil, labels, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_eval_transform_exact_values():
    t = EvalTransform(size=(2, 2), mean=(0.5, 0.0, 0.25), std=(0.5, 1.0, 0.25), label_size=(1, 1))
    pil = Image.fromarray(np.full((2, 2, 3), 255, np.uint8))
    img, lab = t(pil, np.array([[0, 3], [3, 3]], np.uint8))
    assert torch.allclose(img[:, 0, 0], torch.tensor([1.0, 1.0, 3.0]))
    assert lab.tolist() == [[3]]  # nearest sample at the centre of the 2x2 map: pixel (1, 1)
    img, lab = t(pil)
    assert lab is None and img.shape == (3, 2, 2)


def test_labels_resized_with_nearest_pixel_centres():
    labels = torch.arange(16).view(4, 4)
    assert resize_labels(labels, (2, 2), mode="nearest").tolist() == [[5, 7], [13, 15]]
    assert resize_labels(torch.tensor([[1, 2]]), (1, 4), mode="nearest").tolist() == [[1, 1, 2, 2]]


def test_bad_arguments():
    with pytest.raises(ValueError, match="size must be"):
        EvalTransform(size=(0, 10))
    with pytest.raises(ValueError, match="std must be > 0"):
        EvalTransform(std=0.0)
    with pytest.raises(ValueError, match="mean must be a number or 3 numbers"):
        TrainTransform(mean=(0.5, 0.5))
    with pytest.raises(ValueError, match="flip_p must be in"):
        TrainTransform(flip_p=2.0)
    with pytest.raises(ValueError, match="pad must be >= 0"):
        TrainTransform(pad=-1)
    t = EvalTransform(size=(8, 4))
    with pytest.raises(ValueError, match="label map must be 2-D"):
        t(Image.new("RGB", (4, 8)), np.zeros((8, 4, 1), np.uint8))
    with pytest.raises(ValueError, match=r"values must be in 0..8, got 0..9"):
        t(Image.new("RGB", (4, 8)), np.array([[0, 9]], np.uint8))

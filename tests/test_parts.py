"""The one label-map resize of ogfr.parts: both semantics by hand, types kept, the mode always said."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ogfr.parts import resize_labels


def test_majority_and_nearest_by_hand():
    # A 4 x 4 map shrunk to 2 x 2: each output pixel covers a 2 x 2 block.
    labels = np.array([[1, 1, 0, 4], [1, 0, 4, 4], [0, 0, 5, 6], [0, 7, 6, 6]], dtype=np.uint8)
    assert resize_labels(labels, (2, 2), mode="majority").tolist() == [[1, 4], [0, 6]]
    # nearest takes the pixel under each output centre (rows / columns 1 and 3)
    assert resize_labels(labels, (2, 2), mode="nearest").tolist() == [[0, 4], [7, 6]]
    # an even split between a part and background goes to the part (thin limbs survive)
    assert resize_labels(np.array([[0, 3]], dtype=np.uint8), (1, 1), mode="majority").tolist() == [[3]]


def test_types_sizes_and_growing_sides():
    t = torch.tensor([[1, 2], [3, 4]])
    up = resize_labels(t, (4, 2), mode="majority")  # a side that grows is sampled nearest
    assert isinstance(up, torch.Tensor) and up.dtype == torch.int64
    assert up.tolist() == [[1, 2], [1, 2], [3, 4], [3, 4]]
    arr = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    same = resize_labels(arr, (2, 2), mode="nearest")
    assert same is arr  # already at the size: unchanged
    out = resize_labels(arr, (1, 1), mode="majority")
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="mode must be"):
        resize_labels(arr, (1, 1), mode="bilinear")
    with pytest.raises(TypeError):
        resize_labels(arr, (1, 1))  # the semantics are always explicit
    with pytest.raises(ValueError, match="label map must be"):
        resize_labels(np.zeros((2, 2, 2), np.uint8), (1, 1), mode="nearest")

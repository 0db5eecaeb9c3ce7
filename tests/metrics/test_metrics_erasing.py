"""Scoring the erasing agent: ROC AUC against hand-computed values (ties included) and patch ground truth."""

from __future__ import annotations

import math

import pytest
import torch

from ogfr.metrics.erasing import noise_auc, patch_truth, roc_auc
from ogfr.parts import SCENE_OCCLUDER, SCENE_PEDESTRIAN


@pytest.mark.parametrize(
    "scores, labels, expected",
    [
        ([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], 0.75),  # pairs (pos, neg): 0.35>0.1, 0.35<0.4, 0.8>both -> 3/4
        ([0.5, 0.5, 0.9, 0.1], [1, 0, 1, 0], 0.875),  # one tied pair (0.5, 0.5) counts 1/2: 3.5 / 4
        ([1.0, 1.0, 1.0, 1.0], [0, 1, 0, 1], 0.5),  # all tied
        ([3.0, 2.0, 1.0], [0, 1, 1], 0.0),  # every negative above every positive
        ([2.0, 2.0, 1.0, 3.0, 2.0], [1, 0, 0, 1, 1], 5 / 6),  # pos {2,3,2} vs neg {2,1}: (.5+1+1+1+.5+1)/6
    ],
)
def test_roc_auc_hand_computed(scores, labels, expected) -> None:
    assert roc_auc(torch.tensor(scores), torch.tensor(labels)) == pytest.approx(expected, abs=1e-12)


def test_roc_auc_is_the_pairwise_probability_and_nan_without_a_class() -> None:
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (200,), generator=g).float()  # many ties
    labels = torch.rand(200, generator=g) < 0.3
    pos, neg = scores[labels], scores[~labels]
    pairwise = ((pos[:, None] > neg[None]).double() + 0.5 * (pos[:, None] == neg[None]).double()).mean()
    assert roc_auc(scores, labels) == pytest.approx(float(pairwise), abs=1e-12)
    assert math.isnan(roc_auc(torch.ones(3), torch.zeros(3)))
    assert math.isnan(roc_auc(torch.ones(3), torch.ones(3)))


def test_patch_truth_by_majority_of_known_pixels() -> None:
    occ, ped = SCENE_OCCLUDER, SCENE_PEDESTRIAN
    scene = torch.tensor(
        [
            [1, 1, occ, occ],
            [1, 0, 0, 4],
            [-1, -1, ped, ped],
            [-1, ped, 4, 4],
        ]
    )[None]  # (1, 4, 4) -> 2 x 2 patches of 2 x 2 pixels
    truth = patch_truth(scene, (2, 2))
    # patch 0: body 3/4 -> body; patch 1: occluder 2/4 + background 1/4 -> noise, mostly occluder;
    # patch 2: 1/4 known -> unknown; patch 3: pedestrian 2/4 vs body 2/4 -> a tie is body
    assert truth.known.tolist() == [[True, True, False, True]]
    assert truth.noise.tolist() == [[False, True, False, False]]
    assert truth.kind.tolist() == [[-1, occ, -1, -1]]


def test_noise_auc_over_known_patches_and_by_kind() -> None:
    occ, ped = SCENE_OCCLUDER, SCENE_PEDESTRIAN
    # four 1 x 1 patches per image: body, background, occluder, unknown
    scene = torch.tensor([[[1, 0, occ, -1]], [[4, ped, 2, -1]]])  # (2, 1, 4)
    truth = patch_truth(scene, (1, 4))
    erase = torch.tensor([[0.2, 0.9, 0.1, 5.0], [0.3, 0.6, 0.2, -5.0]])
    # noise {0.9, 0.1, 0.6} vs body {0.2, 0.3, 0.2}: 0.9 and 0.6 beat all three, 0.1 none -> 6/9
    assert noise_auc(erase, truth) == pytest.approx(6 / 9)
    assert noise_auc(erase, truth, kind=occ) == pytest.approx(0.0)  # the occluder patch scores lowest
    assert noise_auc(erase, truth, kind=0) == pytest.approx(1.0)
    assert noise_auc(erase, truth, kind=ped) == pytest.approx(1.0)

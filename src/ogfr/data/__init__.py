"""Data sets, samplers and augmentation for occluded Re-ID.

``load_dataset(name, root)`` reads a standard layout into a `ReIDData` of `Sample` lists; `ReIDDataset`
turns samples into dict items through `TrainTransform` / `EvalTransform` and, for training,
`OcclusionAugment`; `PKSampler` draws P identities x K images per batch. The synthetic benchmark
generator lives in ``ogfr.data.synth`` (imported on its own). Layouts: docs/data.md.
"""

from ogfr.data.dataset import ReIDDataset
from ogfr.data.datasets import READERS, load_dataset
from ogfr.data.occlusion import ObstacleBank, OcclusionAugment
from ogfr.data.sampler import PKSampler
from ogfr.data.samples import SPLITS, ReIDData, Sample, Split, relabel_train
from ogfr.data.transforms import FLIP_PERMUTATION, EvalTransform, TrainTransform

__all__ = [
    "FLIP_PERMUTATION",
    "READERS",
    "SPLITS",
    "EvalTransform",
    "ObstacleBank",
    "OcclusionAugment",
    "PKSampler",
    "ReIDData",
    "ReIDDataset",
    "Sample",
    "Split",
    "TrainTransform",
    "load_dataset",
    "relabel_train",
]

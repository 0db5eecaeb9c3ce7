"""Settings of the synthetic occluded Re-ID benchmark (`SynthConfig`) with validation and presets."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

GENERATOR_VERSION = "1.5"  # 1.5: scene/ ground-truth maps (body / background / occluder / pedestrian)
# Difficulty knobs of the demo benchmark (`SynthConfig.demo`): calibrated so that the single-branch
# baseline trained with the `ogfr demo` budget (270 steps on a 2-core CPU) reaches 30-85 % Rank-1 on the
# occluded queries; at full strength (1.0) it reaches ~12 % (docs/training.md, "Calibration").
DEMO_DIFFICULTY = 0.3
# The difficulty knobs of SynthConfig (1.0 = full strength, 0 = off); `ogfr synth --difficulty X` sets all.
DIFFICULTY_KNOBS = ("appearance_jitter", "camera_shift", "clutter", "pose_variation")


def _pair(name: str, value: Any, kind: type, ordered: bool = True) -> tuple:
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"SynthConfig.{name} must be a pair (low, high), got {value!r}")
    lo, hi = value
    allowed = (int,) if kind is int else (int, float)
    if not all(isinstance(v, allowed) and not isinstance(v, bool) for v in (lo, hi)):
        raise ValueError(f"SynthConfig.{name} must hold {kind.__name__} values, got {value!r}")
    if ordered and lo > hi:
        raise ValueError(f"SynthConfig.{name} must have low <= high, got {value!r}")
    return (kind(lo), kind(hi))


@dataclass(frozen=True)
class SynthConfig:
    """Everything that defines a synthetic data set; the same config and seed give byte-identical files."""

    num_ids: int = 300  # identities in total (train + test), Market-style disjoint split
    train_fraction: float = 0.5  # share of identities used for training (the rest: query / gallery)
    images_per_id: tuple[int, int] = (14, 26)  # inclusive range of images per identity
    num_cameras: int = 6  # Market-1501 has 6 cameras
    image_size: tuple[int, int] = (128, 64)  # (H, W) of every crop
    queries_per_id: int = 3  # occluded query images per test identity, each from a different camera
    # Probability that an image holds an occluder in front of the person (the query split is all occluded
    # as in Occluded-Duke; gallery and train are mostly holistic).
    occlusion_query: float = 1.0
    occlusion_gallery: float = 0.15
    occlusion_train: float = 0.2
    occlusion_cover: tuple[float, float] = (0.2, 0.65)  # share of the person an occluder hides
    num_distractors: int = 60  # gallery images of people outside the id set (pid 0000, as Market)
    num_junk: int = 20  # bad detections with pid -1 in the gallery (dropped by readers)
    # Difficulty knobs (1.0 = default; 0 switches the effect off).
    appearance_jitter: float = 1.0  # per-image variation of an identity's colours and proportions
    camera_shift: float = 1.0  # strength of per-camera illumination, colour cast, blur and noise
    clutter: float = 1.0  # background structures and passers-by behind the person
    pose_variation: float = 1.0  # walking stride, arm swing, scale and position jitter
    supersample: int = 3  # drawing resolution factor (anti-aliasing); labels are sampled at pixel centres
    jpeg_quality: int = 90
    seed: int = 0
    workers: int = 0  # processes for rendering; 0 = min(2, cpu count) for large sets, 1 = in-process

    def __post_init__(self) -> None:
        def check(ok: bool, msg: str) -> None:
            if not ok:
                raise ValueError(f"SynthConfig.{msg}")

        for name in ("num_ids", "num_cameras", "queries_per_id", "supersample", "jpeg_quality"):
            value = getattr(self, name)
            check(
                isinstance(value, int) and not isinstance(value, bool),
                f"{name} must be an int, got {value!r}",
            )
        check(
            2 <= self.num_ids <= 9999,
            f"num_ids must be in 2..9999 (train and test ids, 4-digit Market pids), got {self.num_ids}",
        )
        check(0.0 < self.train_fraction < 1.0, f"train_fraction must be in (0, 1), got {self.train_fraction}")
        n_train = round(self.num_ids * self.train_fraction)
        check(
            1 <= n_train <= self.num_ids - 1,
            f"train_fraction={self.train_fraction} leaves no train or no test id among num_ids={self.num_ids}",
        )
        check(
            2 <= self.num_cameras <= 9,
            f"num_cameras must be in 2..9 (cross-camera matching), got {self.num_cameras}",
        )
        object.__setattr__(self, "images_per_id", _pair("images_per_id", self.images_per_id, int))
        object.__setattr__(self, "image_size", self._size())
        check(self.queries_per_id >= 1, f"queries_per_id must be >= 1, got {self.queries_per_id}")
        check(
            self.queries_per_id < self.num_cameras,
            f"queries_per_id ({self.queries_per_id}) must be < num_cameras ({self.num_cameras}): "
            "every query needs a gallery match in another camera",
        )
        check(
            self.images_per_id[0] >= self.queries_per_id + 2,
            f"images_per_id low end ({self.images_per_id[0]}) must be >= queries_per_id + 2 = "
            f"{self.queries_per_id + 2} (queries plus gallery matches in other cameras)",
        )
        for name in ("occlusion_query", "occlusion_gallery", "occlusion_train"):
            value = getattr(self, name)
            check(0.0 <= value <= 1.0, f"{name} must be a probability in [0, 1], got {value}")
        cover = _pair("occlusion_cover", self.occlusion_cover, float)
        check(
            0.0 < cover[0] <= cover[1] < 1.0, f"occlusion_cover must satisfy 0 < low <= high < 1, got {cover}"
        )
        object.__setattr__(self, "occlusion_cover", cover)
        check(self.num_distractors >= 0, f"num_distractors must be >= 0, got {self.num_distractors}")
        check(self.num_junk >= 0, f"num_junk must be >= 0, got {self.num_junk}")
        for name in DIFFICULTY_KNOBS:
            value = getattr(self, name)
            check(0.0 <= value <= 3.0, f"{name} must be in [0, 3], got {value}")
        check(1 <= self.supersample <= 5, f"supersample must be in 1..5, got {self.supersample}")
        check(50 <= self.jpeg_quality <= 100, f"jpeg_quality must be in 50..100, got {self.jpeg_quality}")
        check(
            isinstance(self.seed, int) and self.seed >= 0,
            f"seed must be a non-negative int, got {self.seed!r}",
        )
        check(
            isinstance(self.workers, int) and self.workers >= 0, f"workers must be >= 0, got {self.workers!r}"
        )

    def _size(self) -> tuple[int, int]:
        h, w = _pair("image_size", self.image_size, int, ordered=False)
        if not (32 <= h <= 512 and 16 <= w <= 256):
            raise ValueError(
                f"SynthConfig.image_size must be (H, W) with 32 <= H <= 512 and 16 <= W <= 256, got {(h, w)}"
            )
        if h < w:
            raise ValueError(
                f"SynthConfig.image_size is (H, W) of a standing person: H must be >= W, got {(h, w)}"
            )
        return (h, w)

    @property
    def num_train_ids(self) -> int:
        return round(self.num_ids * self.train_fraction)

    @classmethod
    def tiny(cls, seed: int = 0) -> SynthConfig:
        """A dozen identities, a few images each: generated in about a second, used by the test suite."""
        return cls(
            num_ids=12,
            images_per_id=(5, 7),
            num_cameras=3,
            queries_per_id=1,
            num_distractors=3,
            num_junk=2,
            seed=seed,
            workers=1,
        )

    @classmethod
    def demo(cls, seed: int = 0) -> SynthConfig:
        """The embedded default of `ogfr demo`: 300 ids, about 6k images at 128 x 64, difficulty knobs at
        `DEMO_DIFFICULTY` (occlusion itself at full strength: every query occluded, 20-65 % covered)."""
        return cls(seed=seed, **dict.fromkeys(DIFFICULTY_KNOBS, DEMO_DIFFICULTY))

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("workers")  # does not change the output
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SynthConfig:
        """Rebuild a config from `to_dict()` output (e.g. synth.json); unknown keys are an error."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ValueError(f"unknown SynthConfig keys {unknown}; known: {sorted(names)}")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})

"""Typed sample records: one `Sample` per image, one `ReIDData` per data set (train / query / gallery)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Split = Literal["train", "query", "gallery"]
SPLITS: tuple[Split, ...] = ("train", "query", "gallery")


@dataclass(frozen=True)
class Sample:
    """One image of a Re-ID data set.

    ``pid`` is the relabeled id (0..P-1) in the train split and the data set's own id in query / gallery
    (0 = distractor); ``camid`` is 0-based (Market's ``c1`` is camera 0).
    """

    path: Path
    pid: int
    camid: int
    split: Split
    dataset: str

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValueError(f"{self.path}: split must be one of {SPLITS}, got {self.split!r}")
        if self.pid < 0:
            raise ValueError(
                f"{self.path}: pid must be >= 0 (junk ids are dropped at load time), got {self.pid}"
            )
        if self.camid < 0:
            raise ValueError(f"{self.path}: camid must be >= 0 (0-based camera ids), got {self.camid}")


def relabel_train(samples: Iterable[Sample]) -> tuple[list[Sample], dict[int, int]]:
    """Relabel train ids to 0..P-1 in increasing order of the original id.

    Returns the new samples and the mapping ``new label -> original id``.
    """
    samples = list(samples)
    original = sorted({s.pid for s in samples})
    to_label = {pid: label for label, pid in enumerate(original)}
    relabeled = [Sample(s.path, to_label[s.pid], s.camid, s.split, s.dataset) for s in samples]
    return relabeled, dict(enumerate(original))


def _stats(samples: Sequence[Sample]) -> tuple[int, int, int]:
    return len({s.pid for s in samples}), len(samples), len({s.camid for s in samples})


@dataclass
class ReIDData:
    """A loaded data set: three sample lists plus the bookkeeping a trainer needs.

    ``train_pid_map`` maps each relabeled train id back to the data set's own id; ``pid_names`` (only
    for the ``folder`` layout with non-numeric folder names) maps an id to its folder name.
    """

    name: str
    root: Path
    train: list[Sample]
    query: list[Sample]
    gallery: list[Sample]
    train_pid_map: dict[int, int] = field(default_factory=dict)
    pid_names: dict[int, str] = field(default_factory=dict)

    @property
    def num_train_pids(self) -> int:
        """Number of training identities (= classifier size)."""
        return len({s.pid for s in self.train})

    @property
    def num_cameras(self) -> int:
        """Size of a camera-embedding table covering every split: ``max(camid) + 1`` (at least 1)."""
        camids = [s.camid for split in (self.train, self.query, self.gallery) for s in split]
        return max(camids, default=0) + 1

    def split(self, name: Split) -> list[Sample]:
        """The sample list of one split by name."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        return getattr(self, name)

    def summary(self) -> str:
        """A torchreid-like table of ids / images / cameras per split."""
        line = "  " + "-" * 40
        rows = [
            f"=> Loaded {self.name} from {self.root}",
            line,
            "  subset   | # ids | # images | # cameras",
            line,
        ]
        for name in SPLITS:
            ids, images, cams = _stats(self.split(name))
            rows.append(f"  {name:<8} | {ids:5d} | {images:8d} | {cams:9d}")
        rows.append(line)
        return "\n".join(rows)

"""Synthetic backend, label cache: contents, resume after a kill, refusal of a foreign cache, summary."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ogfr.parsing import LabelCache, SyntheticBackend, build_cache, occlusion_code
from ogfr.parsing.base import ParseResult
from ogfr.parts import resize_labels

from .conftest import person_map


def test_resize_majority_keeps_parts():
    full = person_map()
    small = resize_labels(full, (64, 32), mode="majority")
    assert small.shape == (64, 32) and small.dtype == np.uint8
    # 2x2 blocks: every block of the blocky person is pure, so counts are exactly a quarter
    for part in range(1, 9):
        assert (small == part).sum() == pytest.approx((full == part).sum() / 4, abs=12)
    # head on top, feet at the bottom
    rows = {p: np.nonzero(small == p)[0].mean() for p in (1, 4, 5, 7)}
    assert rows[1] < rows[4] < rows[5] < rows[7]
    # a 1-pixel-thick limb survives 2x downsampling by the body-part tie-break
    thin = np.zeros((8, 8), dtype=np.uint8)
    thin[:, 3] = 2
    assert (resize_labels(thin, (4, 4), mode="majority") == 2).sum() == 4
    thin[:, 3], thin[:, 2] = 0, 2  # in column 2 nearest sampling (columns 1, 3, 5, 7) loses it
    assert (resize_labels(thin, (4, 4), mode="majority") == 2).sum() == 4
    assert (resize_labels(thin, (4, 4), mode="nearest") == 2).sum() == 0


def test_synthetic_backend(market):
    root, paths = market
    backend = SyntheticBackend((64, 32), dataset_root=root)
    results = backend.parse(paths[:2])
    assert [r.status for r in results] == ["ok", "ok"]
    z = occlusion_code(np.stack([r.labels for r in results]), 4, 5.0)
    assert z.tolist() == [[0, 0, 0, 0], [0, 0, 0, 1]]  # second person has no legs
    (root / "labels" / "query" / f"{paths[3].stem}.png").unlink()
    missing = backend.parse([paths[3]])[0]
    assert missing.status == "unreadable" and "not found" in missing.reason
    assert not missing.labels.any()
    with pytest.raises(FileNotFoundError, match="labels"):
        SyntheticBackend((64, 32), dataset_root=root / "query")


class _Killed(Exception):
    pass


class _CountingBackend:
    """Wraps a backend, counts parsed images, and raises after ``kill_after`` images (a simulated kill)."""

    def __init__(self, inner, kill_after: int | None = None) -> None:
        self.inner, self.kill_after, self.seen = inner, kill_after, 0
        self.name, self.label_size = inner.name, inner.label_size

    def config(self) -> dict:
        return {}

    def parse(self, paths) -> list[ParseResult]:
        if self.kill_after is not None and self.seen + len(paths) > self.kill_after:
            raise _Killed
        self.seen += len(paths)
        return self.inner.parse(paths)


def test_cache_resume_after_kill(market, tmp_path):
    root, paths = market
    out = tmp_path / "cache"
    first = _CountingBackend(SyntheticBackend((64, 32)), kill_after=4)
    with pytest.raises(_Killed):
        build_cache(paths, first, out, root, batch_size=2, progress=False)
    done = sorted(p for p in out.rglob("*.png"))
    assert len(done) == 4 and not list(out.rglob("*.tmp"))
    # a stray temporary file of the killed write is not an entry
    (out / "query" / ".x.png.1234.tmp").write_bytes(b"\x89PNG torn")
    second = _CountingBackend(SyntheticBackend((64, 32)))
    summary = build_cache(paths, second, out, root, batch_size=2, progress=False)
    assert second.seen == len(paths) - 4  # only the missing entries were computed
    assert summary["images"] == 9 and summary["no_person"] == 0 and summary["unreadable"] == 0
    # 3 of 9 persons have no legs (index 1 of each split)
    assert summary["visible_fraction"] == pytest.approx(
        {"head": 1.0, "arms": 1.0, "torso": 1.0, "legs": 6 / 9}
    )
    assert json.loads((out / "summary.json").read_text())["backend"] == "synthetic"

    cache = pickle.loads(pickle.dumps(LabelCache(out)))
    labels = cache(paths[1])
    assert labels.shape == (64, 32) and labels.dtype == np.uint8
    assert np.array_equal(labels, resize_labels(person_map(legs=False), (64, 32), mode="majority"))


def test_cache_refuses_foreign(market, tmp_path):
    root, paths = market
    out = tmp_path / "cache"
    build_cache(paths[:2], SyntheticBackend((64, 32)), out, root, progress=False)
    with pytest.raises(ValueError, match="label_size"):
        build_cache(paths, SyntheticBackend((32, 16)), out, root, progress=False)

    class Other(SyntheticBackend):
        name = "pose"

    with pytest.raises(ValueError, match="backend"):
        build_cache(paths, Other((64, 32)), out, root, progress=False)
    with pytest.raises(FileNotFoundError, match="meta.json"):
        LabelCache(tmp_path)
    cache = LabelCache(out)
    with pytest.raises(FileNotFoundError, match="ogfr parse"):
        cache(paths[5])
    assert LabelCache(out, missing="none")(paths[5]) is None
    # a corrupted entry of the wrong size is reported with its path
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(out / "bounding_box_train" / f"{paths[0].stem}.png")
    with pytest.raises(ValueError, match="64x32"):
        cache(paths[0])


def test_cache_moved_dataset(market, tmp_path):
    root, paths = market
    out = tmp_path / "cache"
    build_cache(paths, SyntheticBackend((64, 32)), out, root, progress=False)
    moved = Path("/elsewhere/mini") / paths[4].relative_to(root)
    assert LabelCache(out)(moved).shape == (64, 32)

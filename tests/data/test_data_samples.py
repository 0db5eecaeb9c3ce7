"""Sample / ReIDData records: validation, relabeling, the summary table."""

from __future__ import annotations

from pathlib import Path

import pytest

from ogfr.data import ReIDData, Sample, relabel_train


def _s(pid: int, camid: int, split: str = "train") -> Sample:
    return Sample(Path(f"/x/{pid}_{camid}.jpg"), pid, camid, split, "t")


def test_sample_is_frozen_and_validated():
    s = _s(3, 1)
    with pytest.raises(AttributeError):
        s.pid = 4  # type: ignore[misc]
    with pytest.raises(ValueError, match="split must be one of"):
        Sample(Path("a.jpg"), 1, 0, "val", "t")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"a\.jpg: pid must be >= 0"):
        Sample(Path("a.jpg"), -1, 0, "train", "t")
    with pytest.raises(ValueError, match="camid must be >= 0"):
        Sample(Path("a.jpg"), 1, -1, "train", "t")


def test_relabel_train_sorted_original_ids():
    samples = [_s(42, 0), _s(7, 1), _s(42, 2), _s(1500, 0)]
    relabeled, mapping = relabel_train(samples)
    assert [s.pid for s in relabeled] == [1, 0, 1, 2]
    assert mapping == {0: 7, 1: 42, 2: 1500}
    assert [s.camid for s in relabeled] == [0, 1, 2, 0]  # everything else unchanged
    assert [s.path for s in relabeled] == [s.path for s in samples]


def test_counts_and_summary_table():
    data = ReIDData(
        "toy",
        Path("/data/toy"),
        train=[_s(0, 0), _s(0, 1), _s(1, 0)],
        query=[_s(5, 0, "query")],
        gallery=[_s(5, 3, "gallery"), _s(0, 1, "gallery"), _s(6, 1, "gallery")],
    )
    assert data.num_train_pids == 2
    assert data.num_cameras == 4  # max camid 3 over all splits, + 1
    assert data.split("query") == data.query
    with pytest.raises(ValueError, match="split must be one of"):
        data.split("val")  # type: ignore[arg-type]
    lines = data.summary().splitlines()
    assert lines[0] == "=> Loaded toy from /data/toy"
    assert lines[2] == "  subset   | # ids | # images | # cameras"
    assert lines[4] == "  train    |     2 |        3 |         2"
    assert lines[5] == "  query    |     1 |        1 |         1"
    assert lines[6] == "  gallery  |     3 |        3 |         2"
    assert len(lines) == 8 and lines[1] == lines[3] == lines[7]


def test_empty_data_has_one_camera():
    assert ReIDData("e", Path("."), [], [], []).num_cameras == 1

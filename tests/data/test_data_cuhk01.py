"""The cuhk01 reader: camera from the image number, the fixed 485 / 486 identity split, errors."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from ogfr.data import load_dataset
from ogfr.data.datasets import CUHK01_SPLIT_SEED

CUHK01 = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cuhk01"


def _cuhk_files(ids: range, folder: str = "campus") -> list[str]:
    return [f"{folder}/{pid:04d}{k:03d}.png" for pid in ids for k in (1, 2, 3, 4)]


def test_cameras_and_split_on_a_small_tree(tmp_path, tree_writer):
    tree_writer(tmp_path / "cuhk01", [*_cuhk_files(range(1, 12)), "campus/readme.txt"])
    data = load_dataset("cuhk01", tmp_path / "cuhk01")
    assert data.root == tmp_path / "cuhk01" / "campus"
    shuffled = random.Random(CUHK01_SPLIT_SEED).sample(list(range(1, 12)), 11)
    train_ids, test_ids = set(shuffled[:5]), set(shuffled[5:])  # floor(11 / 2) identities train
    assert set(data.train_pid_map.values()) == train_ids
    assert {s.pid for s in data.query} == {s.pid for s in data.gallery} == test_ids
    assert len(data.train) == 5 * 4 and len(data.query) == len(data.gallery) == 6 * 2
    # images 001-002 are camera A (0), 003-004 camera B (1); query A, gallery B
    assert {s.camid for s in data.query} == {0} and {s.camid for s in data.gallery} == {1}
    assert all(int(s.path.stem[-3:]) <= 2 for s in data.query)
    assert all(int(s.path.stem[-3:]) >= 3 for s in data.gallery)
    assert sorted(int(s.path.stem[-3:]) for s in data.train if s.pid == 0) == [1, 2, 3, 4]
    assert [s.camid for s in data.train if s.pid == 0] == [0, 0, 1, 1]
    # deterministic, and the same from the campus folder itself
    again = load_dataset("cuhk01", tmp_path / "cuhk01" / "campus")
    assert [s.path for s in again.train] == [s.path for s in data.train]


def test_bad_names_and_missing_folder(tmp_path, tree_writer):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("cuhk01", tmp_path / "absent")
    tree_writer(tmp_path / "a", ["campus/person.png"])
    with pytest.raises(FileNotFoundError, match="not a cuhk01 folder.*PPPPKKK"):
        load_dataset("cuhk01", tmp_path / "a")
    tree_writer(tmp_path / "b", [*_cuhk_files(range(1, 3)), "campus/0003005.png"])
    with pytest.raises(ValueError, match=r"1 file name\(s\) do not parse.*0003005.png"):
        load_dataset("cuhk01", tmp_path / "b")
    tree_writer(tmp_path / "c", _cuhk_files(range(1, 2)))
    with pytest.raises(ValueError, match="at least 2 identities"):
        load_dataset("cuhk01", tmp_path / "c")


def test_the_real_cuhk01_protocol():
    if not (CUHK01 / "campus").is_dir():
        pytest.skip(f"CUHK01 not found at {CUHK01 / 'campus'}")
    data = load_dataset("cuhk01", CUHK01)
    assert (data.num_train_pids, len(data.train)) == (485, 1940)
    assert len({s.pid for s in data.query}) == 486 and (len(data.query), len(data.gallery)) == (972, 972)
    assert not set(data.train_pid_map.values()) & {s.pid for s in data.query}
    assert data.num_cameras == 2

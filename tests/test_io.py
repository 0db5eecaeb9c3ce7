"""Atomic writes (ogfr.io): a failed write leaves the old file and no temporary file behind."""

from __future__ import annotations

import stat

import pytest

from ogfr.io import atomic_path, atomic_write_bytes, atomic_write_json, atomic_write_text


def test_write_replaces_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "sub" / "a.json"
    atomic_write_json(target, {"b": 1, "a": 2}, sort_keys=True)
    assert target.read_text() == '{\n  "a": 2,\n  "b": 1\n}\n'
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["a.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_failure_keeps_old_content_and_removes_temp(tmp_path):
    target = tmp_path / "model.pt"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError, match="killed"), atomic_path(target, fsync=True) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_temp_name_keeps_suffix_for_format_sniffing_writers(tmp_path):
    with atomic_path(tmp_path / "fig.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and tmp.name.startswith(".fig.png.")
        tmp.write_bytes(b"x")
    assert (tmp_path / "fig.png").read_bytes() == b"x"


def test_missing_folder_is_an_error_naming_it_when_mkdir_is_off(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "x.txt", "x", mkdir=False)

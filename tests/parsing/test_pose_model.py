"""The pose model file: located, verified, never downloaded when a good copy is there."""

from __future__ import annotations

import shutil

import pytest

from ogfr import fetch
from ogfr.parsing import pose_model


def test_missing_model_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("OGFR_CACHE", str(tmp_path))
    with pytest.raises(FileNotFoundError) as err:
        pose_model.resolve_model()
    msg = str(err.value)
    assert str(tmp_path / "models" / "pose_landmark_full.tflite") in msg
    assert "pose_model fetch" in msg and "mediapipe==0.10.21" in msg and pose_model.MODEL_SHA256 in msg


def test_corrupt_cached_model_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("OGFR_CACHE", str(tmp_path))
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "pose_landmark_full.tflite").write_bytes(b"truncated")
    with pytest.raises(ValueError, match="sha256"):
        pose_model.resolve_model()


def test_fetch_keeps_a_verified_copy_without_pip(tmp_path, monkeypatch):
    real = pose_model.resolve_model()  # the copy ./run setup fetched
    monkeypatch.setenv("OGFR_CACHE", str(tmp_path))
    target = pose_model.default_model_path()
    target.parent.mkdir(parents=True)
    shutil.copyfile(real, target)

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when the model is already there")

    monkeypatch.setattr(fetch.subprocess, "run", no_pip)
    assert pose_model.fetch() == target
    assert pose_model.main(["fetch", "--quiet"]) == 0

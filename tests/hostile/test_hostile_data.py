"""Hostile data sets and parsing inputs: identity folders, detector weights, a killed `ogfr parse`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hostile_files import evil_pickle, no_unpickling_advice, refused
from PIL import Image

from ogfr.cli import main
from ogfr.data import load_dataset


def _crops(folder: Path, n: int = 2, value: int = 100) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((16, 8, 3), value + i, np.uint8)).save(folder / f"{i:03d}.jpg")


def test_folders_1_and_01_are_not_merged_into_one_identity(tmp_path, capsys):
    """Issue 13 item 8: `--name folder` silently gave `1/` and `01/` the same identity."""
    for split, name in (("query", "1"), ("query", "2"), ("gallery", "01"), ("gallery", "2")):
        _crops(tmp_path / "photos" / split / name)
    argv = ["parse", "--dataset", tmp_path / "photos", "--name", "folder", "--out", tmp_path / "labels"]
    refused(capsys, argv, "identity folders '01' and '1' both mean identity 1")
    assert not (tmp_path / "labels").exists()


def test_numeric_id_folders_of_occluded_reid_are_not_merged(tmp_path):
    base = tmp_path / "Occluded_REID"
    for part, pid in (
        ("occluded_body_images", "001"),
        ("occluded_body_images", "1"),
        ("whole_body_images", "1"),
    ):
        folder = base / part / pid
        folder.mkdir(parents=True)
        Image.new("RGB", (8, 16)).save(folder / f"{pid}_01.tif")
    with pytest.raises(ValueError, match="identity folders '001' and '1' both mean identity 1"):
        load_dataset("occluded_reid", tmp_path)


def test_distinct_numeric_and_named_folders_still_load(tmp_path):
    for split, name in (("query", "7"), ("gallery", "7"), ("gallery", "12")):
        _crops(tmp_path / split / name)
    data = load_dataset("folder", tmp_path)
    assert sorted({s.pid for s in data.gallery}) == [7, 12] and {s.pid for s in data.query} == {7}


def _tv_parse(root: Path, out: Path, weights: Path) -> list:
    return [
        "parse", "--dataset", root, "--backend", "torchvision", "--out", out, "--no-progress",
        "--mask-weights", weights, "--keypoint-weights", weights,
    ]  # fmt: skip


def test_malicious_torchvision_weights_are_refused_unrun(synth_root, tmp_path, capsys):
    """Issue 13 item 4: `ogfr parse --backend torchvision` ended in a raw UnpicklingError."""
    marker = tmp_path / "code-ran"
    evil = evil_pickle(tmp_path / "maskrcnn.pth", marker)
    err = refused(
        capsys, _tv_parse(synth_root, tmp_path / "labels", evil), f"{evil}: not a readable torchvision"
    )
    assert not marker.exists()
    no_unpickling_advice(err)
    assert not (tmp_path / "labels").exists()


def test_invalid_or_foreign_torchvision_weights_name_the_file(synth_root, tmp_path, capsys):
    import torch

    noise = tmp_path / "noise.pth"
    noise.write_bytes(b"PK\x03\x04 not really a zip")
    refused(capsys, _tv_parse(synth_root, tmp_path / "labels", noise), f"{noise}: not a readable torchvision")
    foreign = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, foreign)
    refused(capsys, _tv_parse(synth_root, tmp_path / "labels", foreign), f"{foreign}: not the expected")
    listed = tmp_path / "list.pth"
    torch.save([torch.zeros(2)], listed)
    refused(capsys, _tv_parse(synth_root, tmp_path / "labels", listed), f"{listed}: expected a state dict")


_KILLED_PARSE = """
import os, signal, sys
from ogfr.cli import main
from ogfr.parsing.synthetic import SyntheticBackend

parse, seen = SyntheticBackend.parse, [0]
def parse_then_die(self, paths):
    if seen[0] >= 24:  # SIGKILL in the middle of the run, after 24 images are stored
        os.kill(os.getpid(), signal.SIGKILL)
    seen[0] += len(paths)
    return parse(self, paths)
SyntheticBackend.parse = parse_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_a_sigkilled_parse_resumes_to_the_same_cache(synth_root, tmp_path):
    argv = [
        "parse",
        "--dataset",
        str(synth_root),
        "--backend",
        "synthetic",
        "--batch-size",
        "8",
        "--no-progress",
    ]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    ref, run = tmp_path / "ref", tmp_path / "run"
    assert main([*argv, "--out", str(ref)]) == 0
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED_PARSE, *argv, "--out", str(run)], env=env, timeout=300
    )
    assert killed.returncode == -signal.SIGKILL
    stored = sorted(p for p in run.rglob("*.png"))
    assert 0 < len(stored) < len(list(ref.rglob("*.png")))
    subprocess.run([sys.executable, "-m", "ogfr", *argv, "--out", str(run)], env=env, check=True, timeout=300)
    for png in ref.rglob("*.png"):
        assert (run / png.relative_to(ref)).read_bytes() == png.read_bytes(), png
    a, b = (json.loads((d / "summary.json").read_text()) for d in (ref, run))
    assert a == b

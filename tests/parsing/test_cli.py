"""`ogfr parse` end to end on a generated synthetic data set, and the parsing figure."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from ogfr.cli import main
from ogfr.data import load_dataset
from ogfr.parsing import LabelCache
from ogfr.parts import COARSE_NAMES
from ogfr.viz.parsing import parsing_figure


def test_parse_synthetic_then_files(synth_root, tmp_path, capsys):
    out = tmp_path / "syn"
    assert (
        main(
            [
                "parse",
                "--dataset",
                str(synth_root),
                "--backend",
                "synthetic",
                "--out",
                str(out),
                "--no-progress",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    data = load_dataset("synthetic", synth_root)  # junk-id images are not part of any split
    n_images = len(data.train) + len(data.query) + len(data.gallery)
    assert summary["backend"] == "synthetic" and summary["images"] == n_images and summary["unreadable"] == 0
    assert set(summary["visible_fraction"]) == {"head", "arms", "torso", "legs"}
    assert "visible fraction" in capsys.readouterr().out
    meta = json.loads((out / "meta.json").read_text())
    assert meta["backend"] == "synthetic" and meta["label_size"] == [64, 32]

    # another label size into the same folder is refused with a message, not a traceback
    rc = main(
        [
            "parse",
            "--dataset",
            str(synth_root),
            "--backend",
            "synthetic",
            "--out",
            str(out),
            "--label-size",
            "32x16",
        ]
    )
    assert rc == 1 and "label_size" in capsys.readouterr().err

    # files backend, plain format, reading the generator's full-size label PNGs: same maps as synthetic
    out2 = tmp_path / "files"
    args = [
        "parse",
        "--dataset",
        str(synth_root),
        "--backend",
        "files",
        "--masks",
        str(synth_root / "labels"),
    ]
    assert main([*args, "--out", str(out2), "--no-progress"]) == 0
    a, b = LabelCache(out), LabelCache(out2)
    some = sorted(synth_root.glob("query/*.jpg"))[:5]
    for p in some:
        assert np.array_equal(a(p), b(p))


def test_parse_pose_on_a_folder_of_images(synth_root, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in sorted(synth_root.glob("query/*.jpg"))[:3]:
        (folder / p.name).write_bytes(p.read_bytes())
    out = tmp_path / "pose"
    rc = main(
        [
            "parse",
            "--dataset",
            str(folder),
            "--name",
            "images",
            "--backend",
            "pose",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 3 and summary["ok"] + summary["no_person"] == 3
    assert LabelCache(out)(folder / sorted(p.name for p in folder.iterdir())[0]).shape == (64, 32)


def test_parse_bad_arguments(tmp_path, capsys):
    assert main(["parse", "--dataset", str(tmp_path / "none"), "--backend", "synthetic"]) == 1
    assert "must be an existing folder" in capsys.readouterr().err
    tmp_path.joinpath("a.jpg").write_bytes(b"")
    assert main(["parse", "--dataset", str(tmp_path), "--name", "images", "--label-size", "64by32"]) == 1
    assert "64x32" in capsys.readouterr().err


def test_parsing_figure(tmp_path):
    images = [np.full((128, 64, 3), 200, np.uint8)] * 3
    maps = [
        np.zeros((64, 32), np.uint8),
        np.full((64, 32), 4, np.uint8),
        np.arange(9, dtype=np.uint8).repeat(4)[None].repeat(64, 0)[:, :32],
    ]
    codes = np.array([[1, 1, 1, 1], [1, 1, 0, 1], [0, 0, 0, 0]])
    path = parsing_figure(images, maps, codes, tmp_path / "fig.png", COARSE_NAMES[4], titles=["a", "b", "c"])
    with Image.open(path) as im:
        assert im.format == "PNG" and im.width > im.height > 100
    with pytest.raises(ValueError, match="codes"):
        parsing_figure(images, maps, codes[:2], tmp_path / "x.png", COARSE_NAMES[4])
    with pytest.raises(ValueError, match="part ids"):
        parsing_figure(
            images[:1], [np.full((4, 4), 9, np.uint8)], codes[:1], tmp_path / "x.png", COARSE_NAMES[4]
        )


def test_make_backend_errors(tmp_path):
    from ogfr.parsing import make_backend

    with pytest.raises(ValueError, match="unknown parsing backend 'nope'"):
        make_backend("nope")
    with pytest.raises(ValueError, match="data set root"):
        make_backend("files")
    with pytest.raises(FileNotFoundError, match="no ground-truth label folder"):
        make_backend("synthetic", (64, 32), tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.tflite"):
        make_backend("pose", model=tmp_path / "missing.tflite")

"""The one image reader (`ogfr.images`): what it refuses and how every reader of images reacts to it."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from image_files import bomb_png
from ogfr.images import MAX_PIXELS, UnreadableImage, read_image, read_rgb


def _jpeg(path: Path, size=(32, 64), colour=(200, 30, 30)) -> Path:
    Image.new("RGB", size, colour).save(path, quality=95)
    return path


def test_ordinary_images_are_read_as_rgb(tmp_path):
    jpg = _jpeg(tmp_path / "a.jpg")
    img = read_image(jpg)
    assert img.mode == "RGB" and img.size == (32, 64)
    grey = tmp_path / "g.png"
    Image.new("L", (5, 7), 77).save(grey)
    arr = read_rgb(grey)
    assert arr.shape == (7, 5, 3) and arr.dtype == np.uint8 and (arr == 77).all()
    rgba = tmp_path / "rgba.png"
    Image.new("RGBA", (4, 4), (10, 20, 30, 0)).save(rgba)
    assert read_rgb(rgba)[0, 0].tolist() == [10, 20, 30]


def test_mode_none_keeps_stored_values(tmp_path):
    """Part-label PNGs: the stored values are part ids and must not be converted."""
    labels = np.arange(12, dtype=np.uint8).reshape(3, 4) % 9
    path = tmp_path / "labels.png"
    Image.fromarray(labels, mode="L").save(path)
    out = read_image(path, mode=None)
    assert out.mode == "L" and (np.asarray(out) == labels).all()


def test_exif_orientation_is_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 0))
    img.paste((255, 255, 255), (0, 0, 10, 20))  # white left quarter
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "phone.jpg"
    img.save(path, exif=exif, quality=95)
    shown = read_rgb(path)
    assert shown.shape == (40, 20, 3)  # portrait, as a viewer shows it
    assert shown[:10].mean() > 200 and shown[-10:].mean() < 50  # the white strip is now on top


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda d: d / "absent.jpg", "file not found"),
        (lambda d: d, "not a file"),
        (lambda d: (d / "notes.txt").write_text("hello") and d / "notes.txt", "not an image Pillow can read"),
        (
            lambda d: (d / "cut.jpg").write_bytes(_jpeg(d / "full.jpg").read_bytes()[:200]) and d / "cut.jpg",
            "unreadable image",
        ),
        (lambda d: bomb_png(d / "huge.png", 20_000), "decompression bomb"),
        (lambda d: bomb_png(d / "big.png", 10_000), "decompression bomb"),
        (lambda d: bomb_png(d / "six.png", 6_000), "6000x6000 pixels exceeds the limit of 25000000 pixels"),
    ],
    ids=["missing", "folder", "text", "truncated", "bomb-20k", "bomb-10k", "over-limit-6k"],
)
def test_unusable_files_raise_unreadable_image_naming_the_file(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(UnreadableImage, match=reason) as err:
        read_image(path)
    assert err.value.path == str(path) and str(err.value).startswith(f"{path}: ")
    assert isinstance(err.value, ValueError)


def test_limits_and_bytes_sources(tmp_path):
    jpg = _jpeg(tmp_path / "a.jpg")
    with pytest.raises(UnreadableImage, match="exceeds the limit of 100 pixels"):
        read_image(jpg, max_pixels=100)
    with pytest.raises(UnreadableImage, match="below the 40-pixel minimum side"):
        read_image(jpg, min_side=40)
    assert read_image(jpg.read_bytes()).size == (32, 64)
    with pytest.raises(UnreadableImage, match=r"^upload\.png: "):
        read_image(b"\x89PNG not really", name="upload.png")
    buf = io.BytesIO()
    bomb_png(tmp_path / "b.png", 6_000)
    buf.write((tmp_path / "b.png").read_bytes())
    with pytest.raises(UnreadableImage, match="<uploaded bytes>: .*exceeds"):
        read_image(buf.getvalue())
    assert MAX_PIXELS == 25_000_000


def test_training_dataset_substitutes_a_bomb_and_counts_it(tmp_path, caplog):
    from ogfr.data import EvalTransform, ReIDDataset, Sample

    good = _jpeg(tmp_path / "0001_c1_good.jpg")
    bomb = bomb_png(tmp_path / "0001_c2_bomb.png", 20_000)
    samples = [Sample(bomb, 0, 1, "train", "x"), Sample(good, 0, 0, "train", "x")]
    ds = ReIDDataset(samples, EvalTransform(size=(64, 32), label_size=(16, 8)))
    with caplog.at_level(logging.WARNING):
        item = ds[0]
    assert item["path"] == str(good) and ds.num_unreadable == 1
    assert "decompression bomb" in caplog.text and str(bomb) in caplog.text


def test_obstacle_bank_skips_a_bomb(tmp_path, caplog):
    from ogfr.data import ObstacleBank, Sample

    good = _jpeg(tmp_path / "good.jpg")
    bomb = bomb_png(tmp_path / "bomb.png", 10_000)
    samples = [Sample(bomb, 0, 0, "train", "x"), Sample(good, 1, 0, "train", "x")]
    with caplog.at_level(logging.WARNING):
        bank = ObstacleBank.from_samples(samples, num_patches=4, seed=0)
    assert len(bank) == 4 and "skipped for the obstacle bank" in caplog.text
    with pytest.raises(UnreadableImage, match="decompression bomb"):
        ObstacleBank([bomb])


def test_parsing_reports_a_bomb_as_unreadable_and_parses_the_rest(tmp_path):
    from ogfr.parsing.base import parse_loaded

    good = _jpeg(tmp_path / "good.jpg")
    bomb = bomb_png(tmp_path / "bomb.png", 20_000)
    seen = []

    def fake_backend(images):
        seen.extend(im.shape for im in images)
        return [pytest.importorskip("ogfr.parsing.base").failed((4, 2), "no_person", "fake") for _ in images]

    out = parse_loaded(fake_backend, (4, 2), [bomb, good, tmp_path / "absent.jpg"])
    assert seen == [(64, 32, 3)]
    assert [r.status for r in out] == ["unreadable", "no_person", "unreadable"]
    assert "decompression bomb" in out[0].reason and "file not found" in out[2].reason
    assert (out[0].labels == 0).all() and out[0].labels.shape == (4, 2)

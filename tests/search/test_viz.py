"""Figures: PNG files of the expected size with the expected marks (borders, erased cells)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from ogfr.viz.erasing import erased_overlay, erasing_figure, erasing_figure_size
from ogfr.viz.ranked import GREEN, RED, RankedRow, ranked_figure_size, ranked_list_figure
from ogfr.viz.visibility import visibility_figure, visibility_figure_size


def crops(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, size=(64, 32, 3), dtype=np.uint8) for _ in range(n)]


def test_ranked_list_borders_and_size(tmp_path):
    imgs = crops(5)
    rows = [
        RankedRow(imgs[0], imgs[1:], query_pid=7, gallery_pids=[7, 3, 7, -1], distances=[0.1, 0.2, 0.3, 0.4])
    ]
    out = ranked_list_figure(rows * 2, tmp_path / "ranked.png", tile=(64, 32), border=3)
    im = Image.open(out).convert("RGB")
    assert im.size == ranked_figure_size(2, 4, tile=(64, 32), border=3) and out.stat().st_size > 1000
    # The left border pixel of each gallery tile (first row): green, red, green, grey.
    from ogfr.viz.ranked import GAP, HEADER, MARGIN, SEPARATOR

    tw = 32 + 2 * 3
    y = MARGIN + HEADER + 30
    colours = [im.getpixel((MARGIN + tw + SEPARATOR + k * (tw + GAP), y)) for k in range(4)]
    assert colours[:3] == [GREEN, RED, GREEN] and colours[3] not in (GREEN, RED)
    with pytest.raises(ValueError, match="gallery_pids has 1 entries"):
        RankedRow(imgs[0], imgs[1:3], gallery_pids=[1])


def test_visibility_figure(tmp_path):
    rng = np.random.default_rng(0)
    maps = rng.random((2, 9, 32, 16))
    maps /= maps.sum(axis=1, keepdims=True)
    out = visibility_figure(crops(2), [[0, 1, 0, 0], [1, 1, 0, 1]], maps, tmp_path / "vis.png")
    im = Image.open(out)
    assert im.size == visibility_figure_size(2) and out.stat().st_size > 5000
    assert np.asarray(im.convert("L")).std() > 10  # not a blank canvas
    with pytest.raises(ValueError, match="part_maps must be"):
        visibility_figure(crops(2), [[0] * 4] * 2, maps[:1], tmp_path / "bad.png")


def test_erased_overlay_hand_checked():
    img = Image.fromarray(np.zeros((8, 4, 3), dtype=np.uint8))
    keep = np.array([[0.9, 0.1], [0.6, 0.5]])  # cells (0,1) and (1,1) replaced (<= 0.5)
    arr = erased_overlay(img, keep)
    assert (arr[:4, 2:] == 255).all() and (arr[4:, 2:] == 255).all()
    assert (arr[:, :2] == 0).all()
    # Overlapping patches (P = 4, S = 2) on an 8x4 input: cell (0, 0) is the 2x2 tile at rows/cols 1..2.
    arr = erased_overlay(img, np.array([[0.0], [1.0]]), patch=4, stride=2, input_size=(8, 4))
    white = np.zeros((8, 4), dtype=bool)
    white[1:3, 1:3] = True
    assert (arr[white] == 255).all() and (arr[~white] == 0).all()


def test_erasing_figure(tmp_path):
    probs = np.random.default_rng(1).random((3, 8, 4))
    out = erasing_figure(crops(3), probs, tmp_path / "erasing.png")
    assert Image.open(out).size == erasing_figure_size(3) and out.stat().st_size > 5000
    with pytest.raises(ValueError, match="keep_probs must be"):
        erasing_figure(crops(2), probs, tmp_path / "bad.png")


def test_save_figure_writes_rgb_png_atomically_from_a_figure_or_an_image(tmp_path):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ogfr.viz.figure import save_figure

    fig = Figure(figsize=(2.0, 1.0), dpi=50)
    FigureCanvasAgg(fig)
    fig.add_subplot(1, 1, 1).plot([0, 1], [0, 1])
    out = save_figure(fig, tmp_path / "sub" / "fig.png")  # the folder is created
    with Image.open(out) as im:
        assert (im.format, im.mode, im.size) == ("PNG", "RGB", (100, 50))
    with Image.open(save_figure(fig, tmp_path / "big.png", dpi=100)) as im:
        assert im.size == (200, 100)
    with Image.open(save_figure(fig, tmp_path / "tight.png", tight=True)) as im:
        assert im.size[0] < 100  # cropped to the drawn content
    pil = Image.new("RGBA", (7, 5), (10, 20, 30, 128))
    with Image.open(save_figure(pil, tmp_path / "pil.png")) as im:
        assert (im.mode, im.size, im.getpixel((0, 0))) == ("RGB", (7, 5), (10, 20, 30))
    assert sorted(p.name for p in tmp_path.rglob("*")) == [
        "big.png",
        "fig.png",
        "pil.png",
        "sub",
        "tight.png",
    ]


def test_erasing_figure_with_ground_truth(tmp_path):
    probs = np.full((2, 8, 4), 0.9)
    noise = np.zeros((2, 8, 4), dtype=bool)
    noise[:, :, 0] = True  # the first patch column is noise
    out = erasing_figure(crops(2), probs, tmp_path / "erasing.png", noise=noise, aucs=[0.5, 0.75])
    assert Image.open(out).size == erasing_figure_size(2, truth=True)
    with pytest.raises(ValueError, match="noise must have the shape"):
        erasing_figure(crops(2), probs, tmp_path / "bad.png", noise=noise[:, :4])


def test_erasing_figure_for_synthetic_images_shows_the_ground_truth(synth_root, tmp_path):
    import torch

    from ogfr.engine.config import preset_model
    from ogfr.model import OGFR
    from ogfr.search.embed import Embedder
    from ogfr.search.figures import erasing_figure_for

    torch.manual_seed(0)
    model = OGFR(preset_model("tiny"), num_classes=4, num_cameras=3).eval()
    images = sorted((synth_root / "bounding_box_test").glob("*.jpg"))[:2]
    out = erasing_figure_for(Embedder(model, occlusion="visible"), images, tmp_path / "e.png")
    assert Image.open(out).size == erasing_figure_size(2, truth=True)
    plain = tmp_path / "plain"
    plain.mkdir()
    copies = [plain / p.name for p in images]
    for src, dst in zip(images, copies, strict=True):
        dst.write_bytes(src.read_bytes())  # the same images without scene labels beside them
    out = erasing_figure_for(Embedder(model, occlusion="visible"), copies, tmp_path / "p.png")
    assert Image.open(out).size == erasing_figure_size(2)

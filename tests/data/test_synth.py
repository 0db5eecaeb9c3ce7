"""The synthetic occluded Re-ID benchmark: layout, determinism, label/image agreement, splits, errors."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ogfr.data.synth import GENERATOR_VERSION, SPLIT_DIRS, SynthConfig, generate
from ogfr.data.synth.canvas import Canvas
from ogfr.data.synth.generate import _Context, plan, render
from ogfr.data.synth.identity import sample_identity
from ogfr.data.synth.person import Pose, draw_person
from ogfr.parts import SCENE_NAMES, SCENE_OCCLUDER, SCENE_PEDESTRIAN

MARKET_NAME = re.compile(r"^(-1|\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$")
MICRO = dict(num_ids=4, images_per_id=(3, 3), num_cameras=2, queries_per_id=1, num_distractors=0, num_junk=0)


def read_index(root: Path) -> list[dict]:
    with open(root / "synth_index.csv", newline="") as f:
        return list(csv.DictReader(f))


def load(root: Path, split: str, stem: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folder = SPLIT_DIRS[split]
    img = np.asarray(Image.open(root / folder / f"{stem}.jpg").convert("RGB"))
    labels = np.asarray(Image.open(root / "labels" / folder / f"{stem}.png"))
    occ = np.asarray(Image.open(root / "occluders" / folder / f"{stem}.png"))
    return img, labels, occ


def test_layout_parses_as_market_and_has_labels(synth_root: Path) -> None:
    cfg = SynthConfig.tiny(seed=0)
    meta = json.loads((synth_root / "synth.json").read_text())
    assert meta["version"] == GENERATOR_VERSION and meta["config"] == cfg.to_dict() and meta["seed"] == 0
    rows = read_index(synth_root)
    names = {split: sorted(p.name for p in (synth_root / d).iterdir()) for split, d in SPLIT_DIRS.items()}
    assert sum(len(v) for v in names.values()) == len(rows)
    for split, files in names.items():
        assert files, split
        assert meta["counts"][split]["images"] == len(files)
        for name in files:
            m = MARKET_NAME.match(name)
            assert m is not None, name
            assert 1 <= int(m.group(2)) <= cfg.num_cameras
            img, labels, occ = load(synth_root, split, name[:-4])
            assert img.shape == (*cfg.image_size, 3)
            assert labels.shape == occ.shape == cfg.image_size and labels.dtype == np.uint8
            assert set(np.unique(labels)) <= set(range(9))
            assert set(np.unique(occ)) <= {0, 255}
    # distractors (0000) and junk (-1) only in the gallery, as in Market-1501
    gallery_pids = Counter(int(MARKET_NAME.match(n).group(1)) for n in names["gallery"])
    assert gallery_pids[0] == cfg.num_distractors and gallery_pids[-1] == cfg.num_junk


def test_market_reader_loads_it(synth_root: Path) -> None:
    from ogfr.data import load_dataset

    data = load_dataset("synthetic", synth_root)
    rows = read_index(synth_root)
    assert len(data.train) == sum(r["split"] == "train" for r in rows)
    assert len(data.query) == sum(r["split"] == "query" for r in rows)
    assert len(data.gallery) == sum(
        r["split"] == "gallery" and r["pid"] != "-1" for r in rows
    )  # junk dropped
    assert data.num_train_pids == SynthConfig.tiny().num_train_ids


def test_ids_disjoint_and_every_query_answerable(synth_root: Path) -> None:
    rows = read_index(synth_root)
    pids = defaultdict(set)
    for r in rows:
        pids[r["split"]].add(int(r["pid"]))
    assert not pids["train"] & (pids["query"] | pids["gallery"])
    assert pids["query"] <= pids["gallery"]
    gallery = {(int(r["pid"]), int(r["camid"])) for r in rows if r["split"] == "gallery"}
    for r in rows:
        if r["split"] == "query":  # a true match survives the same-id-same-camera removal
            assert any(p == int(r["pid"]) and c != int(r["camid"]) for p, c in gallery), r["stem"]


def test_occluders_are_background_in_labels(synth_root: Path) -> None:
    cfg = SynthConfig.tiny()
    rows = read_index(synth_root)
    covers = []
    for r in rows:
        _, labels, occ = load(synth_root, r["split"], r["stem"])
        assert not (labels[occ > 0]).any(), r["stem"]  # occluder pixels are never body parts
        if r["occluder"]:
            assert occ.any(), r["stem"]
            covers.append(float(r["cover"]))
        else:
            assert not occ.any(), r["stem"]
        if r["split"] == "query":
            assert r["occluder"], "every query is occluded (Occluded-Duke protocol)"
    lo, hi = cfg.occlusion_cover
    inside = np.mean([lo - 0.02 <= c <= hi + 0.02 for c in covers])
    assert inside >= 0.8, covers


def test_scene_labels_are_the_ground_truth_of_every_pixel(synth_root: Path) -> None:
    seen: Counter = Counter()
    for r in read_index(synth_root):
        folder = SPLIT_DIRS[r["split"]]
        _, labels, occ = load(synth_root, r["split"], r["stem"])
        scene = np.asarray(Image.open(synth_root / "scene" / folder / f"{r['stem']}.png"))
        assert scene.shape == labels.shape and scene.dtype == np.uint8
        assert set(np.unique(scene)) <= set(range(len(SCENE_NAMES)))
        body = (scene >= 1) & (scene <= 8)
        assert np.array_equal(np.where(body, scene, 0), labels), r["stem"]  # the body is the part labels
        in_front = occ > 0  # objects and pedestrians in front of the target
        assert set(np.unique(scene[in_front])) <= {SCENE_OCCLUDER, SCENE_PEDESTRIAN}, r["stem"]
        assert not ((scene == SCENE_OCCLUDER) & ~in_front).any(), r["stem"]  # occluder objects stand in front
        if r["occluder"] == "pedestrian":
            assert (scene[in_front] == SCENE_PEDESTRIAN).any(), r["stem"]
        seen.update(np.unique(scene).tolist())
    # every kind of pixel occurs in the tiny set, and passers-by behind the target are pedestrians too
    assert all(seen[k] for k in (0, SCENE_OCCLUDER, SCENE_PEDESTRIAN)), seen


def test_scene_labels_of_a_layer_map() -> None:
    from ogfr.data.synth.canvas import OCCLUDER
    from ogfr.data.synth.generate import scene_labels
    from ogfr.data.synth.scene import OCCLUDING_PERSON, PASSER_BY

    layer = np.array([[0, 1, 8, OCCLUDER, PASSER_BY + 4, OCCLUDING_PERSON + 1, OCCLUDING_PERSON + 8, 255]])
    expected = [[0, 1, 8, SCENE_OCCLUDER, SCENE_PEDESTRIAN, SCENE_PEDESTRIAN, SCENE_PEDESTRIAN, 0]]
    assert scene_labels(layer.astype(np.uint8)).tolist() == expected


def test_same_seed_same_bytes_other_seed_differs(synth_root: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", SynthConfig.tiny(seed=0))

    def written(root: Path) -> list[Path]:
        # other tests may have cached part labels beside the shared fixture (ogfr_labels/): not generator output
        files = (p.relative_to(root) for p in root.rglob("*") if p.is_file())
        return sorted(f for f in files if f.parts[0] != "ogfr_labels")

    files = written(synth_root)
    assert files == written(again)
    for rel in files:
        assert (synth_root / rel).read_bytes() == (again / rel).read_bytes(), rel
    spec = plan(SynthConfig.tiny(seed=0))[2][0]
    outs = []
    for seed in (0, 1):
        cfg = SynthConfig.tiny(seed=seed)
        ids, cams, _ = plan(cfg)
        outs.append(np.asarray(render(spec, _Context(cfg, tuple(ids), tuple(cams), ""))[0]))
    assert np.abs(outs[0].astype(int) - outs[1].astype(int)).mean() > 5


def test_occlusion_rates_follow_config() -> None:
    cfg = SynthConfig.demo(seed=3)
    _, _, specs = plan(cfg)
    rate = {s: np.mean([x.occluded for x in specs if x.split == s]) for s in SPLIT_DIRS}
    assert rate["query"] == 1.0
    assert abs(rate["train"] - cfg.occlusion_train) < 0.04
    assert abs(rate["gallery"] - cfg.occlusion_gallery) < 0.04
    counts = Counter(x.split for x in specs)
    assert (
        5000 <= len(specs) <= 7000
        and counts["query"] == (cfg.num_ids - cfg.num_train_ids) * cfg.queries_per_id
    )


def test_no_single_part_identifies_a_person() -> None:
    identities, _, _ = plan(SynthConfig.demo(seed=0))
    for attr in ("upper_color", "lower_color", "shoe_color", "hair_color", "skin", "upper_pattern", "bag"):
        counts = Counter(getattr(i, attr) for i in identities)
        assert min(counts.values()) >= 2, (attr, counts)  # every value is shared by several identities
    combos = Counter((i.upper_color, i.lower_color, i.shoe_color, i.hair_color, i.bag) for i in identities)
    assert len(combos) >= 0.9 * len(identities)  # while the combination of parts mostly is unique


def _draw_alone(view: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, object]:
    ident = sample_identity(np.random.default_rng(seed))
    ident = dataclasses.replace(ident, upper_pattern="plain", bag="none", lower_kind="trousers", hat=None)
    canvas = Canvas(128, 64, 3, fill=(0, 0, 0))
    draw_person(canvas, ident, Pose(view, 0.0, 0.2, 0.8), 32.0, 124.0, 110.0)
    rgb, layer = canvas.finish([], 0.0, 0.0, np.random.default_rng(0))
    return rgb, layer, ident


@pytest.mark.parametrize("view", ["front", "back", "left", "right"])
def test_holistic_person_has_its_parts_on_the_right_side(view: str) -> None:
    rgb, layer, ident = _draw_alone(view)
    present = set(np.unique(layer)) - {0}
    if view in ("front", "back"):
        assert present == set(range(1, 9))  # every part of a holistic frontal person is visible
        x = np.arange(64)[None, :]
        mean_x = {p: float((x * (layer == p)).sum() / (layer == p).sum()) for p in range(1, 9)}
        # front view: the person's left side is on the image's right; back view: on the image's left
        sign = 1 if view == "front" else -1
        for left, right in ((2, 3), (5, 6), (7, 8)):
            assert sign * (mean_x[left] - mean_x[right]) > 5, (view, left, mean_x)
    else:
        assert {1, 4} <= present and len(present & {2, 3}) >= 1 and len(present & {5, 6}) >= 1
    # label pixels carry the identity's colours (interior pixels, no shading, no camera)
    interior = np.zeros_like(layer, dtype=bool)
    interior[1:-1, 1:-1] = True
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        interior &= np.roll(layer, (dy, dx), axis=(0, 1)) == layer
    torso = rgb[interior & (layer == 4)]
    assert len(torso) > 20
    assert np.abs(np.median(torso, axis=0) - np.array(ident.upper_color)).max() <= 2
    legs = rgb[interior & np.isin(layer, (5, 6))]
    assert np.abs(np.median(legs, axis=0) - np.array(ident.lower_color)).max() <= 2
    assert np.median(rgb[layer == 0]) == 0  # background untouched


def test_labels_carry_identity_colours_in_generated_images(tmp_path: Path) -> None:
    cfg = SynthConfig(
        **MICRO, camera_shift=0.0, appearance_jitter=0.0, occlusion_train=0.0, seed=5, workers=1
    )
    root = generate(tmp_path / "clean", cfg)
    identities, _, _ = plan(cfg)
    checked = 0
    for r in read_index(root):
        ident = identities[int(r["identity"])]
        if ident.upper_pattern != "plain" or r["occluder"]:
            continue
        img, labels, _ = load(root, r["split"], r["stem"])
        inner = labels == 4
        for dy, dx in ((0, 2), (0, -2), (2, 0), (-2, 0)):
            inner &= np.roll(labels, (dy, dx), axis=(0, 1)) == 4
        if inner.sum() < 10:
            continue
        # shading and JPEG move colours a little; the label still points at the shirt
        assert np.abs(np.median(img[inner], axis=0) - np.array(ident.upper_color)).max() <= 40, r["stem"]
        checked += 1
    assert checked >= 2


def test_existing_output_reused_refused_or_replaced(tmp_path: Path) -> None:
    cfg = SynthConfig(**MICRO, workers=1)
    out = generate(tmp_path / "a", cfg)
    stamp = (out / "synth.json").stat().st_mtime_ns
    assert generate(out, cfg) == out and (out / "synth.json").stat().st_mtime_ns == stamp  # reused
    other = dataclasses.replace(cfg, seed=1)
    with pytest.raises(ValueError, match="other settings"):
        generate(out, other)
    generate(out, other, overwrite=True)
    assert json.loads((out / "synth.json").read_text())["seed"] == 1
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="no synth.json"):
        generate(foreign, cfg, overwrite=True)
    assert (foreign / "notes.txt").read_text() == "mine"
    # a killed run leaves only the hidden partial folder, which the next run replaces
    partial = tmp_path / ".b.partial"
    (partial / "query").mkdir(parents=True)
    out_b = generate(tmp_path / "b", cfg)
    assert (out_b / "synth.json").is_file() and not partial.exists()


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"num_ids": 1}, "num_ids"),
        ({"num_cameras": 1}, "num_cameras"),
        ({"images_per_id": (9, 3)}, "images_per_id"),
        ({"images_per_id": (2, 3), "queries_per_id": 1}, "images_per_id"),
        ({"queries_per_id": 3, "num_cameras": 3}, "queries_per_id"),
        ({"image_size": (64, 128)}, "image_size"),
        ({"image_size": (128,)}, "image_size"),
        ({"occlusion_train": 1.5}, "occlusion_train"),
        ({"occlusion_cover": (0.7, 0.2)}, "occlusion_cover"),
        ({"train_fraction": 1.0}, "train_fraction"),
        ({"clutter": -1.0}, "clutter"),
        ({"seed": -3}, "seed"),
        ({"jpeg_quality": 10}, "jpeg_quality"),
    ],
)
def test_config_validation(changes: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        SynthConfig(**changes)


def test_config_round_trip() -> None:
    cfg = SynthConfig.tiny(seed=4)
    assert SynthConfig.from_dict(cfg.to_dict()) == dataclasses.replace(cfg, workers=0)
    with pytest.raises(ValueError, match="unknown SynthConfig keys"):
        SynthConfig.from_dict({**cfg.to_dict(), "colour": 1})


def test_cli_writes_and_summarises(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from ogfr.cli import main

    args = ["synth", "--out", str(tmp_path / "s"), "--preset", "tiny", "--ids", "4"]
    assert main([*args, "--images-per-id", "3", "3", "--cameras", "2", "--seed", "2"]) == 0
    out = capsys.readouterr().out
    assert "query" in out and "gallery" in out and str(tmp_path / "s") in out
    assert json.loads((tmp_path / "s" / "synth.json").read_text())["config"]["num_ids"] == 4
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "a.txt").write_text("")
    assert main(["synth", "--out", str(tmp_path / "x"), "--preset", "tiny"]) == 1
    assert "no synth.json" in capsys.readouterr().err


def test_worker_processes_do_not_change_the_bytes(tmp_path: Path) -> None:
    one = generate(tmp_path / "one", SynthConfig(**MICRO, workers=1))
    two = generate(tmp_path / "two", SynthConfig(**MICRO, workers=2))
    files = sorted(p.relative_to(one) for p in one.rglob("*") if p.is_file())
    assert len(files) > 10
    for rel in files:
        assert (one / rel).read_bytes() == (two / rel).read_bytes(), rel


def test_preview_figure(synth_root: Path, tmp_path: Path) -> None:
    from ogfr.data.synth.preview import make_preview

    out = make_preview(synth_root, tmp_path / "fig" / "p.png", per_split=3, scale=1)
    img = Image.open(out)
    h, w = SynthConfig.tiny().image_size
    assert img.mode == "RGB" and img.width == 3 * w + 2 * 4  # three columns with two 4-px gaps
    assert img.height > 2 * (3 * h)  # image, labels and mask for each of the two splits
    with pytest.raises(FileNotFoundError, match="no images"):
        make_preview(tmp_path / "empty", tmp_path / "q.png")

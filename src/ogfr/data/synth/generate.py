"""Plan and render the synthetic occluded Re-ID benchmark in the Market-1501 layout.

Layout written under ``out``::

    bounding_box_train/  query/  bounding_box_test/        PPPP_cCsS_FFFFFF_NN.jpg
    labels/<split folder>/<stem>.png                         uint8 part labels 0..8 (visible target parts)
    occluders/<split folder>/<stem>.png                      0/255 mask of what stands in front of the person
    scene/<split folder>/<stem>.png                          uint8 scene labels (ogfr.parts.SCENE_NAMES)
    synth_index.csv                                          one row per image (view, occluder, cover, ...)
    synth.json                                               settings, seed, generator version, counts

Everything is generated in a hidden sibling folder and moved into place at the end, so a killed run never
leaves a half-written data set at ``out``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import multiprocessing
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ogfr.data.synth.canvas import OCCLUDER, Canvas
from ogfr.data.synth.config import GENERATOR_VERSION, SynthConfig
from ogfr.data.synth.identity import Identity, jitter_identity, sample_identity
from ogfr.data.synth.person import draw_person, sample_pose
from ogfr.data.synth.scene import (
    OCCLUDER_KINDS,
    OCCLUDING_PERSON,
    PASSER_BY,
    Camera,
    add_shadow,
    camera_pipeline,
    draw_background,
    draw_occluder,
    sample_cameras,
    sample_view,
    texture_background,
)
from ogfr.io import check_can_create, make_dirs
from ogfr.parts import PART_NAMES, SCENE_NAMES, SCENE_OCCLUDER, SCENE_PEDESTRIAN

log = logging.getLogger(__name__)

SPLIT_DIRS = {"train": "bounding_box_train", "query": "query", "gallery": "bounding_box_test"}
SHADED = [
    *range(1, 10),
    *range(PASSER_BY + 1, PASSER_BY + 9),
    *range(OCCLUDING_PERSON + 1, OCCLUDING_PERSON + 9),
]
INDEX_FIELDS = ("split", "stem", "pid", "camid", "identity", "view", "occluder", "cover")


@dataclass(frozen=True)
class ImageSpec:
    """One image to render: where it goes and which person / camera / occlusion it shows."""

    index: int  # position in the plan; seeds the image's random stream
    split: str  # train | query | gallery
    stem: str  # Market-1501 file stem
    pid: int  # data set person id (0 distractor, -1 junk)
    identity: int  # index into the identity list, -1 for a one-off person (distractor / junk)
    camera: int  # 0-based camera index
    occluded: bool


@dataclass(frozen=True)
class _Context:
    cfg: SynthConfig
    identities: tuple[Identity, ...]
    cameras: tuple[Camera, ...]
    root: str


def plan(cfg: SynthConfig) -> tuple[list[Identity], list[Camera], list[ImageSpec]]:
    """Identities, cameras and the list of images, all determined by ``cfg`` (and its seed)."""
    identities = [sample_identity(np.random.default_rng([cfg.seed, 1, i])) for i in range(cfg.num_ids)]
    cameras = sample_cameras(np.random.default_rng([cfg.seed, 2]), cfg.num_cameras, cfg.camera_shift)
    rng = np.random.default_rng([cfg.seed, 0])
    order = rng.permutation(cfg.num_ids)
    train_ids = sorted(int(i) for i in order[: cfg.num_train_ids])
    test_ids = sorted(int(i) for i in order[cfg.num_train_ids :])
    frames = [int(rng.integers(100, 2000)) for _ in range(cfg.num_cameras)]
    specs: list[ImageSpec] = []

    def add(split: str, pid: int, identity: int, cam: int, occluded: bool) -> None:
        frames[cam] += int(rng.integers(25, 900))
        seq = 1 + frames[cam] // 40000
        p = "-1" if pid < 0 else f"{pid:04d}"
        stem = f"{p}_c{cam + 1}s{seq}_{frames[cam] % 1000000:06d}_{int(rng.integers(0, 8)):02d}"
        specs.append(ImageSpec(len(specs), split, stem, pid, identity, cam, occluded))

    lo, hi = cfg.images_per_id
    test_set = set(test_ids)
    for i in train_ids + test_ids:
        is_test = i in test_set
        n = int(rng.integers(lo, hi + 1))
        k = int(rng.integers(min(cfg.queries_per_id + 1, cfg.num_cameras), cfg.num_cameras + 1))
        cams = [int(c) for c in rng.choice(cfg.num_cameras, size=k, replace=False)]
        per_image = cams + [cams[int(rng.integers(k))] for _ in range(n - k)] if n >= k else cams[:n]
        if not is_test:
            for c in per_image:
                add("train", i + 1, i, c, bool(rng.random() < cfg.occlusion_train))
            continue
        # one query in each of `queries_per_id` cameras; the other cameras keep gallery matches
        query_cams = set(cams[: cfg.queries_per_id])
        taken: set[int] = set()
        for c in per_image:
            if c in query_cams and c not in taken:
                taken.add(c)
                add("query", i + 1, i, c, bool(rng.random() < cfg.occlusion_query))
            else:
                add("gallery", i + 1, i, c, bool(rng.random() < cfg.occlusion_gallery))
    for _ in range(cfg.num_distractors):
        add("gallery", 0, -1, int(rng.integers(cfg.num_cameras)), bool(rng.random() < cfg.occlusion_gallery))
    for _ in range(cfg.num_junk):
        add("gallery", -1, -1, int(rng.integers(cfg.num_cameras)), False)
    return identities, cameras, specs


def _visible(layer: np.ndarray) -> int:
    return int(((layer >= 1) & (layer <= 8)).sum())


def _occlude(
    canvas: Canvas, cfg: SynthConfig, rng: np.random.Generator, box: tuple[float, ...]
) -> tuple[str, float]:
    """Draw an occluder hiding a share of the person within ``cfg.occlusion_cover`` (best of a few tries)."""
    s = canvas.scale
    before = _visible(canvas.layer_array()[s // 2 :: s, s // 2 :: s])
    kinds = [k for k, _, _ in OCCLUDER_KINDS]
    weights = np.array([w for _, w, _ in OCCLUDER_KINDS])
    lo, hi = cfg.occlusion_cover
    snapshot = (canvas.rgb.copy(), canvas.layer.copy())
    best: tuple[float, str, float, Image.Image, Image.Image] | None = None
    for attempt in range(12):
        if attempt % 4 == 0:  # keep the kind for a few tries (new geometry) so thin occluders survive
            kind = kinds[int(rng.choice(len(kinds), p=weights / weights.sum()))]
        draw_occluder(canvas, kind, rng, box)
        after = _visible(canvas.layer_array()[s // 2 :: s, s // 2 :: s])
        cover = 1.0 - after / max(before, 1)
        miss = max(lo - cover, cover - hi, 0.0)
        if miss == 0.0:
            return kind, cover
        if best is None or miss < best[0]:
            best = (miss, kind, cover, canvas.rgb, canvas.layer)
        canvas.set_images(snapshot[0].copy(), snapshot[1].copy())
    assert best is not None
    canvas.set_images(best[3], best[4])  # no try within range: keep the closest one
    return best[1], best[2]


def scene_labels(layer: np.ndarray) -> np.ndarray:
    """Scene labels (``ogfr.parts.SCENE_NAMES``) of a layer map: the target's parts 1..8, occluder objects,
    other pedestrians (in front of or behind the target), everything else background. uint8 (H, W)."""
    scene = np.where((layer >= 1) & (layer <= 8), layer, 0).astype(np.uint8)
    scene[layer == OCCLUDER] = SCENE_OCCLUDER
    for offset in (PASSER_BY, OCCLUDING_PERSON):
        scene[(layer > offset) & (layer <= offset + 8)] = SCENE_PEDESTRIAN
    return scene


def render(spec: ImageSpec, ctx: _Context) -> tuple[Image.Image, np.ndarray, np.ndarray, np.ndarray, dict]:
    """Render one image: (RGB image, part labels, occluder mask 0/255, scene labels, index row), uint8."""
    cfg = ctx.cfg
    H, W = cfg.image_size
    rng = np.random.default_rng([cfg.seed, 3, spec.index])
    cam = ctx.cameras[spec.camera]
    ident = ctx.identities[spec.identity] if spec.identity >= 0 else sample_identity(rng)
    ident = jitter_identity(ident, rng, cfg.appearance_jitter)
    canvas = Canvas(H, W, cfg.supersample)
    draw_background(canvas, cam, rng, cfg.clutter)
    view = sample_view(rng, cam)
    pose = sample_pose(rng, view, cfg.pose_variation)
    pv = cfg.pose_variation
    ph = H * float(np.clip(cam.scale * (1.0 + pv * rng.normal(0.0, 0.05)), 0.62, 1.0))
    foot_y = H * float(np.clip(0.975 + pv * rng.normal(0.0, 0.012), 0.93, 1.02))
    cx = W * float(0.5 + np.clip(pv * rng.normal(0.0, 0.05), -0.15, 0.15))
    if rng.random() < 0.08 * min(pv, 1.0):  # a loose detection box that cuts the feet off
        foot_y = H * float(rng.uniform(1.03, 1.1))
    if spec.pid == -1:  # junk: a badly placed detection showing a fragment of someone
        cx = W * float(rng.choice([-0.15, 1.15]))
        ph *= 1.3
    draw_person(canvas, ident, pose, cx, foot_y, ph)
    occluder, cover = "", 0.0
    if spec.occluded:
        top = foot_y - ph * ident.height
        box = (cx - 0.18 * ph, top, cx + 0.18 * ph, foot_y)
        occluder, cover = _occlude(canvas, cfg, rng, box)
    rgb, layer = canvas.finish(SHADED, 0.35, float(rng.uniform(-1, 1)), rng)
    rgb = add_shadow(rgb, layer, cx, foot_y, 0.22 * ph)
    rgb = texture_background(rgb, layer, rng, 1.0)
    img = camera_pipeline(rgb, cam, rng, cfg.camera_shift)
    scene = scene_labels(layer)
    labels = np.where(scene <= 8, scene, 0).astype(np.uint8)
    occ = (layer == OCCLUDER) | ((layer > OCCLUDING_PERSON) & (layer <= OCCLUDING_PERSON + 8))
    row = {
        "split": spec.split, "stem": spec.stem, "pid": spec.pid, "camid": spec.camera + 1,
        "identity": spec.identity, "view": view, "occluder": occluder, "cover": f"{cover:.3f}",
    }  # fmt: skip
    return img, labels, (occ * 255).astype(np.uint8), scene, row


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _render_chunk(args: tuple[_Context, Sequence[ImageSpec]]) -> list[dict]:
    ctx, specs = args
    root = Path(ctx.root)
    rows = []
    for spec in specs:
        img, labels, occ, scene, row = render(spec, ctx)
        folder = SPLIT_DIRS[spec.split]
        img.save(root / folder / f"{spec.stem}.jpg", format="JPEG", quality=ctx.cfg.jpeg_quality)
        (root / "labels" / folder / f"{spec.stem}.png").write_bytes(_png_bytes(labels))
        (root / "occluders" / folder / f"{spec.stem}.png").write_bytes(_png_bytes(occ))
        (root / "scene" / folder / f"{spec.stem}.png").write_bytes(_png_bytes(scene))
        rows.append(row)
    return rows


def _chunks(ctx: _Context, specs: list[ImageSpec], size: int) -> Iterator[tuple[_Context, list[ImageSpec]]]:
    for i in range(0, len(specs), size):
        yield ctx, specs[i : i + size]


def read_settings(root: str | os.PathLike) -> dict:
    """The parsed ``synth.json`` of a generated data set (FileNotFoundError if it is not one)."""
    path = Path(root) / "synth.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: {root} is not a complete synthetic data set")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err


def _check_existing(out: Path, cfg: SynthConfig, overwrite: bool) -> bool:
    """True if ``out`` already holds this exact data set; raise if it holds something we must not replace."""
    check_can_create(out, f"--out {out}")
    if not out.exists():
        return False
    if not any(out.iterdir()):
        out.rmdir()
        return False
    if not (out / "synth.json").is_file():
        raise ValueError(
            f"{out} is not empty and has no synth.json (not a complete synthetic data set); "
            "refusing to overwrite it: remove it or choose another output folder"
        )
    meta = read_settings(out)
    if meta.get("version") == GENERATOR_VERSION and meta.get("config") == cfg.to_dict():
        return True
    if not overwrite:
        raise ValueError(
            f"{out} holds a synthetic data set with other settings (generator {meta.get('version')}); "
            "pass overwrite=True (ogfr synth --overwrite) or choose another output folder"
        )
    return False


def generate(
    out: str | os.PathLike, cfg: SynthConfig, overwrite: bool = False, progress: bool = True
) -> Path:
    """Write the synthetic benchmark for ``cfg`` to ``out`` and return its path.

    If ``out`` already holds the data set of the same settings it is reused as is.
    """
    out = Path(out)
    if _check_existing(out, cfg, overwrite):
        log.info("%s already holds this synthetic data set; reusing it", out)
        return out
    make_dirs(out.parent)
    tmp = out.parent / f".{out.name}.partial"
    if tmp.exists():
        shutil.rmtree(tmp)
    for folder in SPLIT_DIRS.values():
        for sub in (tmp / folder, *(tmp / kind / folder for kind in ("labels", "occluders", "scene"))):
            sub.mkdir(parents=True)
    identities, cameras, specs = plan(cfg)
    ctx = _Context(cfg, tuple(identities), tuple(cameras), str(tmp))
    workers = cfg.workers or (min(2, os.cpu_count() or 1) if len(specs) > 300 else 1)
    rows: list[dict] = []
    chunk = 32
    tasks = _chunks(ctx, specs, chunk)
    with _progress(progress and len(specs) > 200, len(specs)) as advance:
        if workers == 1:
            for task in tasks:
                rows += _render_chunk(task)
                advance(len(task[1]))
        else:
            with multiprocessing.get_context().Pool(workers) as pool:
                for part in pool.imap(_render_chunk, tasks):
                    rows += part
                    advance(len(part))
    with open(tmp / "synth_index.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=INDEX_FIELDS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    counts = {
        split: {
            "images": sum(1 for s in specs if s.split == split),
            "ids": len({s.pid for s in specs if s.split == split and s.pid > 0}),
            "occluded": sum(1 for s in specs if s.split == split and s.occluded),
        }
        for split in SPLIT_DIRS
    }
    meta = {
        "generator": "ogfr.data.synth",
        "version": GENERATOR_VERSION,
        "layout": "market1501",
        "seed": cfg.seed,
        "config": cfg.to_dict(),
        "part_names": list(PART_NAMES),
        "scene_names": list(SCENE_NAMES),
        "counts": counts,
        "cameras": [asdict(c) for c in cameras],
    }
    (tmp / "synth.json").write_text(json.dumps(meta, indent=1) + "\n")  # written last inside tmp
    if out.exists():  # overwrite=True of another synthetic data set
        old = out.parent / f".{out.name}.old"
        if old.exists():
            shutil.rmtree(old)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old)
    else:
        os.replace(tmp, out)
    log.info("wrote %d images to %s", len(specs), out)
    return out


class _progress:
    """A rich progress bar for long generations (no-op when disabled)."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled, self.total = enabled, total
        self._bar = None

    def __enter__(self):  # noqa: ANN204
        if not self.enabled:
            return lambda n: None
        from rich.progress import Progress

        self._bar = Progress(transient=True)
        self._bar.__enter__()
        task = self._bar.add_task("rendering synthetic images", total=self.total)
        return lambda n: self._bar.advance(task, n)

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self._bar is not None:
            self._bar.__exit__(*exc)

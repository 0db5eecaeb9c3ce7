"""Where a training step on real photos spends its time: data loading against the model step.

    python benchmarks/data_loading.py                       # CUHK01, configs/cpu/real.yaml, pose labels
    python benchmarks/data_loading.py --root DIR --name market1501 --labels CACHE

Two tables. Items: CPU milliseconds per training item for each stage of `ReIDDataset` (decode, label
PNG, resize, flip / crop / normalise, occlusion paste), without and with the decoded-image cache, plus
the obstacle bank and the collate of a batch (one thread, ``--items`` items). Loop: the real training
loop (`ogfr.engine.train`, single-branch baseline and full OGFR of the preset) for two epochs of
``--steps`` steps per setting of ``data.num_workers`` / ``data.cache_images``; the second epoch's
``data_time_s`` (time the loop waited for batches) over its ``epoch_time_s``. Prints and appends to
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PRESET = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "real.yaml"
CUHK01 = Path(__file__).resolve().parents[2] / "shared" / "data" / "cuhk01"
BASELINE = ["model.oavit=false", "model.fep=none", "model.kd=false"]
SETTINGS = [  # (num_workers, cache_images)
    (0, False),
    (1, False),
    (2, False),
    (0, True),
    (1, True),
]


def _ms_per_item(fn, items: list, repeat: int = 1) -> float:
    c0 = time.process_time()
    for _ in range(repeat):
        for x in items:
            fn(x)
    return 1e3 * (time.process_time() - c0) / (len(items) * repeat)


def item_costs(cfg, data, labels, n_items: int) -> str:
    from torch.utils.data import default_collate

    from ogfr.data import ObstacleBank, OcclusionAugment, ReIDDataset, TrainTransform
    from ogfr.images import read_image

    torch.set_num_threads(1)
    tf = TrainTransform(size=cfg.model.image_size, pad=cfg.data.pad, label_size=cfg.model.label_size)
    c0 = time.process_time()
    bank = ObstacleBank.from_samples(data.train, num_patches=cfg.data.obstacle_bank, seed=0)
    bank_s = time.process_time() - c0
    occ = OcclusionAugment(bank, p=cfg.data.occlusion_p, area=cfg.data.occlusion_area)
    samples = data.train[:: max(1, len(data.train) // n_items)][:n_items]
    pils = [read_image(s.path) for s in samples]
    labs = [labels(s) for s in samples]
    resized = [tf.resize(p, lab) for p, lab in zip(pils, labs, strict=True)]
    done = [tf.from_resized(x, lab) for x, lab in resized]
    rows = {
        "decode (ogfr.images.read_image)": _ms_per_item(lambda s: read_image(s.path), samples),
        "part-label PNG (LabelCache)": _ms_per_item(labels, samples),
        "resize image + labels (bicubic / nearest)": _ms_per_item(
            lambda i: tf.resize(pils[i], labs[i]), range(len(samples))
        ),
        "flip, pad + crop, normalise, labels to label size": _ms_per_item(
            lambda r: tf.from_resized(*r), resized
        ),
        "occlusion paste (OcclusionAugment)": _ms_per_item(lambda d: occ(*d), done),
    }
    idx = list(range(len(data.train)))[:: max(1, len(data.train) // n_items)][:n_items]
    for cache in (False, True):
        ds = ReIDDataset(data.train, tf, labels=labels, occlusion=occ, cache_images=cache)
        if cache:
            ds.preload()
        rows[f"whole item, cache_images={str(cache).lower()}"] = _ms_per_item(ds.__getitem__, idx)
    batch = [ds[i] for i in idx[: cfg.data.p * cfg.data.k]]
    c0 = time.process_time()
    default_collate(batch)
    collate_ms = 1e3 * (time.process_time() - c0)
    torch.set_num_threads(2)
    lines = ["| stage | CPU ms per item |", "|---|--:|"]
    lines += [f"| {k} | {v:.2f} |" for k, v in rows.items()]
    return (
        f"{len(samples)} training items at {cfg.model.image_size[0]}x{cfg.model.image_size[1]}, one thread. "
        f"Obstacle bank ({cfg.data.obstacle_bank} patches): {bank_s:.2f} s CPU once per run; collate of a "
        f"batch of {len(batch)}: {collate_ms:.1f} ms.\n\n" + "\n".join(lines) + "\n"
    )


def loop_costs(preset: Path, overrides: list[str], steps: int) -> str:
    from ogfr.engine.config import load_config
    from ogfr.engine.train import train

    lines = [
        "| method | data.num_workers | data.cache_images | images/s | step s | data wait s/step | data share |",
        "|---|--:|---|--:|--:|--:|--:|",
    ]
    for method, extra in (("baseline", BASELINE), ("OGFR", [])):
        for workers, cache in SETTINGS:
            over = [
                *overrides, *extra, f"data.num_workers={workers}", f"data.cache_images={str(cache).lower()}",
                "train.epochs=2", f"train.steps_per_epoch={steps}", "optim.warmup_epochs=0",
            ]  # fmt: skip
            with tempfile.TemporaryDirectory(prefix="ogfr-dl-") as tmp:
                res = train(load_config(preset, over), Path(tmp) / "run", progress=False)
            row = res.history[-1]  # the second epoch: no first-step overheads
            per = row["epoch_time_s"] / steps
            lines.append(
                f"| {method} | {workers} | {str(cache).lower()} | {row['images_per_s']:.1f} | {per:.3f} | "
                f"{row['data_time_s'] / steps:.3f} | {100 * row['data_time_s'] / row['epoch_time_s']:.1f} % |"
            )
            print(lines[-1], flush=True)
    return (
        f"The training loop of {preset.name} ({steps} steps per epoch, second epoch reported; data share = "
        "time the loop waited for the next batch / epoch time).\n\n" + "\n".join(lines) + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", type=Path, default=PRESET)
    p.add_argument("--root", type=Path, default=CUHK01)
    p.add_argument("--name", default="cuhk01")
    p.add_argument("--labels", type=Path, default=Path("~/.cache/ogfr/labels/cuhk01_pose").expanduser())
    p.add_argument("--items", type=int, default=300)
    p.add_argument("--steps", type=int, default=25, help="steps per epoch of each loop run")
    p.add_argument("--skip-loop", action="store_true")
    p.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from ogfr import bench
    from ogfr.data import load_dataset
    from ogfr.engine.config import load_config
    from ogfr.parsing import LabelCache

    overrides = [f"data.name={args.name}", f"data.root={args.root}", f"parsing.cache={args.labels}"]
    cfg = load_config(args.config, overrides)
    data = load_dataset(args.name, args.root)
    labels = LabelCache(args.labels, dataset_root=data.root, missing="none")
    body = item_costs(cfg, data, labels, args.items)
    print(body, flush=True)
    if not args.skip_loop:
        body += "\n" + loop_costs(args.config, overrides, args.steps)
    command = "python benchmarks/data_loading.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    print(body)
    if not args.no_record:
        machine = bench.describe_device(torch.device("cpu")) + ", 2 torch threads in the loop"
        title = f"Data loading on real photos: {args.name}, {args.config.name}"
        bench.append_results(RESULTS, title, command, machine, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

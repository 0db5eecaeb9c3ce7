"""`ogfr parse`: compute and cache part labels for every image of a data set (occlusion label estimator).

Examples::

    ogfr parse --dataset /data/synth_demo --backend synthetic
    ogfr parse --dataset /data/Market-1501-v15.09.15 --name market1501 --backend pose
    ogfr parse --dataset /data/Market-1501-v15.09.15 --name market1501 --backend files   # BPBreID masks
    ogfr parse --dataset photos/ --name images --backend pose --out /tmp/photo_labels

The cache (default ``<dataset root>/ogfr_labels/<backend>/``) is resumable: run the same command again
after an interruption and only the missing images are computed.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

BACKENDS = ("synthetic", "files", "pose", "torchvision")  # = ogfr.parsing.factory.BACKENDS (kept light here)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", type=Path, required=True, help="data set folder")
    parser.add_argument(
        "--name",
        default="auto",
        help="layout: market1501, dukemtmc, occluded_duke, p_dukemtmc, occluded_reid, msmt17, cuhk01, folder, synthetic, "
        "or images (every image file under --dataset); auto = synthetic when synth.json is there, else market1501",
    )
    parser.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="default: synthetic for `ogfr synth` data, else pose",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="cache folder (default <dataset>/ogfr_labels/<backend>)"
    )
    parser.add_argument("--label-size", default="64x32", help="label map height x width (default 64x32)")
    parser.add_argument(
        "--lam", type=float, default=5.0, help="eq. 2 threshold, pixels at the label size (default 5)"
    )
    parser.add_argument(
        "--num-coarse", type=int, default=4, choices=(1, 2, 4, 8), help="coarse parts C for the summary"
    )
    parser.add_argument("--batch-size", type=int, default=16, help="images per backend call")
    parser.add_argument("--model", type=Path, default=None, help="pose: pose_landmark_full.tflite path")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="pose: interpreters in parallel threads (default: one per core)",
    )
    parser.add_argument("--masks", type=Path, default=None, help="files: mask folder mirroring the data set")
    parser.add_argument(
        "--masks-format", choices=("pifpaf", "plain"), default=None, help="files: mask format"
    )
    parser.add_argument("--mask-weights", type=Path, default=None, help="torchvision: Mask R-CNN state dict")
    parser.add_argument(
        "--keypoint-weights", type=Path, default=None, help="torchvision: Keypoint R-CNN state dict"
    )
    parser.add_argument("--device", default="cpu", help="torchvision: device (cpu, cuda)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def collect_images(dataset: Path, name: str) -> tuple[Path, list[Path], str]:
    """``(data set root, every image path of every split, layout name)``."""
    if not dataset.is_dir():
        raise FileNotFoundError(f"{dataset}: --dataset must be an existing folder")
    if name == "auto":
        name = "synthetic" if (dataset / "synth.json").is_file() else "market1501"
    if name == "images":
        from ogfr.data.datasets import list_images

        paths = list_images(dataset, recursive=True)
        if not paths:
            raise FileNotFoundError(f"{dataset}: no image files found (--name images)")
        return dataset, paths, name
    from ogfr.data import load_dataset

    data = load_dataset(name, dataset)
    paths = [s.path for split in (data.train, data.query, data.gallery) for s in split]
    return Path(data.root), paths, data.name


def run(args: argparse.Namespace) -> int:
    from ogfr.parsing.base import parse_label_size
    from ogfr.parsing.cache import build_cache, default_cache_dir
    from ogfr.parsing.factory import backend_options, make_backend

    label_size = parse_label_size(args.label_size)
    if args.lam < 0:
        raise ValueError(f"--lam must be >= 0, got {args.lam}")
    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    root, paths, name = collect_images(args.dataset, args.name)
    backend_name = args.backend or ("synthetic" if name == "synthetic" else "pose")
    backend = make_backend(backend_name, label_size, root, **backend_options(args))
    out = args.out or default_cache_dir(root, backend_name)
    log.info("parsing %d images of %s with %s into %s", len(paths), root, backend_name, out)
    summary = build_cache(
        paths,
        backend,
        out,
        root,
        dataset=name,
        num_coarse=args.num_coarse,
        lam=args.lam,
        batch_size=args.batch_size,
        progress=not args.no_progress,
    )
    print(format_summary(summary, out))
    return 0


def format_summary(summary: dict, out: Path) -> str:
    """A few readable lines from a ``summary.json`` dict."""
    lines = [
        f"backend {summary['backend']}: {summary['images']} images, {summary['ok']} parsed, "
        f"{summary['no_person']} with no person, {summary['unreadable']} unreadable",
        "visible fraction (lambda={lam:g}): ".format(lam=summary["lam"])
        + ", ".join(f"{k} {v:.3f}" for k, v in summary["visible_fraction"].items()),
    ]
    for p in summary["problems"][:10]:
        lines.append(f"  {p['status']}: {p['reason'] or p['key']}")
    if len(summary["problems"]) > 10:
        lines.append(f"  ... {len(summary['problems']) - 10} more in {out / 'summary.json'}")
    lines.append(f"cache: {out}")
    return "\n".join(lines)

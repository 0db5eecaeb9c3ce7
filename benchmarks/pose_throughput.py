"""Throughput of the ``pose`` parsing backend on this CPU, and its agreement with synthetic ground truth.

    python benchmarks/pose_throughput.py                                  # real Market crops, throughput
    python benchmarks/pose_throughput.py --synthetic /tmp/synth_demo --per-split 150   # + agreement

Throughput: images/s of ``PoseBackend.parse`` (image decoding, letterbox, LiteRT, part assignment) over
``--images`` images, per batch size x LiteRT threads x parallel interpreters (workers), median of
``--repeats`` runs. Agreement: per-part IoU and occlusion
code accuracy of ``pose`` against the generator's ground truth (``synthetic`` backend) at the label size.
Both are printed and appended to benchmarks/RESULTS.md (``--no-record`` to skip).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
REAL = (
    Path(__file__).resolve().parents[2] / "shared" / "data" / "real_pedestrians" / "dgnet_visual_data_market"
)


def machine() -> str:
    import torch

    from ogfr.bench import describe_device

    return describe_device(torch.device("cpu")) + " used (LiteRT XNNPACK on CPU)"


def throughput(
    paths: list[Path], batch_sizes: list[int], threads: list[int], workers: list[int], repeats: int
) -> list[dict]:
    """Median wall time and process CPU time per image, per (batch size, LiteRT threads, workers)."""
    from ogfr.parsing.pose import PoseBackend, PoseConfig

    rows = []
    for bs, th, wk in itertools.product(batch_sizes, threads, workers):
        backend = PoseBackend((64, 32), cfg=PoseConfig(batch_size=bs, num_threads=th, workers=wk))
        backend.parse(paths[: bs * wk])  # warm-up: builds each worker's interpreter for this batch size
        times, cpu = [], []
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            backend.parse(paths)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        med, med_cpu = float(np.median(times)), float(np.median(cpu))
        rows.append(
            {
                "batch": bs,
                "threads": th,
                "workers": wk,
                "images": len(paths),
                "img_s": len(paths) / med,
                "ms": 1e3 * med / len(paths),
                "cpu_ms": 1e3 * med_cpu / len(paths),
            }
        )
    return rows


def agreement(root: Path, per_split: int) -> dict:
    from ogfr.data.datasets import list_images
    from ogfr.parsing.agreement import label_agreement
    from ogfr.parsing.pose import PoseBackend
    from ogfr.parsing.synthetic import SyntheticBackend

    out = {}
    pose, truth = PoseBackend((64, 32)), SyntheticBackend((64, 32), dataset_root=root)
    for folder in ("query", "bounding_box_test", "bounding_box_train"):
        images = list_images(root / folder)
        step = max(1, len(images) // per_split)
        chosen = images[step // 2 :: step][:per_split]  # offset: the thresholds were chosen on images[::step]
        pred = pose.parse(chosen)
        gt = truth.parse(chosen)
        res = label_agreement(np.stack([r.labels for r in pred]), np.stack([r.labels for r in gt]))
        res["pose_no_person"] = sum(r.status != "ok" for r in pred)
        out[folder] = res
    return out


def format_throughput(rows: list[dict]) -> str:
    lines = [
        "| batch | LiteRT threads | workers | images | images/s (wall) | ms/image (wall) | CPU ms/image |"
    ]
    lines.append("|--:|--:|--:|--:|--:|--:|--:|")
    for r in rows:
        cells = (
            r["batch"],
            r["threads"],
            r["workers"],
            r["images"],
            f"{r['img_s']:.1f}",
            f"{r['ms']:.1f}",
            f"{r['cpu_ms']:.1f}",
        )
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def format_agreement(res: dict) -> str:
    parts = list(next(iter(res.values()))["iou"])
    lines = [
        "| split | images | pose no-person | " + " | ".join(f"IoU {p}" for p in parts) + " | mIoU (8 parts) |"
    ]
    lines.append("|---|--:|--:|" + "--:|" * (len(parts) + 1))
    for split, r in res.items():
        ious = " | ".join(f"{r['iou'][p]:.2f}" for p in parts)
        lines.append(f"| {split} | {r['images']} | {r['pose_no_person']} | {ious} | {r['miou']:.2f} |")
    coarse = list(next(iter(res.values()))["z_accuracy"])
    lines += [
        "",
        "z (lambda = 5 px at 64x32): accuracy / false-occluded / false-visible / occluded in truth",
        "",
    ]
    lines.append("| split | " + " | ".join(coarse) + " |")
    lines.append("|---|" + "---|" * len(coarse))
    for split, r in res.items():
        cells = [
            f"{r['z_accuracy'][c]:.2f} / {r['false_occluded'][c]:.2f} / {r['false_visible'][c]:.2f} / {r['occluded_in_truth'][c]:.2f}"
            for c in coarse
        ]
        lines.append(f"| {split} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=192, help="images per throughput run (real crops repeated)")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="LiteRT threads per interpreter")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="interpreters in parallel threads")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--synthetic", type=Path, default=None, help="synthetic data set for the agreement table")
    p.add_argument("--per-split", type=int, default=150, help="synthetic images per split for agreement")
    p.add_argument("--json", type=Path, default=None, help="also write the raw numbers here")
    p.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    command = "python benchmarks/pose_throughput.py " + " ".join(
        shlex.quote(a) for a in (argv or sys.argv[1:])
    )
    source = sorted(REAL.glob("*.jpg")) if REAL.is_dir() else []
    if not source and args.synthetic is not None:
        source = sorted((args.synthetic / "query").glob("*.jpg"))
    if not source:
        print(f"no images: {REAL} is absent; pass --synthetic DIR", file=sys.stderr)
        return 1
    paths = [source[i % len(source)] for i in range(args.images)]
    rows = throughput(paths, args.batch_sizes, args.threads, args.workers, args.repeats)
    body = f"Images: {len(source)} distinct {'real Market-1501 crops' if REAL.is_dir() else 'synthetic crops'} (128x64), label size 64x32.\n\n"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    body += f"1-min load average after the throughput runs: {load:.1f} (the machine is shared; CPU ms/image is the robust number).\n\n"
    body += format_throughput(rows)
    raw: dict = {"throughput": rows}
    if args.synthetic is not None:
        agree = agreement(args.synthetic, args.per_split)
        raw["agreement"] = agree
        body += f"\nAgreement with the synthetic ground truth ({args.synthetic.name}, every k-th image of each split):\n\n"
        body += format_agreement(agree)
    print(body)
    if args.json is not None:
        args.json.write_text(json.dumps(raw, indent=2))
    if not args.no_record:
        from ogfr.bench import append_results

        append_results(
            RESULTS, "Parsing: pose backend (BlazePose via LiteRT)", command.strip(), machine(), body
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

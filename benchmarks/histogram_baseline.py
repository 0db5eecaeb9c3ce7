"""Difficulty calibration of the synthetic benchmark with a non-learned colour-histogram baseline.

Each image becomes HSV histograms of horizontal stripes (square-rooted, so that the Euclidean distance is
the Hellinger distance between histograms). Occluded queries are ranked against the gallery with the
standard protocol (same id + same camera removed). If this simple matcher got close to 100% Rank-1 the
benchmark would be trivially solvable; if it were at chance, colours would carry no identity at all.

    python benchmarks/histogram_baseline.py --root data/synth_demo [--results benchmarks/RESULTS.md]

The demo set is generated at --root first when the folder does not exist.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from ogfr.data.datasets import read_market_dir
from ogfr.images import read_image


def read_split(folder: Path, split: str) -> tuple[list[Path], np.ndarray, np.ndarray]:
    """Images of a Market-1501 split folder (junk -1 dropped) with their person and camera ids."""
    samples = read_market_dir(folder, split, "synthetic")
    return [s.path for s in samples], np.array([s.pid for s in samples]), np.array([s.camid for s in samples])


def stripe_histograms(
    path: Path,
    stripes: int,
    bins: tuple[int, int, int],
    center: float = 1.0,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Square-rooted joint HSV histogram of each of ``stripes`` horizontal bands, concatenated.

    ``center`` < 1 keeps only that central share of the width; ``mask`` (H, W) bool keeps only those
    pixels (an empty band gets an all-zero histogram).
    """
    hsv = np.asarray(read_image(path).convert("HSV"), dtype=np.int64)
    h, s, v = (hsv[..., i] * bins[i] // 256 for i in range(3))
    code = (h * bins[1] + s) * bins[2] + v  # joint bin index per pixel
    keep = np.ones(code.shape, dtype=bool) if mask is None else mask.astype(bool)
    if center < 1.0:
        w = code.shape[1]
        cut = round(w * (1.0 - center) / 2)
        keep[:, :cut] = False
        keep[:, w - cut :] = False
    n = bins[0] * bins[1] * bins[2]
    feats = []
    for band, k in zip(
        np.array_split(code, stripes, axis=0), np.array_split(keep, stripes, axis=0), strict=True
    ):
        hist = np.bincount(band[k], minlength=n).astype(np.float64)
        feats.append(np.sqrt(hist / max(hist.sum(), 1.0)))
    return np.concatenate(feats) / np.sqrt(stripes)


def part_mask(root: Path, path: Path, parts: tuple[int, ...]) -> np.ndarray:
    """Ground-truth pixels of the given parts (labels/<split>/<stem>.png written by ogfr synth)."""
    labels = np.asarray(read_image(root / "labels" / path.parent.name / f"{path.stem}.png", mode=None))
    return np.isin(labels, parts)


def distances(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    d2 = (q**2).sum(1)[:, None] + (g**2).sum(1)[None, :] - 2.0 * q @ g.T
    return np.sqrt(np.maximum(d2, 0.0))


def rank_metrics(dist: np.ndarray, q_pids, g_pids, q_cams, g_cams) -> tuple[float, float, float]:
    """(Rank-1, Rank-5, mAP) in %: ogfr.metrics.evaluate_rank (torchreid protocol)."""
    from ogfr.metrics import evaluate_rank

    cmc, mean_ap = evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams, max_rank=50)
    return 100 * float(cmc[0]), 100 * float(cmc[4]), 100 * float(mean_ap)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--root", type=Path, default=Path("data/synth_demo"), help="synthetic data set folder"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the demo set generated when --root is absent"
    )
    parser.add_argument("--results", type=Path, help="append a Markdown section to this file")
    args = parser.parse_args(argv)

    if not (args.root / "synth.json").is_file():
        from ogfr.data.synth import SynthConfig, generate

        t0 = time.perf_counter()
        generate(args.root, SynthConfig.demo(seed=args.seed))
        print(f"generated the demo set in {time.perf_counter() - t0:.1f} s")
    q_paths, q_pids, q_cams = read_split(args.root / "query", "query")
    g_paths, g_pids, g_cams = read_split(args.root / "bounding_box_test", "gallery")
    rows = []
    t0 = time.perf_counter()
    body = tuple(range(1, 9))
    variants = [  # (name, stripes, bins, central share of the width, ground-truth parts or None)
        ("HSV 8x4x4, 6 stripes", 6, (8, 4, 4), 1.0, None),
        ("HSV 8x4x4, 1 stripe (whole image)", 1, (8, 4, 4), 1.0, None),
        ("HSV 8x4x4, 6 stripes, central half of the width", 6, (8, 4, 4), 0.5, None),
        ("oracle: 6 stripes of visible body pixels (ground-truth labels)", 6, (8, 4, 4), 1.0, body),
        ("oracle: torso pixels only", 1, (8, 4, 4), 1.0, (4,)),
        ("oracle: legs + feet pixels only", 1, (8, 4, 4), 1.0, (5, 6, 7, 8)),
        ("oracle: head pixels only", 1, (8, 4, 4), 1.0, (1,)),
    ]
    for name, stripes, bins, center, parts in variants:
        feats = [
            np.stack(
                [
                    stripe_histograms(
                        p, stripes, bins, center, None if parts is None else part_mask(args.root, p, parts)
                    )
                    for p in paths
                ]
            )
            for paths in (q_paths, g_paths)
        ]
        dist = distances(*feats)
        rows.append((name, *rank_metrics(dist, q_pids, g_pids, q_cams, g_cams)))
    rng = np.random.default_rng(0)
    chance = [
        rank_metrics(rng.random((len(q_pids), len(g_pids))), q_pids, g_pids, q_cams, g_cams) for _ in range(5)
    ]
    rows.append(("random distances (chance, mean of 5)", *np.mean(chance, axis=0)))
    elapsed = time.perf_counter() - t0

    table = ["| matcher | Rank-1 (%) | Rank-5 (%) | mAP (%) |", "|---|--:|--:|--:|"]
    table += [f"| {n} | {r1:.1f} | {r5:.1f} | {m:.1f} |" for n, r1, r5, m in rows]
    section = "\n".join(
        [
            f"## Synthetic benchmark difficulty: colour-histogram baseline ({args.root.name})",
            "",
            f"Command: `python benchmarks/histogram_baseline.py --root {args.root}`  ",
            f"Machine: {platform.machine()} CPU, {os.cpu_count()} cores, no GPU  ",
            f"Date: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M')} UTC  ",
            f"Data: {len(q_pids)} occluded queries, {len(g_pids)} gallery images (same id + same camera removed)",
            "",
            *table,
            "",
        ]
    )
    print(section)
    print(f"(features and ranking: {elapsed:.1f} s)")
    if args.results is not None:
        with open(args.results, "a") as f:  # append only: other sections belong to other benchmarks
            f.write("\n" + section)
    return 0


if __name__ == "__main__":
    sys.exit(main())

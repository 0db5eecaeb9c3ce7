"""Pretrained hybrid stem against training from scratch on CUHK01 (issue 16's table), several seeds.

    python benchmarks/pretrained_study.py --out runs/pretrained_study              # 4 rows x 3 seeds
    python benchmarks/pretrained_study.py --out runs/pretrained_study --report     # tabulate only

Rows, every one trained for the same number of steps (``--epochs`` x ``--steps``) on the CUHK01 training
split with pose part labels and evaluated on its test split (query camera A, gallery camera B):
(a) single-branch baseline from scratch (configs/demo.yaml: conv stem), (b) baseline with the pretrained
stem (configs/cpu/real.yaml), (c) full OGFR with the pretrained stem, (d) full OGFR from scratch. Each
run folder holds the usual ``metrics.jsonl``; ``result.json`` marks it finished (rerunning the command
skips it, an interrupted run resumes). Writes ``OUT/study.md``: Rank-1 / mAP mean ± std over seeds,
wall time per run, and the teacher's true-class probability p^m per epoch for (c) and (d); appends it to
benchmarks/RESULTS.md unless ``--no-record``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import statistics
import sys
import time
from pathlib import Path

from ogfr.io import atomic_write_json, atomic_write_text
from ogfr.studies.ablation import RESULT_FILE, aggregate, read_result
from ogfr.studies.ablation_rows import BASELINE as BASELINE_ROW

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
CONFIGS = Path(__file__).resolve().parents[1] / "configs"
CUHK01 = Path(__file__).resolve().parents[2] / "shared" / "data" / "cuhk01"
BASELINE = BASELINE_ROW.change_overrides()  # Table 4 row 1 (data.occlusion_p=0.5 included)
# key -> (label, preset, overrides)
ROWS: dict[str, tuple[str, Path, list[str]]] = {
    "a_baseline_scratch": ("(a) baseline, from scratch (demo preset)", CONFIGS / "demo.yaml", BASELINE),
    "b_baseline_pretrained": ("(b) baseline, pretrained stem", CONFIGS / "cpu" / "real.yaml", BASELINE),
    "c_ogfr_pretrained": ("(c) OGFR, pretrained stem", CONFIGS / "cpu" / "real.yaml", []),
    "d_ogfr_scratch": ("(d) OGFR, from scratch (demo preset)", CONFIGS / "demo.yaml", []),
}


def run_one(preset: Path, overrides: list[str], out: Path) -> dict[str, float]:
    from ogfr.engine import load_config, train

    t0 = time.perf_counter()
    result = train(load_config(preset, overrides), out, resume=(out / "last.pt").is_file(), progress=False)
    final = result.final
    return {
        "rank1": final["rank1"],
        "map": final["mAP"],
        "steps": result.steps,
        "seconds": time.perf_counter() - t0,
    }


def _pct(stat, n: int) -> str:
    """Percent mean, with ± the sample standard deviation over seeds when there are several."""
    return f"{100 * stat.mean:.1f}" + (f" ± {100 * stat.std:.1f}" if n > 1 else "")


def history(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]


def report(out: Path, seeds: list[int], common: list[str]) -> str:
    lines = [
        "| row | seeds | Rank-1 (%) | mAP (%) | wall per run (min) | s per step |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    pm: dict[str, list[list[float]]] = {}
    for key, (label, _, _) in ROWS.items():
        runs = [(s, r) for s in seeds if (r := read_result(out / key / f"seed{s}")) is not None]
        if not runs:
            lines.append(f"| {label} | 0 | - | - | - | - |")
            continue
        r1, mp = aggregate([r["rank1"] for _, r in runs]), aggregate([r["map"] for _, r in runs])
        minutes = statistics.fmean(r["seconds"] for _, r in runs) / 60
        per_step = statistics.fmean(
            sum(row["epoch_time_s"] for row in history(out / key / f"seed{s}")) / r["steps"] for s, r in runs
        )
        lines.append(
            f"| {label} | {len(runs)} | {_pct(r1, len(runs))} | {_pct(mp, len(runs))} | {minutes:.1f} | "
            f"{per_step:.2f} |"
        )
        if not key.startswith(("a_", "b_")):
            pm[label] = [
                [row.get("stat_p_m_hp", float("nan")) for row in history(out / key / f"seed{s}")]
                for s, _ in runs
            ]
    text = "\n".join(lines) + "\n"
    if pm:
        epochs = max(len(v) for runs in pm.values() for v in runs)
        text += "\nTeacher's true-class probability p^m (`stat_p_m_hp`, mean over the epoch's steps, mean over seeds):\n\n"
        text += "| row | " + " | ".join(f"epoch {e + 1}" for e in range(epochs)) + " |\n"
        text += "|---|" + "--:|" * epochs + "\n"
        for label, runs in pm.items():
            means = [statistics.fmean(r[e] for r in runs if e < len(r)) for e in range(epochs)]
            text += f"| {label} | " + " | ".join(f"{100 * m:.1f} %" for m in means) + " |\n"
    return f"Common overrides: `{' '.join(common)}` + `train.seed=S`.\n\n" + text


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--root", type=Path, default=CUHK01)
    p.add_argument("--labels", type=Path, default=Path("~/.cache/ogfr/labels/cuhk01_pose").expanduser())
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--steps", type=int, default=100, help="steps per epoch")
    p.add_argument("--only", default="", help="comma-separated row keys (default: all)")
    p.add_argument("--report", action="store_true", help="train nothing; tabulate finished runs")
    p.add_argument("--no-record", action="store_true", help="do not append to RESULTS.md")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    common = [
        "data.name=cuhk01", f"data.root={args.root}", "parsing.backend=pose", f"parsing.cache={args.labels}",
        f"train.epochs={args.epochs}", f"train.steps_per_epoch={args.steps}", "train.eval_every=0",
    ]  # fmt: skip
    seeds = list(range(args.seeds))
    keys = [k for k in ROWS if not args.only or k in args.only.split(",")]
    if not args.report:
        for seed in seeds:  # seed-major: a partial study already has every row
            for key in keys:
                _, preset, extra = ROWS[key]
                run = args.out / key / f"seed{seed}"
                if read_result(run) is None:
                    logging.info("training %s seed %d", key, seed)
                    result = run_one(preset, [*common, *extra, f"train.seed={seed}"], run)
                    atomic_write_json(run / RESULT_FILE, {**result, "seed": seed}, sort_keys=True)
    body = report(args.out, seeds, common)
    atomic_write_text(args.out / "study.md", body)
    print(body)
    if not args.no_record:
        import torch

        from ogfr import bench

        command = "python benchmarks/pretrained_study.py " + " ".join(
            shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
        )
        machine = bench.describe_device(torch.device("cpu")) + ", run under the CPU lock"
        bench.append_results(RESULTS, "Pretrained stem vs from scratch on CUHK01", command, machine, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

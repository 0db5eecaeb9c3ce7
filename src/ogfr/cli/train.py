"""`ogfr train`: train OGFR (or an ablation) from a YAML preset plus ``key=value`` overrides.

Multi-GPU: ``torchrun --nproc_per_node N -m ogfr train --config ...`` (DDP; only rank 0 writes).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="YAML preset, e.g. configs/paper/occluded_duke.yaml")
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. train.epochs=10"
    )
    parser.add_argument("--out", type=Path, help="run folder (default runs/<preset>-<time>)")
    parser.add_argument(
        "--resume", type=Path, metavar="RUN_DIR", help="continue the run in RUN_DIR from last.pt"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars (logs only)")


def run(args: argparse.Namespace) -> int:
    from ogfr.engine import TrainingDiverged, load_config, train

    if args.resume is not None:
        run_dir = args.resume
        cfg_path = run_dir / "config.yaml"
        if not (run_dir / "last.pt").is_file():
            raise FileNotFoundError(f"--resume {run_dir}: no last.pt there (nothing to resume)")
        if args.config is not None:
            print(f"ogfr train: --resume uses {cfg_path}; --config {args.config} is ignored", file=sys.stderr)
        cfg = load_config(cfg_path, args.overrides)
    else:
        if args.config is None:
            raise ValueError("ogfr train needs --config PRESET.yaml (or --resume RUN_DIR)")
        cfg = load_config(args.config, args.overrides)
        run_dir = args.out or Path("runs") / f"{args.config.stem}-{time.strftime('%Y%m%d-%H%M%S')}"
    try:
        result = train(cfg, run_dir, resume=args.resume is not None, progress=not args.no_progress)
    except TrainingDiverged as err:
        print(f"ogfr train: error: {err}", file=sys.stderr)
        return 3
    except RuntimeError as err:
        if "out of GPU memory" in str(err):
            print(f"ogfr train: error: {err}", file=sys.stderr)
            return 4
        raise
    if result.final:
        r = result.final
        print(
            f"{run_dir}: {result.steps} steps, Rank-1 {100 * r['rank1']:.2f}%  mAP {100 * r['mAP']:.2f}%"
            + (
                f"  (best mAP {100 * result.best['mAP']:.2f}% at epoch {result.best['epoch']})"
                if result.best
                else ""
            )
        )
    return 0

"""Subprocess driver of the resume and DDP tests: trains the tiny preset, may SIGKILL itself mid-epoch.

python _driver.py --out RUN [--kill-at STEP] [--resume] [--dump DIR] KEY=VALUE ...
"""

from __future__ import annotations

import argparse
import os
import signal
from pathlib import Path

import torch

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--kill-at", type=int, default=0, help="SIGKILL this process right after this step")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--dump", help="folder for this rank's final parameters (rank<R>.pt)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args()
    torch.set_num_threads(1)
    from ogfr.engine import load_config, train

    cfg = load_config(TINY, args.overrides)

    def on_step(step: int, logs: dict) -> None:
        if args.kill_at and step == args.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)

    result = train(cfg, args.out, resume=args.resume, on_step=on_step, progress=False)
    if args.dump:
        rank = os.environ.get("RANK", "0")
        params = {k: v.detach().clone() for k, v in result.model.named_parameters()}
        torch.save({"params": params, "steps": result.steps}, Path(args.dump) / f"rank{rank}.pt")


if __name__ == "__main__":
    main()

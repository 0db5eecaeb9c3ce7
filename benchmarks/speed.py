"""Inference and training-step cost ratios (OGFR vs the single-branch baseline) and peak memory.

    python benchmarks/speed.py                          # demo size, CPU: ratios at batch 32, memory at 16/32/64
    python benchmarks/speed.py --size vit_small --batch 16 --skip-memory
    python benchmarks/speed.py --size vit_base --device cuda --batch 64   # on a GPU

Both models are timed in the same process, round-robin (so machine load hits both alike); the ratio is
median / median. Appends the tables (with this command and the machine) to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path

import torch

from ogfr import bench

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="demo", choices=bench.SIZES)
    p.add_argument("--batch", type=int, default=32, help="images per batch for the time ratios")
    p.add_argument("--repeats", type=int, default=10)
    p.add_argument("--warmup", type=int, default=2, help="untimed calls per model before timing")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--memory-batches", type=int, nargs="+", default=[16, 32, 64])
    p.add_argument("--skip-speed", action="store_true")
    p.add_argument("--skip-memory", action="store_true")
    p.add_argument("--profile", action="store_true", help="also print where a training step spends its time")
    p.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    machine = bench.describe_device(dev) + f", {torch.get_num_threads()} torch threads"
    command = "python benchmarks/speed.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    sections = []
    if not args.skip_speed:
        res = bench.speed_ratios(
            args.size, batch=args.batch, repeats=args.repeats, warmup=args.warmup, device=args.device
        )
        sections.append(
            (f"Time ratios: {args.size}, batch {args.batch}, {dev.type}", bench.format_speed(res))
        )
    if args.profile:
        prof = bench.profile_train_step(args.size, batch=args.batch, device=args.device, repeats=args.repeats)
        sections.append(
            (
                f"Training-step profile: {args.size}, batch {args.batch}, {dev.type}",
                bench.format_profile(prof),
            )
        )
    if not args.skip_memory:
        rows = bench.memory_scaling(args.size, tuple(args.memory_batches), device=args.device)
        sections.append(
            (f"Peak memory of a training step: {args.size}, {dev.type}", bench.format_memory(rows))
        )
    for title, body in sections:
        print(f"## {title}\n\n{machine}\n\n{body}")
        if not args.no_record:
            bench.append_results(RESULTS, title, command.strip(), machine, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

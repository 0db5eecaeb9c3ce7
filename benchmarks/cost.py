"""Parameters and inference FLOPs of OGFR vs the single-branch baseline at the paper's setting.

    python benchmarks/cost.py                 # ViT-B/16, 256x128, strides 12 and 11, K=8, C=4, 702 ids
    python benchmarks/cost.py --size demo --strides 12 --no-record

Prints one table per stride and appends it (with this command and the machine) to benchmarks/RESULTS.md.
The counting conventions are in ogfr/bench.py and benchmarks/README.md.
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
    p.add_argument("--size", default="vit_base", choices=bench.SIZES)
    p.add_argument(
        "--strides",
        type=int,
        nargs="+",
        default=[12, 11],
        help="patch strides (paper: 12; TransReID's Occluded-Duke config: 11)",
    )
    p.add_argument(
        "--num-classes", type=int, default=702, help="training identities (702: DukeMTMC / Occluded-Duke)"
    )
    p.add_argument("--num-cameras", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)
    machine = bench.describe_device(torch.device("cpu")) + f", {torch.get_num_threads()} torch threads"
    command = "python benchmarks/cost.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    for stride in args.strides:
        res = bench.cost_table(args.size, args.num_classes, args.num_cameras, stride=stride)
        title = f"Parameters and FLOPs: {args.size}, stride {stride}, {args.num_classes} ids"
        body = (
            f"Config: {res['config']}\n\n"
            + bench.format_cost(res)
            + "\n"
            + bench.format_transreid(res)
            + "\nParameters by module:\n\n"
            + bench.format_breakdown(res)
        )
        print(f"## {title}\n\n{machine}\n\n{body}")
        if not args.no_record:
            bench.append_results(RESULTS, title, command.strip(), machine, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

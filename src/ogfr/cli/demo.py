"""`ogfr demo`: generate the synthetic benchmark, train a small OGFR and the baseline, report.

No GPU, no data set, no network: the synthetic occluded benchmark is generated once (cached under
``$OGFR_CACHE`` or ``~/.cache/ogfr``), its part labels come from the generator, both models train on CPU.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out", type=Path, default=Path("demo_out"), help="report folder (default demo_out/)"
    )
    parser.add_argument(
        "--fast", action="store_true", help="a 2-epoch smoke run (minutes less, numbers worse)"
    )
    parser.add_argument(
        "--data", type=Path, help="use / create the synthetic benchmark here instead of the cache"
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="overrides of configs/demo.yaml")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from ogfr.studies.demo import run_demo

    res = run_demo(
        args.out,
        data=args.data,
        fast=args.fast,
        overrides=args.overrides,
        progress=not args.no_progress,
    )
    table = Table(title="ogfr demo: occluded queries of the synthetic benchmark (%)")
    for col in ("method", "Rank-1", "Rank-5", "Rank-10", "mAP", "mINP", "time"):
        table.add_column(col, justify="left" if col == "method" else "right")
    for name, r in res.results.items():
        cells = [f"{100 * r[k]:.1f}" for k in ("rank1", "rank5", "rank10", "mAP", "mINP")]
        table.add_row(name, *cells, f"{res.seconds[name]:.0f} s")
    console = Console()
    console.print(table)
    console.print(f"report: {res.report}  (total {res.seconds['total']:.0f} s)")
    return 0

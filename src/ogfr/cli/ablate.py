"""`ogfr ablate`: the paper's ablation rows (Tables 4-8, Figure 4) on the synthetic occluded benchmark.

Every row is a set of switch overrides (``model.*``, ``parsing.lam``, ``loss.*``) on one preset, trained with the same budget for each seed,
evaluated on the occluded queries. Results go to ``OUT/summary.json`` and ``OUT/ablation.md``; finished
runs are not retrained when the command is repeated (resumable).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ogfr.studies.ablation_rows import ROW_SETS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="demo", help="training preset: a name in configs/ or a YAML path")
    parser.add_argument(
        "--rows",
        default="table4",
        help=f"which tables' rows, comma-separated: {', '.join(ROW_SETS)} (all: every table)",
    )
    parser.add_argument("--seeds", type=int, default=3, help="seeds per row (0, 1, ..., N-1)")
    parser.add_argument(
        "--out", type=Path, required=True, help="output folder (one run folder per row and seed)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="synthetic data set folder (default: the demo benchmark SynthConfig.demo(seed=0) in the cache "
        "that `ogfr demo` uses, generated when missing)",
    )
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated row keys to run (e.g. t4_baseline,t4_full); default: all rows",
    )
    parser.add_argument("--epochs", type=int, default=None, help="training epochs per run (the budget)")
    parser.add_argument(
        "--report", action="store_true", help="train nothing: tabulate the runs finished so far in OUT"
    )
    parser.add_argument(
        "overrides", nargs="*", metavar="KEY=VALUE", help="extra config overrides applied to every run"
    )


def run(args: argparse.Namespace) -> int:
    from ogfr.studies import ablation
    from ogfr.studies.ablation_rows import select_rows

    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    if args.epochs is not None and args.epochs < 1:
        raise ValueError(f"--epochs must be >= 1, got {args.epochs}")
    for ov in args.overrides:
        if "=" not in ov:
            raise ValueError(f"override {ov!r}: expected KEY=VALUE")
    preset = ablation.resolve_preset(args.preset)
    from ogfr.studies.demo import demo_data_dir, ensure_demo_data

    if args.data is not None:
        data = args.data
    elif args.report:
        data = demo_data_dir()  # only named in the reproduce commands
    else:
        data = ensure_demo_data(None)
    if not args.report and not data.is_dir():
        raise FileNotFoundError(f"--data {data}: no such folder (write one with `ogfr synth --out {data}`)")
    extra = ["data.name=synthetic", f"data.root={data}", "parsing.backend=synthetic"]
    if args.epochs is not None:
        extra.append(f"train.epochs={args.epochs}")
    extra += list(args.overrides)
    rows = select_rows(args.rows)
    if args.only:
        keys = [k.strip() for k in args.only.split(",") if k.strip()]
        unknown = sorted(set(keys) - {r.key for r in rows})
        if unknown:
            raise ValueError(
                f"--only: unknown row(s) {unknown} for --rows {args.rows}; rows: {[r.key for r in rows]}"
            )
        rows = [r for r in rows if r.key in keys]
    result = ablation.run_study(
        rows,
        ablation.seed_list(args.seeds),
        args.out,
        None if args.report else ablation.engine_train_fn(preset),
        extra_overrides=extra,
        command_prefix=f"ogfr train --config {preset}",
    )
    print(result.table)
    print(f"written: {args.out / 'ablation.md'}, {args.out / 'summary.json'}")
    return 0

"""`ogfr eval`: evaluate a checkpoint's student branch on a query/gallery split (eq. 25 distances)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ogfr.cli.extract import add_input_arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="best.pt / last.pt of a run")
    parser.add_argument("--dataset", type=Path, required=True, help="data set folder")
    parser.add_argument(
        "--name", default=None, help="reader name (default: the one the model was trained on)"
    )
    parser.add_argument("--rerank", action="store_true", help="k-reciprocal re-ranking")
    parser.add_argument(
        "--no-parts", action="store_true", help="global feature only (no eq. 25 part matching)"
    )
    parser.add_argument("--out", type=Path, help="results JSON (default: results.json beside the checkpoint)")
    add_input_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ogfr.cli.extract import prepare

    extractor, _cfg, data = prepare(args)
    from ogfr.engine.evaluate import evaluate_model, left_out
    from ogfr.engine.train import metrics_row

    results, q, g = evaluate_model(
        extractor, data.query, data.gallery, use_parts=not args.no_parts, rerank=args.rerank
    )
    from rich.console import Console

    Console().print(results.table(title=f"{data.name}: {args.checkpoint} (%)"))
    unreadable = {"query": left_out(data.query, q), "gallery": left_out(data.gallery, g)}
    if any(unreadable.values()):
        print(
            f"{len(unreadable['query'])} query and {len(unreadable['gallery'])} gallery image(s) unreadable, "
            "left out of the evaluation (listed in the results JSON under 'unreadable')"
        )
    out = args.out or args.checkpoint.with_name("results.json")
    payload = {
        "checkpoint": str(args.checkpoint),
        "dataset": str(args.dataset),
        "name": data.name,
        "rerank": bool(args.rerank),
        "parts": not args.no_parts and q.has_parts,
        "occlusion_code": extractor.codes.as_dict(),
        "unreadable": unreadable,  # never substituted: left out of the metrics
        **metrics_row(results),
        "results": results.as_dict(),
    }
    from ogfr.io import atomic_write_json

    atomic_write_json(out, payload)
    print(f"results written to {out}")
    return 0

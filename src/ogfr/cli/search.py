"""`ogfr search`: rank an index's gallery for query images by the visibility-weighted distance (eq. 25)."""

from __future__ import annotations

import argparse
import logging
import sys

from ogfr.cli.extract import add_lam_argument

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="index folder written by ogfr index")
    parser.add_argument("queries", nargs="+", metavar="QUERY_IMAGE", help="query image file(s)")
    parser.add_argument("--checkpoint", help="checkpoint (default: the one the index was built with)")
    parser.add_argument("--top", type=int, default=10, help="results per query (default 10)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--faiss",
        choices=["auto", "on", "off"],
        default="auto",
        help="shortlist with faiss on the global feature, then re-rank exactly (auto: from 50k images)",
    )
    parser.add_argument(
        "--shortlist", type=int, default=1000, help="faiss candidates per query (default 1000)"
    )
    parser.add_argument(
        "--occlusion",
        choices=["auto", "pose", "visible"],
        help="source of the queries' occlusion code z (default: what the index used)",
    )
    parser.add_argument("--camera", type=int, help="camera id for the queries (default: the index's)")
    add_lam_argument(parser)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")


def load_for_index(args: argparse.Namespace):
    """(embedder, index) for a search: the checkpoint given or recorded, checked against the index.

    Queries get the index's occlusion source, camera and lambda unless the flags say otherwise.
    """
    from ogfr.search.embed import Embedder
    from ogfr.search.index import Index

    index = Index.open(args.index)
    if not index.complete:
        print(
            f"warning: index {args.index} is incomplete (an `ogfr index` run did not finish); searching the "
            f"{len(index)} image(s) it holds. Rerun the same `ogfr index` command to complete it.",
            file=sys.stderr,
        )
    checkpoint = args.checkpoint or index.info.get("checkpoint")
    if not checkpoint:
        raise ValueError(f"index {args.index} does not record its checkpoint: pass --checkpoint")
    occlusion = args.occlusion or index.info.get("occlusion", "auto")
    camid = args.camera if args.camera is not None else int(index.info.get("camid", 0))
    built_lam = (index.info.get("occlusion_code") or {}).get("lam")
    if args.lam is not None and built_lam is not None and args.lam != built_lam:
        log.warning("--lam %g differs from the lambda %g the index was built with", args.lam, built_lam)
    lam, source = (args.lam, "--lam") if args.lam is not None else (built_lam, f"index {args.index}")
    embedder = Embedder.from_checkpoint(
        checkpoint, device=args.device, occlusion=occlusion, camid=camid, lam=lam, lam_source=source
    )
    if why := index.model.mismatch(embedder.identity):
        raise ValueError(f"checkpoint {checkpoint} is not the one index {args.index} was built with: {why}")
    return embedder, index


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    if args.top < 1:
        raise ValueError(f"--top must be >= 1, got {args.top}")
    embedder, index = load_for_index(args)
    queries = [Path(q) for q in args.queries]
    hits = index.search(embedder.embed(queries), top=args.top, faiss=args.faiss, shortlist=args.shortlist)
    k = index.model.layout.num_parts
    if args.json:
        rows = [
            {"query": str(q), "hits": [h.as_dict() for h in row]}
            for q, row in zip(queries, hits, strict=True)
        ]
        print(json.dumps(rows, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    for q, row in zip(queries, hits, strict=True):
        table = Table(title=f"{q} (gallery {len(index)} images, root {index.root})")
        for col, justify in (
            ("rank", "right"),
            ("path", "left"),
            ("distance", "right"),
            ("shared parts", "right"),
        ):
            table.add_column(col, justify=justify)
        for h in row:
            table.add_row(str(h.rank), h.path, f"{h.distance:.4f}", f"{len(h.shared_parts)}/{k}")
        console.print(table)
    return 0

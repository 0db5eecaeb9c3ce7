"""`ogfr serve`: a local web page to search an index: upload or click a query, see its matches by eq. 25."""

from __future__ import annotations

import argparse
import ipaddress
import logging

from ogfr.cli.extract import add_lam_argument

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--index", required=True, help="index folder written by ogfr index")
    parser.add_argument("--checkpoint", help="checkpoint (default: the one the index was built with)")
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default 127.0.0.1: this machine only; another address warns)",
    )
    parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    parser.add_argument(
        "--max-upload-mb", type=float, default=10.0, help="largest query upload in MB (default 10)"
    )
    parser.add_argument(
        "--max-results",
        type=int,
        default=1000,
        help="ranked gallery images kept per query for paging and camera filters (default 1000)",
    )
    parser.add_argument(
        "--faiss",
        choices=["auto", "on", "off"],
        default="auto",
        help="shortlist with faiss on the global feature, then re-rank exactly (auto: from 50k images)",
    )
    parser.add_argument(
        "--occlusion",
        choices=["auto", "pose", "visible"],
        help="source of the queries' occlusion code z (default: what the index used)",
    )
    parser.add_argument("--camera", type=int, help="camera id for the queries (default: the index's)")
    add_lam_argument(parser)
    parser.add_argument("--device", default="cpu", help="torch device (default cpu)")


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from ogfr.cli.search import load_for_index
    from ogfr.serve import SearchService, create_app
    from ogfr.serve.app import LOOPBACK_HOSTS

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be between 0 and 65535, got {args.port}")
    if args.max_upload_mb <= 0:
        raise ValueError(f"--max-upload-mb must be > 0, got {args.max_upload_mb}")
    embedder, index = load_for_index(args)
    service = SearchService(embedder, index, max_results=args.max_results, faiss=args.faiss)
    allowed: tuple[str, ...] = LOOPBACK_HOSTS
    if not is_loopback(args.host):
        log.warning(
            "serving on %s, not on this machine only: anyone who can reach it can search the gallery and "
            "see its images (there is no login)",
            args.host,
        )
        allowed = ("*",)
    app = create_app(service, max_upload=int(args.max_upload_mb * 2**20), allowed_hosts=allowed)
    print(f"ogfr serve: {len(service.records)} images of {index.path}; open http://{args.host}:{args.port}/")
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0

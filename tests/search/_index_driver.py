"""Subprocess driver of the sharded-index test: `ogfr index` that may SIGKILL itself on one rank.

python _index_driver.py [--kill-rank R --kill-at N] [--count FILE] -- ARGS OF ogfr index
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

from ogfr.cli import main
from ogfr.search.embed import Embedder


def driver() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kill-rank", type=int, default=-1, help="the rank that kills itself")
    ap.add_argument("--kill-at", type=int, default=0, help="... when it starts its N-th batch (1-based)")
    ap.add_argument("--count", help="append one line per embedded batch to this file")
    ap.add_argument("rest", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    rank = int(os.environ.get("RANK", "0"))
    real = Embedder.embed
    calls = {"n": 0}

    def embed(self, *a, **k):
        calls["n"] += 1
        if rank == args.kill_rank and calls["n"] == args.kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        if args.count:
            with open(args.count, "a") as f:
                f.write(f"{rank}\n")
        return real(self, *a, **k)

    Embedder.embed = embed
    return main(["index", *[a for a in args.rest if a != "--"]])


if __name__ == "__main__":
    sys.exit(driver())

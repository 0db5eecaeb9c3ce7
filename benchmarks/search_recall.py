"""Recall of the faiss shortlist + exact eq. 25 re-ranking against exact eq. 25 search over the whole gallery.

Random clustered features stand in for a Re-ID gallery: ``ids`` identities with ``per_id`` images each; an
image's global and part features are its identity's centre plus Gaussian noise (L2-normalised), and each
part is visible with probability ``--visible``. Queries are fresh noisy samples of random identities with
fewer visible parts (occluded). Recall@k = |shortlist top-k  ∩  exact top-k| / k, averaged over queries.

    python benchmarks/search_recall.py                 # 100k gallery, D = 192 (demo model), K = 8
    python benchmarks/search_recall.py --gallery 20000 --no-record
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from ogfr.metrics import Features, top_k
from ogfr.search.faiss_shortlist import build_faiss_index, faiss_candidates


def clustered(
    n: int, per_id: int, dim: int, k: int, noise: float, visible: float, seed: int
) -> tuple[Features, torch.Tensor]:
    """``n`` rows of clustered features (n // per_id identities) and their identity labels."""
    g = torch.Generator().manual_seed(seed)
    ids = max(1, n // per_id)
    centre = F.normalize(torch.randn(ids, dim, generator=g), dim=-1)
    part_centre = F.normalize(torch.randn(ids, k, dim, generator=g), dim=-1)
    label = torch.randint(0, ids, (n,), generator=g)
    glob = F.normalize(centre[label] + noise * torch.randn(n, dim, generator=g) / dim**0.5, dim=-1)
    parts = F.normalize(part_centre[label] + noise * torch.randn(n, k, dim, generator=g) / dim**0.5, dim=-1)
    vis = torch.rand(n, k, generator=g) < visible
    return Features(glob, parts, vis), label


def recall(approx: torch.Tensor, exact: torch.Tensor) -> float:
    hits = [
        len(set(a.tolist()) & set(e.tolist())) / exact.shape[1] for a, e in zip(approx, exact, strict=True)
    ]
    return sum(hits) / len(hits)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gallery", type=int, default=100_000)
    p.add_argument("--queries", type=int, default=100)
    p.add_argument("--dim", type=int, default=192, help="feature size (192 = demo model, 768 = ViT-B)")
    p.add_argument("--parts", type=int, default=8)
    p.add_argument("--per-id", type=int, default=15, help="gallery images per identity")
    p.add_argument("--noise", type=float, default=0.5, help="noise norm relative to the unit centre")
    p.add_argument("--visible", type=float, default=0.8, help="probability that a gallery part is visible")
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    p.add_argument("--no-record", action="store_true", help="print only, do not append to RESULTS.md")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    import faiss

    faiss.omp_set_num_threads(args.threads)

    gallery, _ = clustered(args.gallery, args.per_id, args.dim, args.parts, args.noise, args.visible, seed=0)
    q, _ = clustered(
        args.queries * args.per_id, args.per_id, args.dim, args.parts, args.noise, args.visible, seed=0
    )
    # Queries: other noisy samples of gallery identities (same centres: same seed), half their parts occluded.
    g = torch.Generator().manual_seed(1)
    pick = torch.randperm(len(q), generator=g)[: args.queries]
    noisy = torch.randn(args.queries, args.dim, generator=g) * args.noise / args.dim**0.5
    query = Features(
        F.normalize(q.global_[pick] + noisy, dim=-1),
        q.parts[pick],
        q.visibility[pick] & (torch.rand(args.queries, args.parts, generator=g) < 0.5),
    )

    t0 = time.perf_counter()
    exact = top_k(query, gallery, args.top)
    t_exact = (time.perf_counter() - t0) / args.queries * 1e3
    rows = [("exact eq. 25 (whole gallery)", "-", "-", 1.0, t_exact, 0.0)]
    for kind in ("flat", "ivf"):
        t0 = time.perf_counter()
        index = build_faiss_index(gallery.global_, kind=kind)
        t_build = time.perf_counter() - t0
        probes = (8, 32) if kind == "ivf" else (0,)
        for nprobe in probes:
            for shortlist in (100, 1000):
                t0 = time.perf_counter()
                found = faiss_candidates(index, query.global_, max(shortlist, args.top), nprobe=nprobe)
                approx = top_k(query, gallery, args.top, candidates=torch.from_numpy(found).long())
                t = (time.perf_counter() - t0) / args.queries * 1e3
                label = "faiss flat L2" if kind == "flat" else f"faiss IVF{index.nlist}"
                rows.append(
                    (label, str(shortlist), str(nprobe or "-"), recall(approx.index, exact.index), t, t_build)
                )
    lines = [
        f"Gallery {args.gallery:,} x (global + {args.parts} parts) x D={args.dim}, {args.queries} queries, "
        f"top-{args.top}; {args.per_id} images per identity, noise {args.noise}, gallery parts visible "
        f"with p={args.visible}, query parts with p={args.visible / 2:.2f}.",
        "",
        f"| method | shortlist | nprobe | recall@{args.top} vs exact | ms / query | index build (s) |",
        "|---|--:|--:|--:|--:|--:|",
    ]
    lines += [f"| {m} | {s} | {n} | {r:.3f} | {t:.2f} | {b:.1f} |" for m, s, n, r, t, b in rows]
    body = "\n".join(lines) + "\n"
    print(body)
    if not args.no_record:
        from ogfr.bench import append_results

        machine = f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, CPU only (no GPU), 1-min load average {os.getloadavg()[0]:.1f} (shared machine)"
        command = "python benchmarks/search_recall.py " + " ".join(
            shlex.quote(a) for a in (argv or sys.argv[1:])
        )
        append_results(
            Path(args.out), "Search: faiss shortlist recall vs exact eq. 25", command.strip(), machine, body
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`ogfr index`: extract student features of a gallery of person crops into a searchable index.

Under ``torchrun --nproc_per_node N -m ogfr index ...`` the batches are shared out over the N processes
and rank 0 writes the same index one process would (see ``ogfr.search.build.build_index``).
"""

from __future__ import annotations

import argparse

from ogfr.cli.extract import add_lam_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="trained OGFR checkpoint (ogfr train's best.pt)")
    parser.add_argument(
        "--images", required=True, help="folder tree of person crops, or a text file listing images"
    )
    parser.add_argument("--out", required=True, help="index folder to create (or resume)")
    parser.add_argument("--append", action="store_true", help="add images to a finished index")
    parser.add_argument("--root", help="indexed root folder (default: --images, or the list's common folder)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per forward pass (default 32)")
    parser.add_argument(
        "--occlusion",
        choices=["auto", "pose", "visible"],
        default="auto",
        help="source of the occlusion code z: pose parsing, z=0 (all visible), or auto (pose if available)",
    )
    parser.add_argument("--camera", type=int, default=0, help="camera id given to the model (default 0)")
    add_lam_argument(parser)
    parser.add_argument(
        "--device",
        default="cpu",
        choices=("cpu", "cuda", "auto"),
        help="cpu (default), cuda (GPU LOCAL_RANK under torchrun, else GPU 0) or auto",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ogfr.engine import dist
    from ogfr.search.build import build_index
    from ogfr.search.embed import Embedder

    ranks = dist.init_distributed(args.device)  # torchrun: one process per rank, gloo on CPU, nccl on CUDA
    try:
        embedder = Embedder.from_checkpoint(
            args.checkpoint,
            device=ranks.device,
            occlusion=args.occlusion,
            camid=args.camera,
            batch_size=args.batch_size,
            lam=args.lam,
        )
        report = build_index(
            embedder,
            args.images,
            args.out,
            append=args.append,
            root=args.root,
            progress=not args.no_progress,
            info={"checkpoint": str(Path(args.checkpoint).resolve())},
            ranks=ranks,
        )
    finally:
        dist.cleanup(ranks)
    if not ranks.is_main:
        return 0
    print(
        f"index {args.out}: {len(report.index)} image(s) ({report.added} added, {report.already} already there), "
        f"occlusion code from {embedder.occlusion!r} (lambda {embedder.codes.lam:g}), camera {embedder.camid}"
    )
    if report.skipped:
        print(f"skipped {len(report.skipped)} file(s):")
        for path, reason in report.skipped[:20]:
            print(f"  {path}: {reason}")
        if len(report.skipped) > 20:
            print(
                f"  ... and {len(report.skipped) - 20} more (all listed in {args.out}/meta.sqlite, table skipped)"
            )
    return 0

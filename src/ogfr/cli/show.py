"""`ogfr show`: write figures as PNG: parsing, ranked (Figure 8), visibility (Figure 6b), erasing (Figure 7)."""

from __future__ import annotations

import argparse


def _common(p: argparse.ArgumentParser, checkpoint: bool = True) -> None:
    p.add_argument("--out", required=True, help="PNG file to write")
    if checkpoint:
        p.add_argument("--checkpoint", help="trained OGFR checkpoint")
        p.add_argument(
            "--occlusion", choices=["auto", "pose", "visible"], help="source of the occlusion code z"
        )
        p.add_argument("--camera", type=int, help="camera id given to the model (default 0)")
        p.add_argument("--device", default="cpu", help="torch device (default cpu)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="figure", metavar="FIGURE", required=True)
    p = sub.add_parser("ranked", help="query and its top-k gallery images (needs an index)")
    p.add_argument("--index", required=True, help="index folder written by ogfr index")
    p.add_argument("images", nargs="+", metavar="QUERY_IMAGE")
    p.add_argument("--top", type=int, default=5, help="gallery images per query (default 5)")
    p.add_argument("--faiss", choices=["auto", "on", "off"], default="auto")
    _common(p)
    for name, text in (
        ("visibility", "images with their coarse parts visible/occluded and the student's part maps"),
        ("erasing", "the FEP agent's kept/replaced patches over holistic images"),
    ):
        p = sub.add_parser(name, help=text)
        p.add_argument("images", nargs="+", metavar="IMAGE")
        _common(p)
    p = sub.add_parser("parsing", help="images, their part-label maps and occlusion codes")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument(
        "--backend", choices=["pose", "synthetic"], default="pose", help="parsing backend (default pose)"
    )
    p.add_argument("--num-coarse", type=int, default=4, help="C coarse parts (default 4)")
    p.add_argument(
        "--lam", type=float, default=5.0, help="lambda of eq. 2, pixels at the label size (default 5)"
    )
    _common(p, checkpoint=False)


def _parsing(args: argparse.Namespace):
    from pathlib import Path

    import numpy as np

    from ogfr.images import read_rgb
    from ogfr.parsing import occlusion_code
    from ogfr.parts import COARSE_NAMES
    from ogfr.viz.parsing import parsing_figure

    paths = [Path(p) for p in args.images]
    rgb = [read_rgb(p) for p in paths]
    if args.backend == "pose":
        from ogfr.parsing.pose import PoseBackend

        results = PoseBackend().parse_images(rgb)
    else:
        from ogfr.parsing import SyntheticBackend

        results = SyntheticBackend().parse(paths)
    labels = [r.labels for r in results]
    codes = occlusion_code(np.stack(labels), args.num_coarse, args.lam)
    return parsing_figure(
        rgb, labels, codes, args.out, COARSE_NAMES[args.num_coarse], titles=[p.name for p in paths]
    )


def run(args: argparse.Namespace) -> int:
    if args.figure == "parsing":
        path = _parsing(args)
        print(f"wrote {path}")
        return 0
    from ogfr.search import figures
    from ogfr.search.embed import Embedder

    if args.figure == "ranked":
        from ogfr.cli.search import load_for_index

        embedder, index = load_for_index(args)
        path = figures.ranked_figure(embedder, index, args.images, args.out, top=args.top, faiss=args.faiss)
    else:
        if not args.checkpoint:
            raise ValueError(f"ogfr show {args.figure} needs --checkpoint")
        embedder = Embedder.from_checkpoint(
            args.checkpoint,
            device=args.device,
            occlusion=args.occlusion or "auto",
            camid=args.camera if args.camera is not None else 0,
        )
        make = figures.visibility_figure_for if args.figure == "visibility" else figures.erasing_figure_for
        path = make(embedder, args.images, args.out)
    print(f"wrote {path}")
    return 0

"""`ogfr show`: write figures as PNG: parsing, ranked (Figure 8), visibility (Figure 6b), erasing (Figure 7)."""

from __future__ import annotations

import argparse
import logging

from ogfr.cli.extract import add_lam_argument

log = logging.getLogger(__name__)


def _common(p: argparse.ArgumentParser, checkpoint: bool = True) -> None:
    p.add_argument("--out", required=True, help="PNG file to write")
    if checkpoint:
        p.add_argument("--checkpoint", help="trained OGFR checkpoint")
        p.add_argument(
            "--occlusion", choices=["auto", "pose", "visible"], help="source of the occlusion code z"
        )
        p.add_argument("--camera", type=int, help="camera id given to the model (default 0)")
        p.add_argument("--device", default="cpu", help="torch device (default cpu)")
        add_lam_argument(p)


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
    p.add_argument(
        "--checkpoint",
        help="take C, lambda and the label size from this model (default: C 4, lambda 5, 64x32)",
    )
    p.add_argument("--num-coarse", type=int, default=None, help="C coarse parts (default: the model's, or 4)")
    add_lam_argument(p)
    _common(p, checkpoint=False)


def _parsing(args: argparse.Namespace):
    import dataclasses
    from pathlib import Path

    import numpy as np
    import torch

    from ogfr.images import read_rgb
    from ogfr.parsing.codes import CodeSettings
    from ogfr.parts import COARSE_NAMES
    from ogfr.viz.parsing import parsing_figure

    if args.checkpoint:  # the model's settings; a flag that differs overrides them with a warning
        from ogfr.engine.checkpoint import load_for_inference

        codes = CodeSettings.from_dict(load_for_inference(args.checkpoint)[2]["occlusion_code"])
        codes = codes.with_lam(args.lam)
        if args.num_coarse is not None and args.num_coarse != codes.num_coarse:
            log.warning("--num-coarse %d differs from the model's C = %d", args.num_coarse, codes.num_coarse)
            codes = dataclasses.replace(codes, num_coarse=args.num_coarse)
    else:
        codes = CodeSettings(
            4 if args.num_coarse is None else args.num_coarse, 5.0 if args.lam is None else args.lam
        )
    paths = [Path(p) for p in args.images]
    rgb = [read_rgb(p) for p in paths]
    if args.backend == "pose":
        from ogfr.parsing.pose import PoseBackend

        results = PoseBackend(label_size=codes.label_size).parse_images(rgb)
    else:
        from ogfr.parsing import SyntheticBackend

        results = SyntheticBackend(label_size=codes.label_size).parse(paths)
    labels = [r.labels for r in results]
    z = codes.code(torch.from_numpy(np.stack(labels).astype(np.int64))).numpy()
    return parsing_figure(
        rgb, labels, z, args.out, COARSE_NAMES[codes.num_coarse], titles=[p.name for p in paths]
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
            lam=args.lam,
        )
        make = figures.visibility_figure_for if args.figure == "visibility" else figures.erasing_figure_for
        path = make(embedder, args.images, args.out)
    print(f"wrote {path}")
    return 0

"""`ogfr extract`: student features of a data set split -> safetensors + a JSON of paths, ids, cameras."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ogfr.metrics import Features


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, required=True, help="best.pt / last.pt of a run")
    parser.add_argument("--dataset", type=Path, required=True, help="data set folder")
    parser.add_argument(
        "--name", default=None, help="reader name (default: the one the model was trained on)"
    )
    parser.add_argument("--split", default="query", choices=("train", "query", "gallery"))
    parser.add_argument(
        "--out", type=Path, required=True, help="output .safetensors (a .json sidecar is written)"
    )
    add_input_arguments(parser)


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    """Label source, lambda, batching and device options shared by ``ogfr extract`` and ``ogfr eval``."""
    parser.add_argument(
        "--labels", type=Path, help="part-label cache folder (default <dataset>/ogfr_labels/<backend>)"
    )
    parser.add_argument("--backend", default=None, help="parsing backend for the labels (z and eq. 24)")
    add_lam_argument(parser)
    parser.add_argument("--batch", type=int, default=128, help="images per batch")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def add_lam_argument(parser: argparse.ArgumentParser) -> None:
    """``--lam``: lambda of eq. 2 (default: the value stored with the model; another one is warned about)."""
    parser.add_argument(
        "--lam",
        type=float,
        default=None,
        help="lambda of eq. 2, pixels at the label size (default: the value the model was trained with)",
    )


def prepare(args: argparse.Namespace, ranks: Any = None) -> tuple[Any, Any, Any]:
    """Shared by eval and extract: ``(extractor, cfg, data)`` with the checkpoint's stored code settings;
    ``ranks``: torchrun's ``DistInfo`` (extract only), whose rank 0 builds the label cache while the
    others wait."""
    import dataclasses

    import torch

    from ogfr.data import load_dataset
    from ogfr.engine import dist
    from ogfr.engine.build import ensure_labels
    from ogfr.engine.checkpoint import load_for_inference
    from ogfr.engine.features import CachedLabels, FeatureExtractor
    from ogfr.parsing.codes import CodeSettings

    if args.batch < 1:
        raise ValueError(f"--batch must be >= 1, got {args.batch}")
    if not args.dataset.exists():
        raise FileNotFoundError(f"--dataset {args.dataset}: no such folder")
    want = args.device
    if want == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device available")
    device = torch.device(
        "cuda" if want == "cuda" or (want == "auto" and torch.cuda.is_available()) else "cpu"
    )
    if ranks is not None and ranks.distributed:
        device = ranks.device  # torchrun: this rank's GPU (LOCAL_RANK) or the CPU
    model, cfg, meta = load_for_inference(args.checkpoint, map_location=device)
    codes = CodeSettings.from_dict(meta["occlusion_code"]).with_lam(args.lam)
    name = args.name or cfg.data.test_name or cfg.data.name
    data = load_dataset(name, args.dataset)
    parsing = dataclasses.replace(
        cfg.parsing,
        backend=args.backend or cfg.parsing.backend,
        cache=str(args.labels) if args.labels else "",
        lam=codes.lam,
    )
    cfg = dataclasses.replace(cfg, parsing=parsing)
    camids = [s.camid for s in (*data.query, *data.gallery, *data.train)]
    if camids and max(camids) >= int(meta["num_cameras"]):
        raise ValueError(
            f"{args.dataset}: camera id {max(camids)} is beyond the {meta['num_cameras']} cameras the model was "
            "trained with"
        )
    samples = [*data.query, *data.gallery, *data.train]
    if ranks is not None and ranks.distributed and not ranks.is_main:
        dist.barrier(ranks)  # rank 0 builds the label cache first, the others only read it
    labels = ensure_labels(
        cfg, data.root, samples, data.name, is_main=ranks is None or ranks.is_main, cache_option="--labels"
    )
    if ranks is not None and ranks.distributed and ranks.is_main:
        dist.barrier(ranks)
    extractor = FeatureExtractor(
        model,
        codes,
        labels=CachedLabels(labels),
        batch_size=args.batch,
        num_workers=args.workers,
        device=device,
    )
    return extractor, cfg, data


def run(args: argparse.Namespace) -> int:
    from safetensors.torch import save_file

    from ogfr.engine import dist
    from ogfr.engine.evaluate import left_out, split_features
    from ogfr.io import atomic_path, atomic_write_json

    ranks = dist.init_distributed(args.device)  # torchrun: one process per rank, gloo on CPU, nccl on CUDA
    try:
        extractor, _cfg, data = prepare(args, ranks)
        samples = data.split(args.split)

        def extract(part: list) -> Features:
            return split_features(extractor, part, args.split, progress=ranks.is_main)

        parts = _parts(args, samples, extractor.device) if ranks.distributed else None
        feats = extract(samples) if parts is None else _sharded(args, samples, extract, ranks, parts)
    finally:
        dist.cleanup(ranks)
    if feats is None:  # not rank 0
        return 0
    tensors = feature_tensors(feats)
    out = args.out
    with atomic_path(out) as tmp:
        save_file(tensors, str(tmp), metadata={"split": args.split})
    sidecar = out.with_suffix(".json")
    atomic_write_json(
        sidecar,
        {
            "checkpoint": str(args.checkpoint),
            "dataset": str(args.dataset),
            "name": data.name,
            "split": args.split,
            "occlusion_code": extractor.codes.as_dict(),
            "features": {k: list(v.shape) for k, v in tensors.items()},
            "paths": list(feats.paths),
            "pids": feats.pids.tolist(),
            "camids": feats.camids.tolist(),
            "unreadable": (unreadable := left_out(samples, feats)),  # left out, never substituted
        },
    )
    if parts is not None:
        parts.remove()
    skipped = f", {len(unreadable)} unreadable left out (listed in the sidecar)" if unreadable else ""
    print(f"{len(feats)} of {len(samples)} {args.split} images -> {out} (+ {sidecar.name}){skipped}")
    return 0


def feature_tensors(feats: Features) -> dict[str, Any]:
    """The tensors of ``ogfr extract``'s file (and of its part files): visibility as uint8."""
    import torch

    tensors = {
        "global": feats.global_,
        "parts": feats.parts,
        "visibility": feats.visibility.to(torch.uint8),
        "z": feats.z,
        "pids": feats.pids,
        "camids": feats.camids,
    }
    return {k: v.contiguous() for k, v in tensors.items()}


UNIT_BATCHES = 8  # batches per unit of a sharded extraction (what a killed rank loses at most)


def _parts(args: argparse.Namespace, samples: list, device: Any):
    from ogfr.engine.shards import PartFiles, job_key
    from ogfr.search.records import sha256_file

    settings = {
        "checkpoint": sha256_file(args.checkpoint),
        "dataset": str(args.dataset.resolve()),
        "split": args.split,
        "batch": args.batch,
        "labels": str(args.labels),
        "backend": args.backend,
        "lam": args.lam,
        "device": device.type,
    }
    return PartFiles(
        args.out.parent / f".{args.out.name}.parts", job_key([str(s.path) for s in samples], settings)
    )


def _sharded(args: argparse.Namespace, samples: list, extract, ranks, parts) -> Features | None:
    """Units of ``UNIT_BATCHES`` batches dealt to the ranks; rank 0 returns the features in sample order.

    Each unit is a whole number of batches, so every batch holds the images a single process would give it.
    """
    from ogfr.engine.shards import Plan, gather_units
    from ogfr.metrics import Features
    from ogfr.metrics.features import concat_features

    plan = Plan(len(samples), args.batch * UNIT_BATCHES)
    names = [[str(samples[i].path) for i in plan.items(k)] for k in range(len(plan))]

    def compute(k: int):
        feats = extract([samples[i] for i in plan.items(k)])
        return feature_tensors(feats), {"paths": list(feats.paths)}

    def unit(t: dict[str, Any], meta: dict[str, Any]) -> Features:
        vis = t["visibility"].bool()
        return Features(
            t["global"], t["parts"], vis, z=t["z"], pids=t["pids"], camids=t["camids"], paths=meta["paths"]
        )

    units = gather_units(plan, names, compute, ranks.rank, ranks.world_size, parts)
    if units is None:
        return None
    return concat_features(*(unit(t, meta) for t, meta in units), name=args.split)

"""`ogfr extract`: student features of a data set split -> safetensors + a JSON of paths, ids, cameras."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


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
    """Label source, batching and device options shared by ``ogfr extract`` and ``ogfr eval``."""
    parser.add_argument(
        "--labels", type=Path, help="part-label cache folder (default <dataset>/ogfr_labels/<backend>)"
    )
    parser.add_argument("--backend", default=None, help="parsing backend for the labels (z and eq. 24)")
    parser.add_argument("--batch", type=int, default=128, help="images per batch")
    parser.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))


def prepare(args: argparse.Namespace, ranks: Any = None) -> tuple[Any, Any, Any, Any, Any]:
    """Shared by eval and extract: ``(model, cfg, data, labels, device)``; ``ranks``: torchrun's
    ``DistInfo`` (extract only), whose rank 0 builds the label cache while the others wait."""
    import dataclasses

    import torch

    from ogfr.data import load_dataset
    from ogfr.engine import dist
    from ogfr.engine.build import ensure_labels
    from ogfr.engine.checkpoint import load_for_inference

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
    name = args.name or cfg.data.test_name or cfg.data.name
    data = load_dataset(name, args.dataset)
    parsing = dataclasses.replace(
        cfg.parsing,
        backend=args.backend or cfg.parsing.backend,
        cache=str(args.labels) if args.labels else "",
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
    return model, cfg, data, labels, device


def run(args: argparse.Namespace) -> int:
    import torch
    from safetensors.torch import save_file

    from ogfr.engine import dist
    from ogfr.engine.evaluate import extract_features
    from ogfr.io import atomic_write_json

    ranks = dist.init_distributed(args.device)  # torchrun: one process per rank, gloo on CPU, nccl on CUDA
    try:
        model, cfg, data, labels, device = prepare(args, ranks)
        samples = data.split(args.split)

        def extract(part: list) -> dict[str, Any]:
            return extract_features(
                model,
                part,
                image_size=cfg.model.image_size,
                label_size=cfg.model.label_size,
                labels=labels,
                num_coarse=cfg.model.num_coarse,
                lam=cfg.parsing.lam,
                batch_size=args.batch,
                num_workers=args.workers,
                device=device,
                progress=ranks.is_main,
                description=args.split,
            )

        parts = _parts(args, samples, device) if ranks.distributed else None
        feats = extract(samples) if parts is None else _sharded(args, samples, extract, ranks, parts)
    finally:
        dist.cleanup(ranks)
    if feats is None:  # not rank 0
        return 0
    tensors = {"global": feats["global"], "z": feats["z"], "pids": feats["pids"], "camids": feats["camids"]}
    if feats["parts"] is not None:
        tensors["parts"] = feats["parts"]
        tensors["visibility"] = feats["visibility"].to(torch.uint8)
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata={"split": args.split})
    tmp.replace(out)
    sidecar = out.with_suffix(".json")
    atomic_write_json(
        sidecar,
        {
            "checkpoint": str(args.checkpoint),
            "dataset": str(args.dataset),
            "name": data.name,
            "split": args.split,
            "features": {k: list(v.shape) for k, v in tensors.items()},
            "paths": feats["paths"],
            "pids": feats["pids"].tolist(),
            "camids": feats["camids"].tolist(),
        },
    )
    if parts is not None:
        parts.remove()
    print(f"{len(samples)} {args.split} images -> {out} (+ {sidecar.name})")
    return 0


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
        "device": device.type,
    }
    return PartFiles(
        args.out.parent / f".{args.out.name}.parts", job_key([str(s.path) for s in samples], settings)
    )


def _sharded(args: argparse.Namespace, samples: list, extract, ranks, parts) -> dict[str, Any] | None:
    """Units of ``UNIT_BATCHES`` batches dealt to the ranks; rank 0 returns the features in sample order.

    Each unit is a whole number of batches, so every batch holds the images a single process would give it.
    """
    import torch

    from ogfr.engine.shards import Plan, gather_units

    plan = Plan(len(samples), args.batch * UNIT_BATCHES)
    names = [[str(samples[i].path) for i in plan.items(k)] for k in range(len(plan))]

    def compute(k: int):
        feats = extract([samples[i] for i in plan.items(k)])
        tensors = {key: v for key, v in feats.items() if isinstance(v, torch.Tensor)}
        return tensors, {"paths": feats["paths"]}

    units = gather_units(plan, names, compute, ranks.rank, ranks.world_size, parts)
    if units is None:
        return None
    keys = units[0][0].keys()
    merged: dict[str, Any] = {key: torch.cat([t[key] for t, _ in units]) for key in keys}
    merged.setdefault("parts", None)
    merged.setdefault("visibility", None)
    if merged["visibility"] is not None:
        merged["visibility"] = merged["visibility"].bool()
    merged["paths"] = [p for _, meta in units for p in meta["paths"]]
    return merged

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


def prepare(args: argparse.Namespace) -> tuple[Any, Any, Any, Any, Any]:
    """Shared by eval and extract: ``(model, cfg, data, labels, device)``."""
    import dataclasses

    import torch

    from ogfr.data import load_dataset
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
    labels = ensure_labels(cfg, data.root, samples, data.name, cache_option="--labels")
    return model, cfg, data, labels, device


def run(args: argparse.Namespace) -> int:
    import torch
    from safetensors.torch import save_file

    from ogfr.engine.evaluate import extract_features
    from ogfr.io import atomic_write_json

    model, cfg, data, labels, device = prepare(args)
    samples = data.split(args.split)
    feats = extract_features(
        model,
        samples,
        image_size=cfg.model.image_size,
        label_size=cfg.model.label_size,
        labels=labels,
        num_coarse=cfg.model.num_coarse,
        lam=cfg.parsing.lam,
        batch_size=args.batch,
        num_workers=args.workers,
        device=device,
        description=args.split,
    )
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
    print(f"{len(samples)} {args.split} images -> {out} (+ {sidecar.name})")
    return 0

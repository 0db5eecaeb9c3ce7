"""GPU check sections that run the engine: a short training run of the paper preset on the synthetic
benchmark, evaluation on the device, and DistributedDataParallel at world size 1 (nccl on CUDA, gloo on CPU).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
import socket
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from ogfr.bench.common import inputs, model_config
from ogfr.bench.gpu import NUM_CAMERAS, NUM_CLASSES, autocast, sync

PAPER_PRESET = Path(__file__).resolve().parents[3] / "configs" / "paper" / "_base.yaml"


def synthetic_benchmark(out: Path, tiny: bool) -> Path:
    """A small synthetic occluded benchmark (Market-1501 layout + part labels) for the training run."""
    from ogfr.data.synth import SynthConfig, generate

    workers = min(8, os.cpu_count() or 1)
    cfg = SynthConfig.tiny(seed=0) if tiny else SynthConfig(num_ids=100, seed=0, workers=workers)
    return Path(generate(out, cfg))


def paper_config(size: str, data_root: Path, steps: int, device: torch.device, preset: Path = PAPER_PRESET):
    """The paper preset (configs/paper/_base.yaml) on the synthetic data, from scratch, for ``steps`` steps.

    Changed from the preset: the data set (synthetic, its ground-truth part labels), no ImageNet weights
    (nothing is downloaded), ``steps`` optimizer steps over 2 epochs with 1 warm-up epoch, evaluation only
    at the end; for a ``size`` other than ``vit_base`` that size's model.
    """
    from ogfr.engine.config import load_config

    workers = 0 if device.type == "cpu" else min(8, os.cpu_count() or 1)
    epochs = 2
    overrides = [
        "data.name=synthetic",
        f"data.root={data_root}",
        f"data.num_workers={workers}",
        "parsing.backend=synthetic",
        "train.pretrained=",
        f"train.epochs={epochs}",
        f"train.steps_per_epoch={max(1, steps // epochs)}",
        "train.eval_every=0",
        "train.checkpoint_every=0",
        f"train.device={device.type}",
        "optim.warmup_epochs=1",
    ]
    cfg = load_config(preset, overrides)
    if size != "vit_base":
        keep = {"num_coarse": cfg.model.num_coarse, "label_size": cfg.model.label_size}
        cfg = dataclasses.replace(cfg, model=model_config(size, **keep))
    if size == "tiny":
        cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, p=4, k=2, eval_batch=32))
    return cfg, overrides


def training(size: str, data_root: Path, out: Path, steps: int, device: torch.device) -> tuple[dict, Any]:
    """A short training run; the loss should fall and stay finite. Returns (report, the trained model)."""
    from ogfr.engine.train import train

    cfg, overrides = paper_config(size, data_root, steps, device)
    losses: list[float] = []
    t0 = time.perf_counter()
    result = train(cfg, out, on_step=lambda step, values: losses.append(values["total"]), progress=False)
    seconds = time.perf_counter() - t0
    fifth = max(1, len(losses) // 5)
    first, last = statistics.mean(losses[:fifth]), statistics.mean(losses[-fifth:])
    batch = cfg.data.p * cfg.data.k
    report = {
        "overrides": overrides,
        "amp": cfg.train.amp,
        "model": {
            "image_size": list(cfg.model.image_size),
            "embed_dim": cfg.model.embed_dim,
            "stride": cfg.model.stride,
        },
        "steps": result.steps,
        "batch": batch,
        "loss_first_fifth": first,
        "loss_last_fifth": last,
        "loss_falls": last < first,  # mean of the last fifth of the steps vs the first fifth
        "all_finite": all(math.isfinite(v) for v in losses),
        "seconds": seconds,
        "images_per_s": result.steps * batch / seconds,
        "final_eval": result.final,  # evaluated on the device by the engine, after the last step
    }
    return report, (result.model, cfg)


def evaluation(model: torch.nn.Module, cfg, device: torch.device) -> dict[str, Any]:
    """The engine's evaluation on ``device`` (timed), and on a GPU the same features on the CPU to compare."""
    from ogfr.engine.build import code_settings, ensure_labels, load_data
    from ogfr.engine.evaluate import evaluate_model, split_features
    from ogfr.engine.features import CachedLabels, FeatureExtractor
    from ogfr.engine.train import metrics_row

    data = load_data(cfg)
    labels = CachedLabels(ensure_labels(cfg, data.root, [*data.query, *data.gallery], data.name))

    def extractor(m: torch.nn.Module, dev: torch.device | str) -> FeatureExtractor:
        return FeatureExtractor(
            m,
            code_settings(cfg),
            labels=labels,
            batch_size=cfg.data.eval_batch,
            num_workers=cfg.data.num_workers,
            device=dev,
        )

    model = model.to(device).eval()
    sync(device)
    t0 = time.perf_counter()
    results, _, _ = evaluate_model(extractor(model, device), data.query, data.gallery, progress=False)
    sync(device)
    seconds = time.perf_counter() - t0
    images = len(data.query) + len(data.gallery)
    report: dict[str, Any] = {
        "query": len(data.query),
        "gallery": len(data.gallery),
        "seconds": seconds,
        "images_per_s": images / seconds,
        "metrics": metrics_row(results),
    }
    if device.type == "cuda":
        few = data.query[:32]
        on_gpu = split_features(extractor(model, device), few, "gpu", progress=False)
        on_cpu = split_features(extractor(copy.deepcopy(model).cpu(), "cpu"), few, "cpu", progress=False)
        report["max_abs_diff_cpu_vs_cuda_global"] = float((on_gpu.global_ - on_cpu.global_).abs().max())
    return report


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_world_size_1(
    size: str, batch: int, device: torch.device, steps: int = 3, precision: str = "fp32"
) -> dict[str, Any]:
    """DDP (nccl on CUDA, gloo on CPU) at world size 1 against the same steps without DDP: same weights."""
    import torch.distributed as torch_dist
    from torch.nn.parallel import DistributedDataParallel

    from ogfr.bench.common import build_model
    from ogfr.engine.train import TrainStep
    from ogfr.losses import LossConfig, OGFRCriterion

    backend = "nccl" if device.type == "cuda" else "gloo"
    cfg = model_config(size)
    torch.manual_seed(0)
    plain = build_model(cfg, NUM_CLASSES, NUM_CAMERAS).to(device).train()
    wrapped_model = copy.deepcopy(plain)
    data = {k: v.to(device) for k, v in inputs(cfg, batch, NUM_CLASSES, NUM_CAMERAS).items()}
    torch_dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{_free_port()}", rank=0, world_size=1
    )
    try:
        ddp = DistributedDataParallel(
            TrainStep(wrapped_model),
            device_ids=[device.index or 0] if device.type == "cuda" else None,
            find_unused_parameters=True,
        )
        losses: dict[str, list[float]] = {"plain": [], "ddp": []}
        for name, forward, params in (
            ("plain", plain.forward_train, plain.parameters()),
            ("ddp", ddp, ddp.parameters()),
        ):
            torch.manual_seed(1)  # the same REINFORCE samples and drop paths in both runs
            crit = OGFRCriterion(LossConfig(), cfg)
            opt = torch.optim.SGD(list(params), lr=1e-3, momentum=0.9)
            for _ in range(steps):
                opt.zero_grad(set_to_none=True)
                with autocast(device, precision):
                    total = crit(forward(data), data)["total"]
                total.backward()
                opt.step()
                losses[name].append(float(total.detach()))
        sync(device)
        diff = max(
            float((a - b).abs().max())
            for a, b in zip(plain.parameters(), wrapped_model.parameters(), strict=True)
        )
    finally:
        torch_dist.destroy_process_group()
    return {"backend": backend, "world_size": 1, "steps": steps, "losses": losses, "max_abs_param_diff": diff}

"""Shared pieces of the benchmarks: presets, the baseline switches, random batches, device description."""

from __future__ import annotations

import dataclasses
import os
import platform
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

Size = Literal["vit_base", "vit_small", "demo", "tiny"]
SIZES: tuple[str, ...] = typing.get_args(Size)
# The YAML preset in configs/ whose model section each size is.
SIZE_PRESETS: dict[str, str] = {
    "vit_base": "paper/_base",
    "vit_small": "vit_small",
    "demo": "demo",
    "tiny": "tiny",
}
# Table 4's first row: one plain-ViT branch (cls + patch tokens, SIE), one BNNeck, ID + triplet losses.
BASELINE_SWITCHES: dict[str, Any] = {"oavit": False, "fep": "none", "kd": False}
# The paper's Table 9 (ViT-B/16, Occluded-Duke, one GTX 1080Ti).
PAPER_TABLE9 = {
    "OGFR": {"params_m": 121.7, "gflops": 26.5, "train_ms": 14.1, "infer_ms": 7.0},
    "TransReID": {"params_m": 103.3, "gflops": 23.6, "train_ms": 4.8, "infer_ms": 5.2},
}


def model_config(size: str, **overrides: Any):
    """The model of preset ``size`` (``SIZE_PRESETS``) with field overrides (e.g. ``stride=11``)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    from ogfr.engine.config import preset_model

    return preset_model(SIZE_PRESETS[size], **overrides)


def build_model(cfg, num_classes: int, num_cameras: int) -> nn.Module:
    """An ``OGFR`` model (random init: no weights are loaded for cost measurements)."""
    from ogfr.model import OGFR

    return OGFR(cfg, num_classes=num_classes, num_cameras=num_cameras)


def count_params(module: nn.Module) -> int:
    """Number of parameters (shared tensors counted once)."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def params_by_child(module: nn.Module, depth: int = 2) -> dict[str, int]:
    """Parameter count per child module, expanded ``depth`` levels (``student.head``, ``student.necks``);
    ``(direct)`` for parameters a module owns itself (tokens, embeddings)."""
    out: dict[str, int] = {}
    direct = sum(p.numel() for p in module.parameters(recurse=False))
    if direct:
        out["(direct)"] = direct
    for name, child in module.named_children():
        if depth > 1 and any(True for _ in child.children()):
            for sub, n in params_by_child(child, depth - 1).items():
                out[f"{name}.{sub}"] = n
        else:
            out[name] = count_params(child)
    return {k: v for k, v in out.items() if v}


def inputs(cfg, batch: int, num_classes: int, num_cameras: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random training batch with every key of ``OGFR.forward_train`` (P x 2 identities layout)."""
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.image_size
    lh, lw = cfg.label_size
    c = cfg.num_coarse
    pid = torch.arange(batch) // 2 % num_classes  # two images per identity: triplet needs positives
    return {
        "img_h": torch.randn(batch, 3, h, w, generator=g),
        "img_o": torch.randn(batch, 3, h, w, generator=g),
        "z_h": torch.zeros(batch, c, dtype=torch.long),
        "z_o": torch.randint(0, 2, (batch, c), generator=g),
        "camid": torch.randint(0, num_cameras, (batch,), generator=g),
        "pid": pid,
        "labels_h": torch.randint(0, cfg.num_parts + 1, (batch, lh, lw), generator=g),
        "labels_o": torch.randint(0, cfg.num_parts + 1, (batch, lh, lw), generator=g),
    }


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def student_params(model: nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """Parameters the inference (student) output depends on: those that get a gradient from it."""
    model.zero_grad(set_to_none=True)
    out = model(batch["img_o"][:2], batch["z_o"][:2], batch["camid"][:2])
    (out["global"].sum() + out["parts"].sum()).backward()
    n = sum(p.numel() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    return n


def _sync_for(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


def describe_device(device: torch.device) -> str:
    """A short description of the machine: CPU model and core count, or the GPU name."""
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {model}, {os.cpu_count()} cores, no GPU"


def _setup(
    size: str, which: str, batch: int, device: torch.device, num_classes: int = 100, num_cameras: int = 6
):
    from ogfr.losses import LossConfig, OGFRCriterion

    cfg = model_config(size)
    if which == "baseline":
        cfg = dataclasses.replace(cfg, **BASELINE_SWITCHES)
    torch.manual_seed(0)
    model = build_model(cfg, num_classes, num_cameras).to(device).train()
    crit = OGFRCriterion(LossConfig(), cfg)
    if isinstance(crit, nn.Module):
        crit.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    data = _to(inputs(cfg, batch, num_classes, num_cameras), device)
    return model, crit, opt, data

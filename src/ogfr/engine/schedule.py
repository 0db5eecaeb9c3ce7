"""Optimizer and learning-rate schedule (TransReID's recipe, as DESIGN.md fixes it).

SGD, momentum 0.9, weight decay 1e-4, biases at 2x the learning rate (AdamW as an option for the
presets that train from scratch on CPU); the pretrained stages of a hybrid patch stem at
``stem_lr_factor x`` the learning rate, frozen for the first ``stem_freeze_epochs`` (and its first
``stem_frozen_stages`` throughout); a linear warm-up from
``warmup_factor x lr`` over ``warmup_epochs``, then a cosine decay to ``min_lr_factor x lr`` at the last
epoch, or the paper's step decay (x ``gamma`` at epochs 40 and 70). The factor is a pure function of the
(fractional) epoch, so a resumed run sets exactly the learning rate the uninterrupted run had.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ogfr.engine.config import OptimConfig
from ogfr.model.vit import HybridStem

__all__ = ["build_optimizer", "hybrid_stem", "lr_factor", "set_lr", "set_stem_frozen"]


def lr_factor(cfg: OptimConfig, epoch: float, total_epochs: int) -> float:
    """Multiplier of the base learning rate at fractional ``epoch`` (0 = start of training)."""
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    warm = cfg.warmup_epochs
    if warm > 0 and epoch < warm:  # linear warm-up from warmup_factor to 1
        return cfg.warmup_factor + (1.0 - cfg.warmup_factor) * epoch / warm
    if cfg.schedule == "step":
        return cfg.gamma ** sum(1 for s in cfg.steps if epoch >= s)
    span = max(total_epochs - warm, 1e-8)
    t = min(max((epoch - warm) / span, 0.0), 1.0)  # 0 at the end of warm-up, 1 at the last epoch
    return cfg.min_lr_factor + (1.0 - cfg.min_lr_factor) * 0.5 * (1.0 + math.cos(math.pi * t))


def hybrid_stem(model: nn.Module) -> HybridStem | None:
    """The hybrid patch stem of an OGFR model (or of its backbone), None for the other patch embeddings."""
    stem = getattr(getattr(model, "backbone", model), "patch_embed", None)
    return stem if isinstance(stem, HybridStem) else None


def set_stem_frozen(model: nn.Module, cfg: OptimConfig, epoch: int) -> int:
    """Fix the pretrained stages of a hybrid stem for ``epoch``: all of them during the first
    ``cfg.stem_freeze_epochs``, then the first ``cfg.stem_frozen_stages``. Returns how many are fixed."""
    stem = hybrid_stem(model)
    if stem is None:
        return 0
    frozen = len(stem.body) if epoch < cfg.stem_freeze_epochs else min(cfg.stem_frozen_stages, len(stem.body))
    stem.set_frozen_stages(frozen)
    return frozen


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD (or AdamW) over the trainable parameters: weights at ``lr``, biases at ``lr x bias_lr_factor``;
    both x ``stem_lr_factor`` for the pretrained body of a hybrid stem, x ``agent_lr_mult`` for the erasing
    agent's G and b (eq. 7)."""
    stem = hybrid_stem(model)
    in_stem = {id(p) for p in stem.body.parameters()} if stem is not None else set()
    groups: dict[tuple[bool, str], list[nn.Parameter]] = {}  # (is bias, "" / "agent" / "stem") -> parameters
    for name, param in model.named_parameters():
        if param.requires_grad:
            part = "stem" if id(param) in in_stem else "agent" if ".agent." in f".{name}" else ""
            groups.setdefault((name.endswith(".bias") or name == "bias", part), []).append(param)
    groups.setdefault((False, ""), [])  # the first group is always the plain weights (set_lr's value)
    factors = {"": 1.0, "agent": cfg.agent_lr_mult, "stem": cfg.stem_lr_factor}
    param_groups = []
    for (bias, part), params in sorted(groups.items()):
        lr = cfg.lr * (cfg.bias_lr_factor if bias else 1.0) * factors[part]
        param_groups.append({"params": params, "lr": lr, "base_lr": lr})
    if cfg.name == "adamw":
        return torch.optim.AdamW(
            param_groups, lr=cfg.lr, betas=(cfg.momentum, 0.999), weight_decay=cfg.weight_decay
        )
    return torch.optim.SGD(param_groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)


def set_lr(optimizer: torch.optim.Optimizer, factor: float) -> float:
    """Set every group's lr to its base lr x ``factor``; returns the first group's lr."""
    for group in optimizer.param_groups:
        group["lr"] = group["base_lr"] * factor
    return optimizer.param_groups[0]["lr"]

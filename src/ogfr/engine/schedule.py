"""Optimizer and learning-rate schedule (TransReID's recipe, as DESIGN.md fixes it).

SGD, momentum 0.9, weight decay 1e-4, biases at 2x the learning rate (AdamW as an option for the
presets that train from scratch on CPU); a linear warm-up from
``warmup_factor x lr`` over ``warmup_epochs``, then a cosine decay to ``min_lr_factor x lr`` at the last
epoch, or the paper's step decay (x ``gamma`` at epochs 40 and 70). The factor is a pure function of the
(fractional) epoch, so a resumed run sets exactly the learning rate the uninterrupted run had.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ogfr.engine.config import OptimConfig

__all__ = ["build_optimizer", "lr_factor", "set_lr"]


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


def build_optimizer(model: nn.Module, cfg: OptimConfig) -> torch.optim.Optimizer:
    """SGD (or AdamW) over the trainable parameters: weights at ``lr``, biases at ``lr x bias_lr_factor``;
    the erasing agent's G and b (parameters under ``.agent.``) additionally x ``agent_lr_mult``."""
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}  # (is bias, is agent) -> parameters
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        key = (name.endswith(".bias") or name == "bias", ".agent." in f".{name}")
        groups.setdefault(key, []).append(param)
    param_groups = []
    for (bias, agent), params in sorted(groups.items()):  # plain weights first: their lr is the logged one
        lr = cfg.lr * (cfg.bias_lr_factor if bias else 1.0) * (cfg.agent_lr_mult if agent else 1.0)
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

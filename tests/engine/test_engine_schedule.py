"""Learning-rate schedule and optimizer groups against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from ogfr.engine.config import OptimConfig, preset_model
from ogfr.engine.schedule import build_optimizer, lr_factor, set_lr


def test_warmup_then_cosine() -> None:
    cfg = OptimConfig()  # warm-up 5 epochs from 0.01, cosine to 0.002 at the last epoch
    assert lr_factor(cfg, 0.0, 120) == pytest.approx(0.01)
    assert lr_factor(cfg, 2.5, 120) == pytest.approx(0.01 + 0.99 * 0.5)
    assert lr_factor(cfg, 5.0, 120) == pytest.approx(1.0)
    mid = 5 + (120 - 5) / 2
    assert lr_factor(cfg, mid, 120) == pytest.approx(0.002 + 0.998 * 0.5)
    t = (100 - 5) / 115
    assert lr_factor(cfg, 100, 120) == pytest.approx(0.002 + 0.998 * 0.5 * (1 + math.cos(math.pi * t)))
    assert lr_factor(cfg, 120, 120) == pytest.approx(0.002)
    values = [lr_factor(cfg, e / 10, 120) for e in range(50, 1200)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))  # monotone after warm-up


def test_step_schedule_of_the_paper() -> None:
    cfg = OptimConfig(schedule="step", warmup_epochs=0)
    assert lr_factor(cfg, 39.99, 120) == 1.0
    assert lr_factor(cfg, 40, 120) == pytest.approx(0.1)
    assert lr_factor(cfg, 69.0, 120) == pytest.approx(0.1)
    assert lr_factor(cfg, 70, 120) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        lr_factor(cfg, -1, 120)


def test_bias_lr_is_doubled_and_set_lr_scales_groups() -> None:
    model = torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4), torch.nn.Linear(4, 2, bias=False)
    )
    model[1].bias.requires_grad_(False)  # frozen parameters are left out
    opt = build_optimizer(model, OptimConfig(lr=0.008))
    weights, biases = opt.param_groups
    assert len(weights["params"]) == 3 and len(biases["params"]) == 1
    assert biases["lr"] == pytest.approx(0.016) and opt.defaults["momentum"] == 0.9
    assert opt.defaults["weight_decay"] == pytest.approx(1e-4)
    assert set_lr(opt, 0.5) == pytest.approx(0.004)
    assert biases["lr"] == pytest.approx(0.008)


def test_agent_lr_multiplier_applies_to_the_agent_only() -> None:
    from ogfr.engine.config import preset_model
    from ogfr.model import OGFR

    model = OGFR(preset_model("tiny"), num_classes=4, num_cameras=2)
    opt = build_optimizer(model, OptimConfig(lr=0.01, agent_lr_mult=10.0))
    agent = {id(p) for p in model.teacher.fep.agent.parameters()}
    by_lr = {}
    for group in opt.param_groups:
        for p in group["params"]:
            by_lr[id(p)] = group["lr"]
    g, b = model.teacher.fep.agent.fc.weight, model.teacher.fep.agent.fc.bias
    assert by_lr[id(g)] == pytest.approx(0.1) and by_lr[id(b)] == pytest.approx(0.2)  # x 10, bias x 2 x 10
    assert sorted({round(lr, 9) for pid, lr in by_lr.items() if pid not in agent}) == [0.01, 0.02]
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)  # plain weights first (the logged lr)
    assert len(by_lr) == sum(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match="agent_lr_mult"):
        OptimConfig(agent_lr_mult=-1.0)


def test_optim_config_validation() -> None:
    with pytest.raises(ValueError, match="optim.steps"):
        OptimConfig(steps=(70, 40))
    with pytest.raises(ValueError, match="optim.lr"):
        OptimConfig(lr=0)


def _hybrid_model():
    from ogfr.model import OGFR

    cfg = preset_model("tiny", image_size=(64, 32), patch_size=16, patch_embed="hybrid")
    return OGFR(cfg, num_classes=3, num_cameras=2)


def test_stem_lr_factor_groups() -> None:
    model = _hybrid_model()
    body = {id(p) for p in model.backbone.patch_embed.body.parameters()}
    opt = build_optimizer(model, OptimConfig(lr=0.01, bias_lr_factor=2.0, stem_lr_factor=0.1))
    lr_of = {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}
    assert opt.param_groups[0]["lr"] == pytest.approx(0.01)  # plain weights first (set_lr's value)
    for name, p in model.named_parameters():
        if p.requires_grad:
            bias = name.endswith(".bias")
            expected = (0.02 if bias else 0.01) * (0.1 if id(p) in body else 1.0)
            assert lr_of[id(p)] == pytest.approx(expected), name
    assert lr_of[id(model.backbone.patch_embed.proj.weight)] == pytest.approx(0.01)  # new layer: lr
    assert len(lr_of) == sum(1 for p in model.parameters() if p.requires_grad)
    stem_bias = next(
        id(p) for n, p in model.backbone.patch_embed.body.named_parameters() if n.endswith("bias")
    )
    assert set_lr(opt, 0.5) == pytest.approx(0.005)
    assert {id(p): g["lr"] for g in opt.param_groups for p in g["params"]}[stem_bias] == pytest.approx(0.001)


def test_stem_freeze_epochs_then_frozen_stages() -> None:
    from ogfr.engine.schedule import set_stem_frozen

    model = _hybrid_model()
    cfg = OptimConfig(stem_freeze_epochs=2, stem_frozen_stages=4)
    body = model.backbone.patch_embed.body
    assert set_stem_frozen(model, cfg, 0) == set_stem_frozen(model, cfg, 1) == len(body) == 14
    assert not any(p.requires_grad for p in body.parameters())
    assert set_stem_frozen(model, cfg, 2) == 4  # then only the first 4 stages stay fixed
    assert not any(p.requires_grad for p in body[:4].parameters())
    assert all(p.requires_grad for p in body[4:].parameters())
    assert set_stem_frozen(model, OptimConfig(), 0) == 0 and all(p.requires_grad for p in body.parameters())
    assert set_stem_frozen(torch.nn.Linear(2, 2), cfg, 0) == 0  # no hybrid stem: nothing to freeze
    with pytest.raises(ValueError, match="stem_lr_factor"):
        OptimConfig(stem_lr_factor=0)

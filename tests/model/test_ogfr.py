"""OGFR assembly: student-only inference, one backbone pass in training, every ablation switch trains."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from ogfr.engine.config import preset_model
from ogfr.losses import LossConfig, OGFRCriterion
from ogfr.model import OGFR, OGFRConfig
from ogfr.model.outputs import BranchOutput, TrainOutput

from .conftest import make_batch

MICRO = {"image_size": (32, 16), "embed_dim": 32, "depth": 1, "label_size": (16, 8)}  # 4 x 2 patches


def _infer(model: OGFR, batch: dict) -> dict:
    return model(batch["img_o"], batch["z_o"], batch["camid"])


def test_inference_outputs(tiny_cfg, tiny_model) -> None:
    batch = make_batch(tiny_cfg, b=4)
    out = _infer(tiny_model.eval(), batch)
    assert set(out) == {"global", "parts", "visibility", "part_maps"}
    assert out["global"].shape == (4, 64) and out["parts"].shape == (4, 8, 64)
    assert out["visibility"].dtype == torch.bool and out["visibility"].shape == (4, 8)
    maps = out["part_maps"]
    assert maps.shape == (4, 9, 32, 16)
    assert torch.allclose(maps.sum(dim=1), torch.ones(4, 32, 16), atol=1e-5)
    winners = maps.argmax(dim=1)
    for b in range(4):
        for k in range(1, 9):
            assert bool(out["visibility"][b, k - 1]) == bool((winners[b] == k).any())  # eq. 24


def test_student_inference_same_in_train_and_eval_and_without_teacher(tiny_cfg, tiny_model) -> None:
    batch = make_batch(tiny_cfg, b=4)
    train_out = _infer(tiny_model.train(), batch)  # no dropout / drop-path in the tiny preset
    eval_out = _infer(tiny_model.eval(), batch)
    for key in ("global", "parts", "part_maps"):
        assert torch.allclose(train_out[key], eval_out[key], atol=1e-6), key
    del tiny_model.teacher, tiny_model.en_neck  # inference never touches teacher modules
    again = _infer(tiny_model, batch)
    assert torch.equal(again["global"], eval_out["global"])


def test_drop_path_only_in_training() -> None:
    cfg = preset_model("tiny", drop_path=0.5, depth=4)
    model = OGFR(cfg, 4, 2)
    batch = make_batch(cfg, b=4)
    torch.manual_seed(0)
    a = _infer(model.train(), batch)["global"]
    b = _infer(model.train(), batch)["global"]
    assert not torch.allclose(a, b)  # stochastic depth in training
    model.eval()
    assert torch.equal(_infer(model, batch)["global"], _infer(model, batch)["global"])


def test_backbone_runs_once_on_both_views(tiny_cfg, tiny_model) -> None:
    calls = []
    tiny_model.backbone.register_forward_hook(lambda mod, args, out: calls.append(args[0].shape[0]))
    out = tiny_model.forward_train(make_batch(tiny_cfg, b=6))
    assert calls == [12]  # 2B images in one pass
    assert out.f_hp.tokens.shape == out.f_op.tokens.shape == (6, 1 + 8 + 32, 64)
    assert out.f_hp.logits.shape == (6, 9, 4) and out.f_hp.keep.shape == (6, 32)
    assert not out.f_hp.base_logits.requires_grad  # no-mask baseline pass under no_grad


def _present(out) -> dict[str, set[str]]:
    """Names of the non-None fields of each record of a TrainOutput (None records: absent)."""
    return {
        name: {f.name for f in dataclasses.fields(rec) if getattr(rec, f.name) is not None}
        for name, rec in vars(out).items()
        if rec is not None
    }


FEATURES = {"tokens", "global_feat", "parts", "logits"}
AGENT = {"keep", "agent_logits", "logprob", "episode_logits", "base_logits"}


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            {},
            {"f_h": {"global_feat", "part_logits", "en_logits"}, "f_hp": FEATURES | AGENT, "f_op": FEATURES},
        ),
        ({"mask": "background"}, {"f_hp": FEATURES | {"keep"}, "f_op": FEATURES}),
        ({"fep": "both", "mask": "none"}, {"f_hp": FEATURES, "f_op": FEATURES}),
        ({"fep": "student"}, {"f_hp": FEATURES, "f_op": FEATURES | AGENT}),
        ({"kd": False, "fep": "none", "oavit": False}, {"f_o": {"global_feat"}, "f_op": FEATURES}),
    ],
)
def test_train_outputs_are_typed_with_the_same_fields_whatever_the_switches(overrides, expected) -> None:
    cfg = preset_model("tiny", **{**MICRO, **overrides})
    out = OGFR(cfg, 4, 2).forward_train(make_batch(cfg))
    assert isinstance(out, TrainOutput)
    assert [f.name for f in dataclasses.fields(out)] == ["f_h", "f_o", "f_hp", "f_op"]
    present = _present(out)
    for name, fields in expected.items():
        assert present[name] == fields, name
    assert (out.f_h is None) == (out.f_hp is None) == (not cfg.kd)
    for branch in out.branches().values():
        assert isinstance(branch, BranchOutput)
        assert torch.equal(branch.features, branch.tokens[:, : 1 + cfg.num_part_features])
        if branch.logprob is not None:  # one sampled mask per image by default (E = 1)
            assert branch.logprob.shape == (8, 1) and branch.episode_logits.shape == (8, 1, 4)
            assert torch.equal(branch.episode_logits[:, 0], branch.logits[:, 0].detach())


def test_base_pass_does_not_touch_bn_running_stats(tiny_cfg, tiny_model) -> None:
    neck = tiny_model.teacher.necks.necks[0].bn
    tiny_model.forward_train(make_batch(tiny_cfg))
    assert int(neck.num_batches_tracked) == 1  # the masked pass only


def test_missing_batch_key_error(tiny_cfg, tiny_model) -> None:
    batch = make_batch(tiny_cfg)
    del batch["z_h"]
    with pytest.raises(ValueError, match=r"missing key\(s\) \['z_h'\]"):
        tiny_model.forward_train(batch)


ABLATIONS = [
    {},  # full OGFR
    {"kd": False, "fep": "none", "oavit": False},  # Table 4 row 1: single-branch ViT baseline
    {"kd": False, "fep": "none"},  # + OA-ViT
    {"kd": False, "fep": "student"},  # + FEP-S
    {"fep": "student"},  # + KD, FEP in the student
    {"fep": "both"},
    {"fep": "none"},
    {"oavit": False, "fep": "none"},  # KD without part tokens
    {"mask": "none"},  # Table 5
    {"mask": "random"},
    {"mask": "background"},
    {"decoder": "conventional"},  # Table 6
    {"num_coarse": 1},  # Figure 4
    {"num_coarse": 2},
    {"num_coarse": 8},
    {"patch_embed": "conv"},
]
LOSS_ABLATIONS = [
    {"mse": False},
    {"cos": False},
    {"kd": False},
    {"teacher_id": False},
    {"triplet_margin": 0.3},
]


@pytest.mark.parametrize(
    "overrides", ABLATIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "full"
)
def test_every_ablation_builds_and_trains_a_step(overrides) -> None:
    torch.manual_seed(0)
    cfg = preset_model("tiny", **{**MICRO, **overrides})
    _train_step(cfg, LossConfig())


@pytest.mark.parametrize(
    "overrides", LOSS_ABLATIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items())
)
def test_every_loss_switch_trains_a_step(overrides) -> None:
    torch.manual_seed(0)
    _train_step(preset_model("tiny", **MICRO), LossConfig(**overrides))


def _train_step(cfg: OGFRConfig, loss_cfg: LossConfig) -> None:
    model = OGFR(cfg, num_classes=4, num_cameras=2)
    crit = OGFRCriterion(loss_cfg, cfg)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    batch = make_batch(cfg)
    losses = crit(model.forward_train(batch), batch)
    assert all(torch.isfinite(v) for v in losses.values())
    before = [p.detach().clone() for p in model.backbone.parameters()]
    losses["total"].backward()
    opt.step()
    assert any(not torch.equal(a, p) for a, p in zip(before, model.backbone.parameters(), strict=True))
    crit.end_epoch(0)
    out = model.eval()(batch["img_o"], batch["z_o"], batch["camid"])
    assert out["parts"].shape == (8, cfg.num_part_features, cfg.embed_dim)


def test_erasing_mask_for_figures(tiny_cfg, tiny_model) -> None:
    batch = make_batch(tiny_cfg, b=2)
    m = tiny_model.eval().erasing_mask(batch["img_h"], batch["z_h"], batch["camid"])
    assert m.shape == (2, 8, 4) and ((m >= 0) & (m <= 1)).all()
    plain = OGFR(preset_model("tiny", mask="random"), 4, 2)
    with pytest.raises(ValueError, match="no erasing-mask agent"):
        plain.erasing_mask(batch["img_h"], batch["z_h"], batch["camid"])


def test_teacher_sees_the_holistic_view_and_the_student_the_occluded_one(tiny_cfg) -> None:
    """F_h / F_hp come from (img_h, z_h) only and F_o / F_op from (img_o, z_o) only; the student of
    training is the inference path on the occluded input (eval mode: no sampling, BN running stats)."""
    torch.manual_seed(0)
    model = OGFR(tiny_cfg, num_classes=4, num_cameras=2).eval()
    batch = make_batch(tiny_cfg, b=4)
    batch["z_h"] = torch.randint(0, 2, batch["z_o"].shape, generator=torch.Generator().manual_seed(1))
    assert not torch.equal(batch["z_h"], batch["z_o"])
    with torch.no_grad():
        out = model.forward_train(batch)
        student = model(batch["img_o"], batch["z_o"], batch["camid"])
        teacher_in = model.backbone(batch["img_h"], batch["z_h"], batch["camid"])
        holistic = {**batch, "img_o": batch["img_h"], "z_o": batch["z_h"]}  # both views holistic
        occluded = {**batch, "img_h": batch["img_o"], "z_h": batch["z_o"]}  # both views occluded
        out_h, out_o = model.forward_train(holistic), model.forward_train(occluded)
    assert torch.allclose(out.f_op.global_feat, student["global"], atol=1e-5)
    assert torch.allclose(out.f_op.parts, student["parts"], atol=1e-5)
    assert torch.allclose(out.f_o.global_feat, out_o.f_o.global_feat, atol=1e-5)
    assert torch.allclose(out.f_h.global_feat, teacher_in["global"], atol=1e-5)
    # the teacher's output depends on the holistic view alone, the student's on the occluded view alone
    assert torch.allclose(out.f_hp.tokens, out_h.f_hp.tokens, atol=1e-5)
    assert torch.allclose(out.f_op.tokens, out_o.f_op.tokens, atol=1e-5)
    assert not torch.allclose(out.f_hp.tokens, out_o.f_hp.tokens, atol=1e-3)
    assert not torch.allclose(out.f_op.tokens, out_h.f_op.tokens, atol=1e-3)


def test_post_bn_test_feature_is_the_bnneck_batchnorm_of_the_pre_bn_feature(tiny_cfg) -> None:
    torch.manual_seed(0)
    model = OGFR(tiny_cfg, num_classes=4, num_cameras=2)
    for neck in model.student.necks.necks:  # running statistics as after some training
        neck.bn.running_mean.normal_()
        neck.bn.running_var.uniform_(0.5, 2.0)
        neck.bn.weight.data.uniform_(0.5, 1.5)
    batch = make_batch(tiny_cfg, b=4)
    pre = _infer(model.eval(), batch)
    post_model = OGFR(dataclasses.replace(tiny_cfg, test_feature="post_bn"), 4, 2)
    post_model.load_state_dict(model.state_dict())
    tracked = int(post_model.student.necks.necks[0].bn.num_batches_tracked)
    for mode in (post_model.eval(), post_model.train()):  # the same in both modes, statistics untouched
        post = _infer(mode, batch)
        bn = model.student.necks.necks[0].bn
        expected = (pre["global"] - bn.running_mean) / torch.sqrt(bn.running_var + bn.eps) * bn.weight
        assert torch.allclose(post["global"], expected, atol=1e-5)
        part_bn = model.student.necks.necks[3].bn
        expected = (pre["parts"][:, 2] - part_bn.running_mean) / torch.sqrt(part_bn.running_var + part_bn.eps)
        assert torch.allclose(post["parts"][:, 2], expected * part_bn.weight, atol=1e-5)
    assert int(post_model.student.necks.necks[0].bn.num_batches_tracked) == tracked
    with pytest.raises(ValueError, match="test_feature"):
        dataclasses.replace(tiny_cfg, test_feature="after")

"""Losses against hand-computed values (eq. 9-11, 17-22), the criterion's keys, switches and KD detaching."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch

from ogfr.engine.config import preset_model
from ogfr.losses import (
    LossConfig,
    OGFRCriterion,
    RewardBaseline,
    cosine_loss,
    id_loss,
    kl_loss,
    mask_loss,
    reward,
    triplet_loss,
)
from ogfr.model import OGFR
from ogfr.model.outputs import BranchOutput, TrainOutput, ViewOutput

from .conftest import make_batch

FEATS = torch.tensor([[0.0], [1.0], [3.0], [5.0]], dtype=torch.float64)
PIDS = torch.tensor([0, 0, 1, 1])


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def test_triplet_batch_hard_soft_margin() -> None:
    # hardest positive / negative per anchor: (1, 3), (1, 2), (2, 2), (2, 4)
    expected = (_softplus(-2) + _softplus(-1) + _softplus(0) + _softplus(-2)) / 4
    assert triplet_loss(FEATS, PIDS).item() == pytest.approx(expected, abs=1e-6)


def test_triplet_hinge_margin_and_no_negative() -> None:
    assert triplet_loss(FEATS, PIDS, margin=0.3).item() == pytest.approx(0.3 / 4, abs=1e-6)
    assert triplet_loss(FEATS, torch.zeros(4, dtype=torch.long)).item() == 0.0


def test_kl_hand_computed_and_teacher_detached() -> None:
    teacher = torch.tensor([[0.0, math.log(3.0)]], requires_grad=True)  # p_t = (1/4, 3/4)
    student = torch.zeros(1, 2, requires_grad=True)  # p_s = (1/2, 1/2)
    loss = kl_loss(student, teacher)
    assert loss.item() == pytest.approx(0.25 * math.log(0.5) + 0.75 * math.log(1.5), abs=1e-6)
    loss.backward()
    assert teacher.grad is None and student.grad is not None
    assert kl_loss(teacher.detach(), teacher.detach()).item() == pytest.approx(0.0, abs=1e-7)


def test_cosine_loss_hand_computed() -> None:
    student = torch.tensor([[[1.0, 0.0], [0.0, 2.0]]])  # (B=1, 1+K=2, D=2)
    teacher = torch.tensor([[[1.0, 1.0], [0.0, 5.0]]])
    assert cosine_loss(student, teacher).item() == pytest.approx((1 - 2**-0.5 + 0.0) / 2, abs=1e-6)


def test_id_loss_over_features() -> None:
    logits = torch.tensor([[[0.0, 0.0], [math.log(3.0), 0.0]]])  # (B=1, F=2, P=2)
    expected = (math.log(2.0) + -math.log(0.75)) / 2
    assert id_loss(logits, torch.tensor([0])).item() == pytest.approx(expected, abs=1e-6)


def test_mask_loss_ignores_unknown_pixels() -> None:
    logits = torch.tensor([[[[0.0, math.log(3.0), 5.0]], [[0.0, 0.0, 0.0]]]])  # (1, K+1=2, h=1, w=3)
    labels = torch.tensor([[[1, 0, -1]]])
    assert mask_loss(logits, labels).item() == pytest.approx((math.log(2) - math.log(0.75)) / 2, abs=1e-6)
    assert mask_loss(logits, torch.full((1, 1, 3), -1)).item() == 0.0  # nothing known: no loss, no NaN
    with pytest.raises(ValueError, match=r"part labels of size \(2, 3\) do not match"):
        mask_loss(logits, torch.zeros(1, 2, 3, dtype=torch.long))


def test_reward_eq10() -> None:
    r = reward(torch.tensor([0.6, 0.2, 0.0]), 0.2)
    assert torch.allclose(r, torch.tensor([0.5, 0.0, -0.25]))


def test_reward_baseline_schedule_eq9() -> None:
    base = RewardBaseline(update_every=10)
    base.observe(torch.tensor([0.1, 0.3]))
    assert base.current() == pytest.approx(0.2)  # before the first update: this epoch's running mean
    base.end_epoch(0)
    assert base.value == pytest.approx(0.2) and base.n == 1
    for epoch in range(1, 9):
        base.observe(torch.tensor([0.5]))
        base.end_epoch(epoch)
    assert base.current() == pytest.approx(0.2)  # kept fixed between updates
    base.observe(torch.tensor([0.8]))
    base.end_epoch(9)
    assert base.current() == pytest.approx((0.2 * 1 + 0.8) / 2) and base.n == 2  # eq. 9
    clone = RewardBaseline(10)
    clone.load_state_dict(base.state_dict())
    assert clone.current() == base.current() and clone.n == 2


def test_loss_config_validation() -> None:
    with pytest.raises(ValueError, match="alpha"):
        LossConfig(alpha=-1)
    with pytest.raises(ValueError, match="triplet_margin"):
        LossConfig(triplet_margin=0.0)
    with pytest.raises(ValueError, match="baseline_update_every"):
        LossConfig(baseline_update_every=0)


def test_criterion_total_is_weighted_sum(tiny_cfg, tiny_model) -> None:
    batch = make_batch(tiny_cfg)
    cfg = LossConfig()
    out = OGFRCriterion(cfg, tiny_cfg)(tiny_model.forward_train(batch), batch)
    for key in (
        "mse",
        "cos",
        "kd",
        "en",
        "mask",
        "tr",
        "reinforce",
        "teacher_id",
        "stat_reward_hp",
        "stat_p_b_hp",
    ):
        assert key in out, key
    expected = (
        out["mse"] + cfg.mu1 * out["cos"] + out["kd"] + out["en"] + cfg.mu2 * out["tr"] + out["mask"]
        + cfg.alpha * out["teacher_id"] + out["reinforce"]
    )  # fmt: skip
    assert torch.allclose(out["total"], expected)
    off = OGFRCriterion(
        LossConfig(mse=False, cos=False, kd=False, mask_loss=False, teacher_id=False), tiny_cfg
    )
    out2 = off(tiny_model.forward_train(batch), batch)
    assert not {"mse", "cos", "kd", "mask", "teacher_id"} & set(out2)


def test_kd_terms_do_not_reach_the_teacher(tiny_cfg, tiny_model) -> None:
    batch = make_batch(tiny_cfg)
    out = OGFRCriterion(LossConfig(alpha=0.0), tiny_cfg)(tiny_model.forward_train(batch), batch)
    (out["mse"] + out["cos"] + out["kd"]).backward()
    teacher = [
        n for n, p in tiny_model.teacher.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0
    ]
    assert teacher == []
    assert tiny_model.student.head.decoder.norm.weight.grad.abs().sum() > 0
    assert (
        tiny_model.backbone.blocks[0].attn.qkv.weight.grad.abs().sum() > 0
    )  # the student trains the backbone


def test_criterion_state_round_trip(tiny_cfg, tiny_model) -> None:
    batch = make_batch(tiny_cfg)
    crit = OGFRCriterion(LossConfig(), tiny_cfg)
    crit(tiny_model.forward_train(batch), batch)
    crit.end_epoch(0)
    other = OGFRCriterion(LossConfig(), tiny_cfg)
    other.load_state_dict(crit.state_dict())
    assert other.baselines["hp"].current() == crit.baselines["hp"].current() > 0


def test_single_branch_losses() -> None:
    cfg = preset_model("tiny", kd=False, fep="none", oavit=False)
    model = OGFR(cfg, 4, 2)
    batch = make_batch(cfg)
    out = OGFRCriterion(LossConfig(), cfg)(model.forward_train(batch), batch)
    assert set(k for k in out if not k.startswith("stat_")) == {"en", "tr", "total"}
    assert torch.allclose(out["total"], out["en"] + out["tr"])
    assert not hasattr(model, "teacher")


def test_triplet_under_bf16_autocast_matches_float32() -> None:
    feats = torch.randn(8, 16)
    pid = torch.arange(8) // 2
    with torch.autocast(device_type="cpu", dtype=torch.bfloat16):
        low = triplet_loss(feats, pid)
    assert low.dtype == torch.float32
    assert low.item() == pytest.approx(triplet_loss(feats, pid).item(), abs=1e-6)


def _hand_outputs() -> TrainOutput:
    """A two-branch TrainOutput small enough to compute the losses by hand: B = 2, K = 1, N = 1, D = 2,
    P = 2 identities; no part maps and no agent (no L_mask, no REINFORCE)."""
    t = torch.tensor
    hp_tokens = t([[[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]], [[0.0, 3.0], [1.0, 1.0], [0.0, 0.0]]])
    op_tokens = t([[[1.0, 1.0], [0.0, 1.0], [1.0, 2.0]], [[0.0, 1.0], [1.0, 0.0], [0.0, 0.0]]])

    def branch(tokens: torch.Tensor, logits: torch.Tensor) -> BranchOutput:
        return BranchOutput(tokens=tokens, global_feat=tokens[:, 0], parts=tokens[:, 1:2], logits=logits)

    log3 = math.log(3.0)
    hp = branch(hp_tokens, t([[[log3, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, log3]]]))
    op = branch(op_tokens, t([[[0.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]]))
    view = ViewOutput(global_feat=t([[0.0, 1.0], [1.0, 0.0]]), part_logits=None, en_logits=torch.zeros(2, 2))
    return TrainOutput(f_h=view, f_o=view, f_hp=hp, f_op=op)


def test_eq17_mse_and_eq19_kd_by_hand() -> None:
    cfg = preset_model("tiny")
    out = _hand_outputs()
    batch = {"pid": torch.tensor([0, 1])}
    terms = OGFRCriterion(LossConfig(mask_loss=False), cfg)(out, batch)
    # eq. 17: squared differences (1, 0, 1 | 4, 1, 0 over the 12 elements) = 7, mean over the elements
    assert terms["mse"].item() == pytest.approx(7 / 12)
    # eq. 19: the student's logits are uniform: L_id = log 2 for every feature; the teacher's rows are
    # (3/4, 1/4) twice and uniform twice: KL = (1/4 log(1/2) + 3/4 log(3/2)) for half of the 4 features
    kl_row = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert terms["kd"].item() == pytest.approx(0.3 * math.log(2) + 0.4 * kl_row / 2, abs=1e-6)
    no_kl = OGFRCriterion(LossConfig(mask_loss=False, kl=False), cfg)(out, batch)
    assert no_kl["kd"].item() == pytest.approx(0.3 * math.log(2), abs=1e-6)  # the ID term of eq. 19 stays
    for key in ("mse", "cos", "en", "tr", "teacher_id"):
        assert torch.equal(no_kl[key], terms[key]), key
    assert (terms["total"] - no_kl["total"]).item() == pytest.approx(0.4 * kl_row / 2, abs=1e-6)


def _agent_branch(
    p_masked: list[list[float]], p_base: list[float], logprob: list[list[float]]
) -> BranchOutput:
    """A teacher branch whose true-class (class 0 of 2) probabilities are the given numbers."""

    def logits(p: torch.Tensor) -> torch.Tensor:  # two classes: softmax([log p, log(1 - p)])
        return torch.stack([p.log(), (1 - p).log()], dim=-1)

    pm, pb = torch.tensor(p_masked), torch.tensor(p_base)
    tokens = torch.zeros(len(pb), 3, 2)
    return BranchOutput(
        tokens=tokens,
        global_feat=tokens[:, 0],
        parts=tokens[:, 1:1],
        logits=logits(pm[:, 0])[:, None],
        keep=torch.ones(len(pb), 2, dtype=torch.bool),
        agent_logits=torch.zeros(len(pb), 2),
        logprob=torch.tensor(logprob, requires_grad=True),
        episode_logits=logits(pm),
        base_logits=logits(pb),
    )


@pytest.mark.parametrize(
    "kind, episodes, expected_rewards",
    [
        # running p^b: this epoch's mean no-mask probability (0.2 + 0.6) / 2 = 0.4; r = (p_m - 0.4) / 0.6
        ("running", 1, [[(0.5 - 0.4) / 0.6], [(0.4 - 0.4) / 0.6]]),
        # per image: r = (p_m - p_base) / (1 - p_base)
        ("image", 1, [[(0.5 - 0.2) / 0.8], [(0.4 - 0.6) / 0.4]]),
        # per image, mean over its two masks: image 0 mean 0.4, image 1 mean 0.5
        ("episodes", 2, [[(0.5 - 0.4) / 0.6, (0.3 - 0.4) / 0.6], [(0.4 - 0.5) / 0.5, (0.6 - 0.5) / 0.5]]),
    ],
)
def test_reinforce_term_by_hand_for_each_reward_baseline(kind, episodes, expected_rewards) -> None:
    cfg = preset_model("tiny", agent_episodes=episodes)
    crit = OGFRCriterion(LossConfig(reward_baseline=kind, mse=False, cos=False, kd=False), cfg)
    p_masked = [[0.5, 0.3][:episodes], [0.4, 0.6][:episodes]]
    logprob = [[-1.0, -2.0][:episodes], [-3.0, -4.0][:episodes]]
    branch = _agent_branch(p_masked, [0.2, 0.6], logprob)
    view = ViewOutput(torch.zeros(2, 2), None, torch.zeros(2, 2))
    stats: dict = {}
    loss = crit._reinforce(branch, torch.zeros(2, dtype=torch.long), "hp", stats)
    r = torch.tensor(expected_rewards)
    assert loss.item() == pytest.approx(-(r * torch.tensor(logprob)).mean().item(), abs=1e-6)  # eq. 11
    assert stats["stat_reward_hp"].item() == pytest.approx(r.mean().item(), abs=1e-6)
    loss.backward()  # the gradient of eq. 11 with respect to each log pi is -r / (B E)
    assert torch.allclose(branch.logprob.grad, -r / r.numel(), atol=1e-6)
    out = TrainOutput(
        f_h=view, f_o=view, f_hp=branch, f_op=branch.__class__(**{**vars(branch), "logprob": None})
    )
    assert "reinforce" in crit(out, {"pid": torch.zeros(2, dtype=torch.long)})


def test_episode_baseline_needs_several_masks_and_kind_is_checked() -> None:
    with pytest.raises(ValueError, match="agent_episodes >= 2"):
        OGFRCriterion(LossConfig(reward_baseline="episodes"), preset_model("tiny"))
    with pytest.raises(ValueError, match="reward_baseline"):
        LossConfig(reward_baseline="mean")


def test_centred_cosine_loss_ignores_the_shared_direction() -> None:
    out = _hand_outputs()
    shared = torch.tensor([100.0, -50.0])  # a large vector every feature of both branches carries
    shift = dataclasses.replace
    hp = shift(out.f_hp, global_feat=out.f_hp.global_feat + shared, parts=out.f_hp.parts + shared)
    op = shift(out.f_op, global_feat=out.f_op.global_feat + shared, parts=out.f_op.parts + shared)
    moved = shift(out, f_hp=hp, f_op=op)
    batch = {"pid": torch.tensor([0, 1])}
    cfg = preset_model("tiny")
    plain = OGFRCriterion(LossConfig(mask_loss=False), cfg)
    centred = OGFRCriterion(LossConfig(mask_loss=False, cos_center=True), cfg)
    assert plain(moved, batch)["cos"].item() < 1e-3  # the shared vector hides every difference
    assert centred(moved, batch)["cos"].item() == pytest.approx(centred(out, batch)["cos"].item(), abs=1e-5)
    f_op, f_hp = out.f_op.features, out.f_hp.features
    by_hand = cosine_loss(f_op - f_op.mean(0), f_hp - f_hp.mean(0))
    assert centred(out, batch)["cos"].item() == pytest.approx(by_hand.item(), abs=1e-6)

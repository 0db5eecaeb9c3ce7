"""The agent's training diagnostics against hand-computed values."""

from __future__ import annotations

import math

import pytest
import torch

from ogfr.engine.diagnostics import agent_step_stats
from ogfr.model.outputs import BranchOutput, TrainOutput, ViewOutput


def _output(agent_logits: torch.Tensor | None) -> TrainOutput:
    """Two images of four patches; the teacher's agent has ``agent_logits``, the student none."""
    tokens = torch.zeros(2, 1 + 4, 3)
    features = dict(
        tokens=tokens, global_feat=tokens[:, 0], parts=tokens[:, 1:1], logits=torch.zeros(2, 1, 5)
    )
    view = ViewOutput(torch.zeros(2, 3), None, None)
    teacher = BranchOutput(**features, agent_logits=agent_logits)
    return TrainOutput(f_h=view, f_o=view, f_hp=teacher, f_op=BranchOutput(**features))


def test_keep_probability_spread_entropy_and_batch_auc() -> None:
    logits = torch.tensor([[0.0, 0.0, 0.0, 0.0], [math.log(3.0), -math.log(3.0), 0.0, 0.0]])
    # m: image 0 = 1/2 everywhere, image 1 = 3/4, 1/4, 1/2, 1/2
    scene = torch.tensor([[[4, 0, 4, 0]], [[4, 9, 0, 4]]])  # body / noise per 1 x 1 patch
    stats = agent_step_stats(_output(logits), {"scene_h": scene}, grid=(1, 4))
    assert set(stats) == {"stat_m_mean_hp", "stat_m_std_hp", "stat_entropy_hp", "stat_noise_auc_hp"}
    assert stats["stat_m_mean_hp"] == pytest.approx(0.5)
    std1 = torch.tensor([0.75, 0.25, 0.5, 0.5]).std().item()  # unbiased std across the patches
    assert stats["stat_m_std_hp"] == pytest.approx((0.0 + std1) / 2)
    h = lambda p: -(p * math.log(p) + (1 - p) * math.log(1 - p))  # noqa: E731
    assert stats["stat_entropy_hp"] == pytest.approx((4 * h(0.5) + 2 * h(0.75) + 2 * h(0.5)) / 8)
    # erase score 1 - m: noise {1/2, 1/2, 3/4, 1/2} vs body {1/2, 1/2, 1/4, 1/2}
    pos, neg = torch.tensor([0.5, 0.5, 0.75, 0.5]), torch.tensor([0.5, 0.5, 0.25, 0.5])
    pairs = ((pos[:, None] > neg) + 0.5 * (pos[:, None] == neg)).float().mean().item()
    assert stats["stat_noise_auc_hp"] == pytest.approx(pairs)


def test_no_agent_no_statistics_and_no_scene_no_auc() -> None:
    assert agent_step_stats(_output(None), {}, grid=(1, 4)) == {}
    stats = agent_step_stats(_output(torch.zeros(2, 4)), {}, grid=(1, 4))
    assert "stat_noise_auc_hp" not in stats and stats["stat_m_std_hp"] == 0.0

"""FEP: MHSA_fix (eq. 13-16), replacement of erased patches, the agent (eq. 7-8) and its REINFORCE gradient."""

from __future__ import annotations

import pytest
import torch

from ogfr.engine.config import preset_model
from ogfr.losses import LossConfig, OGFRCriterion
from ogfr.model import OGFR
from ogfr.model.fep import FEP, FixLayer, MHSAFix, bernoulli_log_prob

from .conftest import make_batch


def test_mhsa_fix_fixed_tokens_ignore_patches() -> None:
    torch.manual_seed(0)
    cfg = preset_model("tiny")
    num_fixed = 1 + cfg.num_parts
    for layer in (MHSAFix(64, 2), FixLayer(cfg)):
        args = (num_fixed,)
        x = torch.randn(2, num_fixed + 12, 64)
        y = x.clone()
        y[:, num_fixed:] += torch.randn(2, 12, 64)  # perturb the patch tokens only
        out_x, out_y = layer(x, *args), layer(y, *args)
        assert torch.allclose(out_x[:, :num_fixed], out_y[:, :num_fixed], atol=1e-6)
        assert not torch.allclose(out_x[:, num_fixed:], out_y[:, num_fixed:], atol=1e-3)
        z = x.clone()
        z[:, 0] += torch.randn(2, 64)  # patches attend to the fixed tokens
        assert not torch.allclose(layer(z, *args)[:, num_fixed:], out_x[:, num_fixed:], atol=1e-4)


def test_mhsa_fix_fixed_output_is_projected_value() -> None:
    torch.manual_seed(0)
    attn = MHSAFix(8, 2)
    x = torch.randn(1, 5, 8)
    v = x @ attn.qkv.weight[16:].t() + attn.qkv.bias[16:]  # value projection W_v x
    expected = attn.proj(
        v[:, :2]
    )  # eq. 15: fixed tokens output their own values (then the shared projection)
    assert torch.allclose(attn(x, 2)[:, :2], expected, atol=1e-6)


def test_erased_patches_are_replaced_before_the_decoder() -> None:
    torch.manual_seed(0)
    cfg = preset_model("tiny")
    fep = FEP(cfg).eval()
    n, num_fixed = cfg.num_patches, 1 + cfg.num_parts
    tokens = torch.randn(2, num_fixed + n, 64)
    pos = torch.randn(1, n, 64)
    keep = torch.rand(2, n) < 0.5
    seen = {}

    def hook(module, args):
        seen["x"] = args[0]

    fep.decoder.register_forward_pre_hook(hook)
    fep(tokens, keep, pos)
    x = seen["x"]
    assert torch.equal(x[:, :num_fixed], tokens[:, :num_fixed])
    patches = x[:, num_fixed:]
    replaced = (fep.replace_token + pos).expand(2, -1, -1)
    assert torch.equal(patches[keep], tokens[:, num_fixed:][keep])
    assert torch.equal(patches[~keep], replaced[~keep])
    assert (~keep).any() and keep.any()


def test_background_mask_uses_labels_then_prediction() -> None:
    cfg = preset_model("tiny", mask="background")
    fep = FEP(cfg)
    state = torch.zeros(1, 4, 9)
    state[0, :, 0] = 1.0  # every patch looks most like the background
    labels = torch.tensor([[0, 3, -1, 5]])  # -1: unknown -> the prediction (background) decides
    assert fep.decide(state, labels).keep.tolist() == [[False, True, False, True]]
    assert fep.decide(state, None).keep.tolist() == [[False] * 4]


def test_agent_gradient_only_from_reinforce(tiny_cfg) -> None:
    torch.manual_seed(0)
    model = OGFR(tiny_cfg, num_classes=4, num_cameras=2)
    batch = make_batch(tiny_cfg)
    crit = OGFRCriterion(LossConfig(), tiny_cfg)
    losses = crit(model.forward_train(batch), batch)
    agent = model.teacher.fep.agent
    rest = sum(v for k, v in losses.items() if k not in ("total", "reinforce") and not k.startswith("stat_"))
    rest.backward(retain_graph=True)
    assert all(p.grad is None for p in agent.parameters())
    model.zero_grad(set_to_none=True)
    losses["reinforce"].backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in agent.parameters())
    others = [
        n
        for n, p in model.named_parameters()
        if p.grad is not None and not n.startswith("teacher.head.agent")
    ]
    assert others == []  # the REINFORCE term trains the agent only (its state I is detached)


def test_positive_reward_raises_log_prob_of_taken_actions() -> None:
    torch.manual_seed(0)
    cfg = preset_model("tiny")
    fep = FEP(cfg).train()
    state = torch.randn(4, cfg.num_patches, cfg.num_parts + 1)
    out = fep.decide(state, None)
    actions = out.keep.float()
    assert torch.equal(out.actions[:, 0], actions)
    reward = torch.ones(4)
    loss = -(reward * out.logprob[:, 0]).mean()  # eq. 11 as a loss
    opt = torch.optim.SGD(fep.agent.parameters(), lr=0.01)
    loss.backward()
    opt.step()
    after = bernoulli_log_prob(fep.agent(state), actions)
    assert (after > out.logprob[:, 0].detach()).all()


def test_agent_eval_is_deterministic_threshold() -> None:
    cfg = preset_model("tiny")
    fep = FEP(cfg).eval()
    state = torch.randn(2, cfg.num_patches, cfg.num_parts + 1)
    out = fep.decide(state, None)
    assert out.logprob is None and out.actions is None
    assert torch.equal(out.keep, torch.sigmoid(fep.agent(state)) > 0.5)


def test_bernoulli_log_prob_hand_computed() -> None:
    logits = torch.tensor([[0.0, 2.0]])
    actions = torch.tensor([[1.0, 0.0]])
    expected = torch.log(torch.tensor(0.5)) + torch.log(1 - torch.sigmoid(torch.tensor(2.0)))
    assert torch.allclose(bernoulli_log_prob(logits, actions), expected.reshape(1))


def test_agent_bias_and_several_sampled_masks() -> None:
    torch.manual_seed(0)
    cfg = preset_model("tiny", agent_bias=-1.0, agent_episodes=3)
    model = OGFR(cfg, num_classes=4, num_cameras=2)
    assert model.teacher.fep.agent.fc.bias.item() == -1.0  # m starts near sigmoid(-1) = 0.27
    out = model.forward_train(make_batch(cfg)).f_hp
    assert out.logprob.shape == (8, 3) and out.episode_logits.shape == (8, 3, 4)
    assert torch.equal(out.episode_logits[:, 0], out.logits[:, 0].detach())  # episode 0 is the mask used
    assert not torch.equal(out.episode_logits[:, 1], out.episode_logits[:, 2])  # other masks, other scores
    assert 0.5 < 1 - out.keep.float().mean() < 0.95  # with m ~ 0.27 most patches are erased
    with pytest.raises(ValueError, match="agent_episodes"):
        preset_model("tiny", agent_episodes=0)


def test_an_agent_that_has_not_started_erases_nothing(tiny_cfg, tiny_model) -> None:
    batch = make_batch(tiny_cfg)
    idle = tiny_model.forward_train(batch, agent=False).f_hp
    assert idle.keep is None and idle.logprob is None and idle.base_logits is None
    background = OGFR(preset_model("tiny", mask="background"), 4, 2)
    assert background.forward_train(batch, agent=False).f_hp.keep is not None  # only the agent waits

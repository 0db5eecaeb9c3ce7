"""The REINFORCE loop of FEP can learn: a controlled setting where erasing some patches provably helps.

Each image has N patch tokens: most carry its own identity's cue, a few ("distractors") carry another
identity's cue. The teacher's decoder and classifier are set by hand so that the global token reads the
mean of the patch tokens and the classifier reads the identity cues: erasing a distractor patch (replacing
it by the zero replacement token) raises the true-class probability, erasing an own-identity patch lowers
it. The state I (eq. 6) is the cosine of each patch to trainable part tokens, so that distractors look like
background. Only the agent (G, b) is trained, through the real `OGFR._run_branch` (FEP decision, p^m and
p^b passes), `Agent` and `OGFRCriterion` (reward, baseline, eq. 11); the part tokens are in the optimizer
too, and the REINFORCE term must leave them alone (the state is detached).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from ogfr.engine.config import preset_model
from ogfr.losses import LossConfig, OGFRCriterion
from ogfr.metrics.erasing import roc_auc
from ogfr.model import OGFR
from ogfr.model.oa_vit import semantic_correlation
from ogfr.model.outputs import TrainOutput, ViewOutput

NUM_IDS, NUM_PATCHES, DISTRACTORS, DIM = 4, 32, 8, 32
STEPS, BATCH = 80, 16


def _hand_set_teacher(model: OGFR) -> None:
    """Decoder: identity first layer, uniform attention in the second, no MLPs, so the global token is
    f^g + mean over tokens of LN(token); classifier: identity cue c -> logit of class c (BN as identity)."""
    fep = model.teacher.fep
    dec = fep.decoder
    with torch.no_grad():
        for p in fep.parameters():
            p.zero_()
        for ln in (dec.fix.norm1, dec.fix.norm2, dec.blocks[0].norm1, dec.blocks[0].norm2, dec.norm):
            ln.weight.fill_(1.0)
        attn = dec.blocks[0].attn
        attn.qkv.weight[2 * DIM :] = torch.eye(DIM)  # values = LN(x); q = k = 0: uniform attention
        attn.proj.weight.copy_(torch.eye(DIM))
        fep.agent.fc.bias.fill_(2.0)  # the default start: keep ~88 % of the patches
        nn.init.normal_(fep.agent.fc.weight, std=0.02)
        neck = model.teacher.necks.necks[0]
        neck.classifier.weight.zero_()
        neck.classifier.weight[:, :NUM_IDS] = 0.5 * torch.eye(NUM_IDS)
    model.teacher.necks.eval()  # running statistics 0 / 1: the BN is the identity


def _episode(model: OGFR, part_tokens: nn.Parameter, g: torch.Generator):
    """A batch: patch tokens, the state I from the part tokens, and which patches are distractors."""
    pid = torch.randint(0, NUM_IDS, (BATCH,), generator=g)
    # images differ in difficulty, independently of what the state shows: half of them have all their
    # distractors from one other identity (a strong confusion), the others from any other identity
    shift = torch.randint(1, NUM_IDS, (BATCH, NUM_PATCHES), generator=g)
    one_other = torch.rand(BATCH, generator=g) < 0.5
    other = (pid[:, None] + torch.where(one_other[:, None], shift[:, :1], shift)) % NUM_IDS  # (B, N)
    distractor = torch.zeros(BATCH, NUM_PATCHES, dtype=torch.bool)
    for i in range(BATCH):
        distractor[i, torch.randperm(NUM_PATCHES, generator=g)[:DISTRACTORS]] = True
    cue = torch.where(distractor, other, pid[:, None])  # (B, N) identity shown by each patch
    patches = nn.functional.one_hot(cue, DIM).float()  # (B, N, D)
    # what the state sees: distractors resemble the background part token (0), the person the torso (4)
    looks = torch.where(distractor, 0, 4)
    appearance = nn.functional.one_hot(looks, DIM).float() + 0.5 * torch.randn(
        BATCH, NUM_PATCHES, DIM, generator=g
    )
    state = semantic_correlation(appearance, part_tokens.expand(BATCH, -1, -1))  # eq. 6, (B, N, K+1)
    feats = {
        "global": torch.zeros(BATCH, DIM),
        "parts": torch.zeros(BATCH, model.cfg.num_parts + 1, DIM),
        "patches": patches,
    }
    return feats, state, pid, distractor


def _train_agent(loss_cfg: LossConfig, episodes: int = 1, sabotage=None) -> tuple[float, float, bool]:
    """(noise AUC before, after, whether the part tokens moved) of the teacher's agent."""
    torch.manual_seed(0)
    cfg = preset_model(
        "tiny", embed_dim=DIM, image_size=(64, 32), agent_episodes=episodes
    )  # 8 x 4 = 32 patches
    model = OGFR(cfg, NUM_IDS, 1)
    _hand_set_teacher(model)
    with torch.no_grad():
        model.backbone.patch_pos.zero_()
    part_tokens = nn.Parameter(torch.eye(cfg.num_parts + 1, DIM)[None])  # the "backbone's" part features
    start = part_tokens.detach().clone()
    agent = model.teacher.fep.agent
    opt = torch.optim.Adam([*agent.parameters(), part_tokens], lr=0.1)
    crit = OGFRCriterion(loss_cfg, cfg)
    g = torch.Generator().manual_seed(1)
    if sabotage is not None:
        sabotage(model, crit)
    model.teacher.fep.train()

    def auc() -> float:
        feats, state, _, distractor = _episode(model, part_tokens, g)
        with torch.no_grad():
            erase = -agent(state)  # 1 - m is monotone in -logit
        return roc_auc(erase, distractor)

    before = auc()
    for step in range(STEPS):
        feats, state, pid, _ = _episode(model, part_tokens, g)
        branch = model._run_branch(model.teacher, feats, state, None)
        view = ViewOutput(torch.zeros(BATCH, DIM), None, torch.zeros(BATCH, NUM_IDS))
        out = TrainOutput(f_h=view, f_o=view, f_hp=branch, f_op=branch)
        losses = crit(out, {"pid": pid})
        opt.zero_grad(set_to_none=True)
        losses["reinforce"].backward()
        opt.step()
        if step % 10 == 9:
            crit.end_epoch(step // 10)  # a p^b update every 10 steps (eq. 9 with baseline_update_every=1)
    return before, auc(), not torch.equal(part_tokens.detach(), start)


@pytest.mark.parametrize("reward_baseline, episodes", [("running", 1), ("image", 1), ("episodes", 4)])
def test_the_agent_learns_to_erase_the_patches_that_hurt(reward_baseline, episodes) -> None:
    loss_cfg = LossConfig(reward_baseline=reward_baseline, baseline_update_every=1)
    before, after, moved = _train_agent(loss_cfg, episodes)
    assert before < 0.65, before  # nothing is known at the start
    assert after >= 0.9, (before, after)  # the issue asks 0.8; the loop reaches 0.97-0.98 here
    assert not moved  # REINFORCE trains the agent only: the state I is detached


def test_erasing_distractors_raises_the_true_class_probability() -> None:
    """The premise of the setting, checked on the hand-set teacher without any learning."""
    torch.manual_seed(0)
    cfg = preset_model("tiny", embed_dim=DIM, image_size=(64, 32))
    model = OGFR(cfg, NUM_IDS, 1)
    _hand_set_teacher(model)
    with torch.no_grad():
        model.backbone.patch_pos.zero_()
    part_tokens = torch.eye(cfg.num_parts + 1, DIM)[None]
    feats, _, pid, distractor = _episode(model, part_tokens, torch.Generator().manual_seed(0))
    tokens = model._branch_tokens(feats)
    pos = model.backbone.patch_pos

    def p_true(keep: torch.Tensor | None) -> torch.Tensor:
        with torch.no_grad():
            out = model.teacher.encode(tokens, keep, pos)
            return (
                model.teacher.logits(out, model.num_parts)[:, 0]
                .softmax(-1)
                .gather(1, pid[:, None])
                .squeeze(1)
            )

    base = p_true(None)
    assert base.std() > 0.005  # images differ in difficulty
    gain = p_true(~distractor) - base
    assert (gain > 0).all() and gain.mean() > 0.05  # distractors erased: every image gains
    one_body = torch.ones_like(distractor)
    one_body[torch.arange(BATCH), (~distractor).float().argmax(1)] = False
    assert (p_true(one_body) < base).all()  # one own-identity patch erased: every image loses

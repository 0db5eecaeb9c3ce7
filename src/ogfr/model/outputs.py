"""Typed outputs of `OGFR.forward_train`, named as the paper names the features (§3.1.3, Fig. 2).

One record per backbone view (F_h holistic, F_o occluded) and one per branch head (F_hp teacher on F_h,
F_op student on F_o). Every field exists whatever the ablation switches; what a configuration does not
compute is ``None`` (the plain ViT has no part maps, a branch without the agent has no ``logprob``,
the single-branch model has no ``f_h`` / ``f_hp``).

The records are registered as pytree nodes so that DistributedDataParallel (which flattens a module's
output to route gradients of unused outputs) and ``torch.compile`` see the tensors inside them.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils import _pytree as pytree

__all__ = ["BranchOutput", "TrainOutput", "ViewOutput"]


@dataclass(frozen=True)
class ViewOutput:
    """The shared OA-ViT on one view: F_h (holistic) or F_o (occluded)."""

    global_feat: torch.Tensor  # (B, D) f^g
    part_logits: torch.Tensor | None  # (B, K+1, h, w) I~ / T before the softmax (eq. 21); None: plain ViT
    en_logits: torch.Tensor | None  # (B, P) identity logits of f^g for L_en (eq. 20); None without KD


@dataclass(frozen=True)
class BranchOutput:
    """A branch head on one view: F_hp (teacher, purified holistic) or F_op (student, occluded).

    ``keep`` is the erasing mask the head was run with (FEP with a mask); the agent fields are set when
    the agent acted in training: ``logprob`` and ``episode_logits`` hold one column per sampled mask
    (E = ``OGFRConfig.agent_episodes``, the B episodes of eq. 11); the first mask is the one in ``keep``.
    """

    tokens: torch.Tensor  # (B, 1+K+N, D) [f^g; f^1..f^K; f^p] after the head
    global_feat: torch.Tensor  # (B, D) f^g
    parts: torch.Tensor  # (B, K, D) f^1..f^K
    logits: torch.Tensor  # (B, 1+K, P) BNNeck identity logits, global first
    keep: torch.Tensor | None = None  # (B, N) bool, True = patch kept; None: nothing erased
    agent_logits: torch.Tensor | None = None  # (B, N) logit of the keep probability m (eq. 7)
    logprob: torch.Tensor | None = None  # (B, E) sum_t log pi(a_t | s_t) of each sampled mask (eq. 11)
    episode_logits: torch.Tensor | None = None  # (B, E, P) global logits under each mask, no gradient: p^m
    base_logits: torch.Tensor | None = None  # (B, P) global logits without the mask, no gradient (eq. 9)

    @property
    def features(self) -> torch.Tensor:
        """Global and part features as (B, 1+K, D)."""
        return torch.cat([self.global_feat.unsqueeze(1), self.parts], dim=1)


@dataclass(frozen=True)
class TrainOutput:
    """Everything the losses read: both views of the backbone and both branches (kd off: F_o, F_op only)."""

    f_h: ViewOutput | None  # F_h, the holistic view (None without KD)
    f_o: ViewOutput  # F_o, the occluded view
    f_hp: BranchOutput | None  # F_hp, the teacher branch (None without KD)
    f_op: BranchOutput  # F_op, the student branch

    def branches(self) -> dict[str, BranchOutput]:
        """The branches present, by the prefix of their statistics: ``hp`` (teacher), ``op`` (student)."""
        return {name: b for name, b in (("hp", self.f_hp), ("op", self.f_op)) if b is not None}


for _cls in (ViewOutput, BranchOutput, TrainOutput):
    pytree.register_dataclass(_cls)

"""What the erasing agent does during training, for metrics.jsonl, curves.png and the demo report.

Per step (`agent_step_stats`, averaged over the epoch): the mean keep probability m, its spread across the
patches of an image (std) and its Bernoulli entropy, and, where the batch carries ground-truth scene labels
(`ogfr.data.truth`), the noise AUC of the erase score 1 - m on the batch. Per epoch: the agent's weights G
and bias b (eq. 7, `agent_weights`) and the noise AUC on a fixed subset of holistic images in eval mode
(`HolisticProbe`). Reward, p^m and p^b come from `ogfr.losses.OGFRCriterion`. Every key starts with
``stat_`` and ends with the branch (``hp`` teacher, ``op`` student), except ``stat_noise_auc_holistic``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ogfr.metrics.erasing import noise_auc, patch_truth
from ogfr.model.outputs import TrainOutput

__all__ = ["PROBE_IMAGES", "HolisticProbe", "agent_step_stats", "agent_weights"]

PROBE_IMAGES = 128  # holistic test images the agent is scored on after every epoch

_VIEW = {
    "hp": "scene_h",
    "op": "scene_o",
}  # the teacher's agent sees the holistic view, the student's the occluded


@torch.no_grad()
def agent_step_stats(
    out: TrainOutput, batch: dict[str, torch.Tensor], grid: tuple[int, int]
) -> dict[str, float]:
    """Statistics of every agent that acted in this training step (see the module docstring)."""
    stats: dict[str, float] = {}
    for b, branch in out.branches().items():
        if branch.agent_logits is None:
            continue
        logits = branch.agent_logits.float()
        m = torch.sigmoid(logits)  # eq. 7, (B, N)
        entropy = -(
            m * torch.nn.functional.logsigmoid(logits) + (1 - m) * torch.nn.functional.logsigmoid(-logits)
        )
        stats[f"stat_m_mean_{b}"] = float(m.mean())
        stats[f"stat_m_std_{b}"] = float(m.std(dim=1).mean())  # spread across patches, mean over images
        stats[f"stat_entropy_{b}"] = float(entropy.mean())  # nats per patch (log 2 = 0.69 at m = 0.5)
        scene = batch.get(_VIEW[b])
        if scene is not None:
            auc = noise_auc(-logits, patch_truth(scene, grid))  # erase score 1 - m, monotone in -logit
            if not math.isnan(auc):
                stats[f"stat_noise_auc_{b}"] = auc
    return stats


def agent_weights(model: nn.Module) -> dict[str, Any]:
    """G (a list of K+1 numbers, background first) and b of each branch's agent: m = sigmoid(I G^T + b)."""
    out: dict[str, Any] = {}
    for b, name in (("hp", "teacher"), ("op", "student")):
        branch = getattr(model, name, None)
        fep = None if branch is None else branch.fep
        if fep is not None and fep.agent is not None:
            out[f"stat_agent_g_{b}"] = [round(v, 6) for v in fep.agent.fc.weight.detach().flatten().tolist()]
            out[f"stat_agent_bias_{b}"] = float(fep.agent.fc.bias.detach())
    return out


class HolisticProbe:
    """A fixed set of holistic images with their scene labels, on which the agent's mask is scored."""

    def __init__(
        self, images: torch.Tensor, z: torch.Tensor, camid: torch.Tensor, scene: torch.Tensor, batch: int = 64
    ) -> None:
        self.images, self.z, self.camid, self.scene, self.batch = images, z, camid, scene, batch

    @classmethod
    def from_items(cls, items: Sequence[dict[str, Any]], z: torch.Tensor) -> HolisticProbe:
        """From `ReIDDataset` items (``img``, ``camid``, ``scene``) and their occlusion codes z (N, C)."""
        camid = torch.tensor([it["camid"] for it in items])
        images = torch.stack([it["img"] for it in items])
        return cls(images, z, camid, torch.stack([it["scene"] for it in items]))

    def __len__(self) -> int:
        return len(self.images)

    @torch.no_grad()
    def noise_auc(self, model: nn.Module, device: torch.device) -> float:
        """Noise AUC of 1 - m (the agent's keep probability in eval mode) on the probe images."""
        was_training = model.training
        model.eval()
        try:
            m = torch.cat(
                [
                    model.erasing_mask(
                        self.images[i : i + self.batch].to(device),
                        self.z[i : i + self.batch].to(device),
                        self.camid[i : i + self.batch].to(device),
                    )
                    .flatten(1)
                    .cpu()
                    for i in range(0, len(self), self.batch)
                ]
            )
        finally:
            model.train(was_training)
        grid = model.backbone.grid_size
        return noise_auc(1.0 - m, patch_truth(self.scene, grid))

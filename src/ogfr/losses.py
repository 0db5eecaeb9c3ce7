"""OGFR losses (eq. 17-23) and the REINFORCE term of the erasing-mask agent (eq. 9-11).

`OGFRCriterion(loss_cfg, model_cfg)(outputs, batch)` takes the `TrainOutput` of `OGFR.forward_train` and
returns every term by name plus ``total``; scalar statistics for logging have keys starting with ``stat_`` (not summed).

The ``reinforce`` term is a surrogate: its gradient is the policy gradient of eq. 11, its value is not a
quantity that should fall (it grows with the reward). To watch training, use ``total - reinforce``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F

from ogfr.model.config import OGFRConfig
from ogfr.model.outputs import BranchOutput, TrainOutput

BRANCHES = ("hp", "op")  # teacher (purified holistic) and student (occluded) feature prefixes
RewardBaselineKind = Literal["running", "image", "episodes"]


@dataclass
class LossConfig:
    """Weights and switches of eq. 17-23 (Table 8) and of the REINFORCE term."""

    alpha: float = 0.3  # weight of the ID term inside L_kd (eq. 19)
    beta: float = 0.4  # weight of the KL term inside L_kd (eq. 19)
    mu1: float = 0.5  # weight of L_cos in eq. 23
    mu2: float = 0.5  # weight of L_tr in eq. 23
    label_smoothing: float = 0.0  # of every identity cross-entropy
    triplet_margin: float | None = None  # None: soft margin log(1 + exp(d_p - d_n)); else hinge margin
    kd_temperature: float = 1.0  # T of the KL term (scaled by T^2)
    mse: bool = True  # L_mse (eq. 17)
    cos: bool = True  # L_cos (eq. 18)
    cos_center: bool = False  # L_cos of features minus their batch means (docs/model.md, shared direction)
    kd: bool = True  # L_kd (eq. 19): alpha L_id(f_op) + beta KL
    kl: bool = True  # the KL term of L_kd alone (Table 8's "KD" column); L_kd's ID term stays
    mask_loss: bool = True  # L_mask (eq. 21), only with OA-ViT
    teacher_id: bool = True  # ID loss on the teacher's purified features F_hp (see docs/model.md, (1))
    teacher_id_weight: float | None = None  # its weight; None = alpha (as the student's ID term in L_kd)
    reinforce_weight: float = 1.0  # weight of the policy-gradient term (eq. 11)
    baseline_update_every: int = 10  # epochs between updates of p^b (eq. 9)
    # p^b of the reward (eq. 10): "running" = eq. 9's running average of the no-mask probability;
    # "image" = the same image's no-mask probability; "episodes" = the mean p^m of the image's sampled
    # masks (needs OGFRConfig.agent_episodes >= 2). See docs/model.md, "Readings of the reward".
    reward_baseline: RewardBaselineKind = "running"

    def __post_init__(self) -> None:
        for name in ("alpha", "beta", "mu1", "mu2", "reinforce_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"LossConfig.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(f"LossConfig.label_smoothing must be in [0, 1), got {self.label_smoothing}")
        if self.triplet_margin is not None and self.triplet_margin <= 0:
            raise ValueError(
                f"LossConfig.triplet_margin must be > 0 or None (soft margin), got {self.triplet_margin}"
            )
        if self.kd_temperature <= 0:
            raise ValueError(f"LossConfig.kd_temperature must be > 0, got {self.kd_temperature}")
        if self.teacher_id_weight is not None and self.teacher_id_weight < 0:
            raise ValueError(f"LossConfig.teacher_id_weight must be >= 0, got {self.teacher_id_weight}")
        if self.reward_baseline not in ("running", "image", "episodes"):
            raise ValueError(
                f"LossConfig.reward_baseline must be 'running', 'image' or 'episodes', got {self.reward_baseline!r}"
            )
        if self.baseline_update_every < 1:
            raise ValueError(
                f"LossConfig.baseline_update_every must be >= 1, got {self.baseline_update_every}"
            )


# --- loss functions ---
def pairwise_distance(x: torch.Tensor) -> torch.Tensor:
    """Euclidean distances (B, B) of features (B, D), sqrt clamped at 1e-12 as TransReID (float32, no autocast)."""
    with torch.autocast(device_type=x.device.type, enabled=False):
        x = x.float()
        sq = (x * x).sum(dim=1)
        d2 = sq[:, None] + sq[None, :] - 2.0 * (x @ x.t())
        return d2.clamp(min=1e-12).sqrt()


def triplet_loss(feat: torch.Tensor, pid: torch.Tensor, margin: float | None = None) -> torch.Tensor:
    """Batch-hard triplet loss (eq. 22's L_tri): hardest positive and negative per anchor.

    margin None: soft margin log(1 + exp(d_p - d_n)); else max(0, d_p - d_n + margin). Anchors with no
    negative in the batch are skipped (0 when none has one).
    """
    dist = pairwise_distance(feat)
    same = pid[:, None] == pid[None, :]
    d_p = dist.masked_fill(~same, float("-inf")).amax(dim=1)
    d_n = dist.masked_fill(same, float("inf")).amin(dim=1)
    valid = torch.isfinite(d_n)
    diff = (d_p - d_n)[valid]
    if diff.numel() == 0:
        return feat.sum() * 0.0
    losses = F.softplus(diff) if margin is None else F.relu(diff + margin)
    return losses.mean()


def multi_triplet(feats: torch.Tensor, pid: torch.Tensor, margin: float | None) -> torch.Tensor:
    """L_tri(f^g) + 1/K sum_i L_tri(f^i) for features (B, 1+K, D) (eq. 22)."""
    loss = triplet_loss(feats[:, 0], pid, margin)
    k = feats.shape[1] - 1
    if k:
        loss = loss + sum(triplet_loss(feats[:, i], pid, margin) for i in range(1, k + 1)) / k
    return loss


def id_loss(logits: torch.Tensor, pid: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Cross-entropy of logits (B, P) or (B, F, P) (mean over features) against pid (B,)."""
    if logits.ndim == 3:
        target = pid[:, None].expand(-1, logits.shape[1])  # (B, F)
        return F.cross_entropy(logits.transpose(1, 2), target, label_smoothing=label_smoothing)
    return F.cross_entropy(logits, pid, label_smoothing=label_smoothing)


def kl_loss(
    student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """KL(p_teacher || p_student) per sample and feature, averaged, times T^2 (teacher detached)."""
    t = F.log_softmax(teacher_logits.detach() / temperature, dim=-1)
    s = F.log_softmax(student_logits / temperature, dim=-1)
    kl = (t.exp() * (t - s)).sum(dim=-1)  # (B,) or (B, F)
    return kl.mean() * temperature**2


def cosine_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """1/(K+1) sum_i (1 - cos(f_hp^i, f_op^i)) over features (B, 1+K, D), teacher detached (eq. 18)."""
    return (1.0 - F.cosine_similarity(student.float(), teacher.detach().float(), dim=-1)).mean()


def mask_loss(part_logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of I~ (B, K+1, h, w) against part labels (B, h, w), -1 ignored, mean per pixel (eq. 21)."""
    if tuple(labels.shape[-2:]) != tuple(part_logits.shape[-2:]):
        raise ValueError(
            f"part labels of size {tuple(labels.shape[-2:])} do not match the model's label_size "
            f"{tuple(part_logits.shape[-2:])}"
        )
    total = F.cross_entropy(part_logits, labels.long(), ignore_index=-1, reduction="sum")
    return total / (labels >= 0).sum().clamp(min=1)


def true_class_prob(logits: torch.Tensor, pid: torch.Tensor) -> torch.Tensor:
    """Softmax probability of the true identity, no gradient (p^m and p^b of eq. 9-10): logits (B, ..., P)
    and pid (B,) give (B, ...)."""
    probs = logits.detach().softmax(dim=-1)
    index = pid.view(-1, *([1] * (probs.ndim - 1))).expand(*probs.shape[:-1], 1)
    return probs.gather(-1, index).squeeze(-1)


def reward(p_m: torch.Tensor, p_b: torch.Tensor | float) -> torch.Tensor:
    """r = (p^m - p^b) / (1 - p^b) (eq. 10); the denominator is clamped at 1e-3."""
    p_b = torch.as_tensor(p_b, dtype=p_m.dtype, device=p_m.device)
    return (p_m - p_b) / (1.0 - p_b).clamp(min=1e-3)


class RewardBaseline:
    """p^b of one agent: the no-mask true-class probability averaged over an epoch, folded into a running
    average every `update_every` epochs (eq. 9). Until the first update it is the current epoch's mean."""

    def __init__(self, update_every: int = 10) -> None:
        self.update_every = update_every
        self.value: float | None = None
        self.n = 0  # updates so far
        self.epoch_sum = 0.0
        self.epoch_count = 0

    def observe(self, p: torch.Tensor) -> None:
        self.epoch_sum += float(p.sum())
        self.epoch_count += p.numel()

    def current(self) -> float:
        if self.value is not None:
            return self.value
        return self.epoch_sum / self.epoch_count if self.epoch_count else 0.0

    def end_epoch(self, epoch: int) -> None:
        """Call after epoch `epoch` (0-based): updates p^b after the first epoch and every `update_every`."""
        if self.epoch_count:
            latest = self.epoch_sum / self.epoch_count
            if self.value is None:
                self.value, self.n = latest, 1
            elif (epoch + 1) % self.update_every == 0:
                self.value = (self.value * self.n + latest) / (self.n + 1)  # eq. 9
                self.n += 1
        self.epoch_sum, self.epoch_count = 0.0, 0

    def state_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "n": self.n,
            "epoch_sum": self.epoch_sum,
            "epoch_count": self.epoch_count,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.value, self.n = state["value"], int(state["n"])
        self.epoch_sum, self.epoch_count = float(state["epoch_sum"]), int(state["epoch_count"])


class OGFRCriterion:
    """Eq. 23 + the teacher ID term + the REINFORCE term, from the `TrainOutput` of `OGFR.forward_train`."""

    def __init__(self, loss_cfg: LossConfig, model_cfg: OGFRConfig) -> None:
        if loss_cfg.reward_baseline == "episodes" and model_cfg.agent_episodes < 2:
            raise ValueError(
                "loss.reward_baseline='episodes' compares the masks sampled for one image and needs "
                f"model.agent_episodes >= 2, got {model_cfg.agent_episodes}"
            )
        self.cfg = loss_cfg
        self.model_cfg = model_cfg
        self.baselines = {b: RewardBaseline(loss_cfg.baseline_update_every) for b in BRANCHES}

    def __call__(self, outputs: TrainOutput, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        c = self.cfg
        pid = batch["pid"]
        hp, op = outputs.f_hp, outputs.f_op
        terms: dict[str, torch.Tensor] = {}
        weights: dict[str, float] = {}
        if hp is not None:  # teacher-student (kd on)
            if c.mse:
                terms["mse"] = F.mse_loss(op.tokens, hp.tokens.detach())  # eq. 17
            if c.cos:
                f_op, f_hp = op.features, hp.features
                if c.cos_center:  # remove the direction all features share before comparing them
                    f_op, f_hp = f_op - f_op.mean(0), f_hp - f_hp.mean(0)
                terms["cos"], weights["cos"] = cosine_loss(f_op, f_hp), c.mu1  # eq. 18
            if c.kd:  # eq. 19: alpha L_id(f_op) + beta KL(f_hp || f_op); the KL term alone is loss.kl
                kd = c.alpha * id_loss(op.logits, pid, c.label_smoothing)
                if c.kl:
                    kd = kd + c.beta * kl_loss(op.logits, hp.logits, c.kd_temperature)
                terms["kd"] = kd
            terms["en"] = id_loss(outputs.f_o.en_logits, pid, c.label_smoothing) + id_loss(
                outputs.f_h.en_logits, pid, c.label_smoothing
            )  # eq. 20
            terms["tr"], weights["tr"] = multi_triplet(hp.features, pid, c.triplet_margin), c.mu2  # eq. 22
            if c.teacher_id:
                weights["teacher_id"] = c.alpha if c.teacher_id_weight is None else c.teacher_id_weight
                terms["teacher_id"] = id_loss(hp.logits, pid, c.label_smoothing)
        else:  # single branch (Table 4 rows 1-3): ID + triplet on its global and part features
            terms["en"] = _global_plus_parts_id(op.logits, pid, c.label_smoothing)
            terms["tr"] = multi_triplet(op.features, pid, c.triplet_margin)
        if c.mask_loss:
            views = (("h", outputs.f_h), ("o", outputs.f_o))
            parts = [
                mask_loss(view.part_logits, batch[f"labels_{v}"])
                for v, view in views
                if view is not None and view.part_logits is not None and f"labels_{v}" in batch
            ]
            if parts:
                terms["mask"] = sum(parts) / len(parts)  # eq. 21, both views
        stats: dict[str, torch.Tensor] = {}
        branches = outputs.branches()
        reinforce = [
            self._reinforce(br, pid, b, stats) for b, br in branches.items() if br.logprob is not None
        ]
        if reinforce:
            terms["reinforce"], weights["reinforce"] = sum(reinforce), c.reinforce_weight  # eq. 11
        for b, br in branches.items():
            if br.keep is not None:
                stats[f"stat_keep_ratio_{b}"] = br.keep.detach().float().mean()
        total = sum(weights.get(k, 1.0) * v for k, v in terms.items())  # eq. 23 (+ teacher ID + REINFORCE)
        return {**terms, "total": total, **stats}

    def _reinforce(self, branch: BranchOutput, pid: torch.Tensor, b: str, stats: dict) -> torch.Tensor:
        """Eq. 9-11 for one branch: the reward of each sampled mask against the configured p^b."""
        p_m = true_class_prob(branch.episode_logits, pid)  # (B, E), with each sampled mask
        p_base = true_class_prob(branch.base_logits, pid)  # (B,), without the mask
        running = self.baselines[b]
        running.observe(p_base)
        if self.cfg.reward_baseline == "running":  # eq. 9: one number, updated every few epochs
            p_b = torch.full_like(p_m, running.current())
        elif self.cfg.reward_baseline == "image":  # the same image without the mask
            p_b = p_base[:, None].expand_as(p_m)
        else:  # "episodes": the mean over the image's sampled masks
            p_b = p_m.mean(dim=1, keepdim=True).expand_as(p_m)
        r = reward(p_m, p_b)  # eq. 10, detached, (B, E)
        stats[f"stat_reward_{b}"] = r.mean()
        stats[f"stat_reward_std_{b}"] = r.std() if r.numel() > 1 else r.new_zeros(())
        stats[f"stat_p_m_{b}"] = p_m.mean()
        stats[f"stat_p_b_{b}"] = p_b.mean()
        return -(r * branch.logprob).mean()  # eq. 11 as a loss, averaged over the B x E episodes

    def end_epoch(self, epoch: int) -> None:
        """Apply the p^b schedule (eq. 9) after epoch `epoch` (0-based)."""
        for baseline in self.baselines.values():
            baseline.end_epoch(epoch)

    def state_dict(self) -> dict[str, Any]:
        return {b: base.state_dict() for b, base in self.baselines.items()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for b, base in self.baselines.items():
            if b in state:
                base.load_state_dict(state[b])


def _global_plus_parts_id(logits: torch.Tensor, pid: torch.Tensor, smoothing: float) -> torch.Tensor:
    """L_id(f^g) + 1/K sum_i L_id(f^i) for logits (B, 1+K, P)."""
    loss = id_loss(logits[:, 0], pid, smoothing)
    if logits.shape[1] > 1:
        loss = loss + id_loss(logits[:, 1:], pid, smoothing)
    return loss

"""OGFR assembly (Figure 2): the shared OA-ViT, the teacher branch (FEP on the holistic view), the student
branch (two transformer layers on the occluded view) and their BNNeck classifiers.

Training (`forward_train`) runs the backbone once on both views; inference (`forward`) is the student only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ogfr.model.config import OGFRConfig
from ogfr.model.fep import FEP, ConventionalHead, Decision
from ogfr.model.heads import BNNeck, MultiNeck
from ogfr.model.oa_vit import OAViT, part_map_logits, semantic_correlation, visibility_from_maps
from ogfr.model.outputs import BranchOutput, TrainOutput, ViewOutput


class Branch(nn.Module):
    """Head layers (FEP, two conventional layers, or none) on [f^g; f^1..f^K; f^p] + one BNNeck per feature."""

    def __init__(self, cfg: OGFRConfig, num_classes: int, kind: str) -> None:
        super().__init__()
        self.kind = kind  # "fep" | "layers" | "identity"
        if kind == "fep":
            self.head: nn.Module | None = FEP(cfg)
        elif kind == "layers":
            self.head = ConventionalHead(cfg)
        else:
            self.head = None
        self.necks = MultiNeck(1 + cfg.num_part_features, cfg.embed_dim, num_classes)

    @property
    def fep(self) -> FEP | None:
        return self.head if isinstance(self.head, FEP) else None

    def encode(
        self, tokens: torch.Tensor, keep: torch.Tensor | None, patch_pos: torch.Tensor
    ) -> torch.Tensor:
        """Head output (B, 1+K+N, D) of the branch input tokens, with erased patches where ``keep`` is False."""
        return tokens if self.head is None else self.head(tokens, keep, patch_pos)

    def logits(self, tokens: torch.Tensor, num_parts: int) -> torch.Tensor:
        """Identity logits (B, 1+K, P) of the global and part features."""
        return self.necks(tokens[:, : 1 + num_parts])

    def global_logits_no_update(self, tokens: torch.Tensor) -> torch.Tensor:
        """Global identity logits (B, P) that leave the BN running statistics alone (extra no-grad passes)."""
        return self.necks.necks[0](tokens[:, 0], update_stats=False)


class OGFR(nn.Module):
    """Occlusion-Guided Feature Purification with Reinforced knowledge distillation (paper §3)."""

    def __init__(self, cfg: OGFRConfig, num_classes: int, num_cameras: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_classes = num_classes
        self.num_cameras = num_cameras
        self.num_parts = cfg.num_part_features  # K (0 for the plain-ViT baseline)
        self.backbone = OAViT(cfg, num_cameras)
        # kd off and no FEP: the TransReID-style baseline, features straight from the backbone
        student_kind = "fep" if cfg.fep_in("student") else ("layers" if cfg.kd else "identity")
        self.student = Branch(cfg, num_classes, student_kind)
        if cfg.kd:
            self.teacher = Branch(cfg, num_classes, "fep" if cfg.fep_in("teacher") else "layers")
            self.en_neck = BNNeck(cfg.embed_dim, num_classes)  # L_en on f_o^g and f_h^g (eq. 20)

    # --- helpers ---
    def _branch_tokens(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        """[f^g; f^1..f^K; f^p] (background part token dropped), (B, 1+K+N, D)."""
        parts = feats["parts"][:, 1:]  # (B, K, D)
        return torch.cat([feats["global"].unsqueeze(1), parts, feats["patches"]], dim=1)

    def _patch_labels(self, labels: torch.Tensor | None) -> torch.Tensor | None:
        """Part label of each patch (B, N) by nearest sampling of label maps (B, h, w) on the patch grid."""
        if labels is None:
            return None
        grid = labels.float().unsqueeze(1)  # (B, 1, h, w)
        grid = F.interpolate(grid, size=self.backbone.grid_size, mode="nearest")  # (B, 1, gh, gw)
        return grid.flatten(1).long()  # (B, N)

    def _part_maps(self, feats: dict[str, torch.Tensor]) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """(I, I~ logits) for OA-ViT; (None, None) for the plain ViT."""
        if not self.cfg.oavit:
            return None, None
        corr = semantic_correlation(feats["patches"], feats["parts"])  # eq. 6, (B, N, K+1)
        logits = part_map_logits(
            corr, self.backbone.grid_size, self.cfg.label_size, self.cfg.mask_temperature
        )
        return corr, logits

    def _run_branch(
        self,
        branch: Branch,
        feats: dict[str, torch.Tensor],
        corr: torch.Tensor | None,
        labels: torch.Tensor | None,
        agent: bool = True,
    ) -> BranchOutput:
        tokens = self._branch_tokens(feats)
        patch_pos = self.backbone.patch_pos
        fep = branch.fep
        idle = fep is None or (fep.agent is not None and not agent)  # an agent not started erases nothing
        decision = Decision() if idle else fep.decide(corr, self._patch_labels(labels))
        out = branch.encode(tokens, decision.keep, patch_pos)
        logits = branch.logits(out, self.num_parts)
        episode_logits = base_logits = None
        if decision.logprob is not None:
            with torch.no_grad():  # p^m of every sampled mask and p^b without the mask (eq. 9-11)
                others = [
                    branch.global_logits_no_update(branch.encode(tokens, a > 0.5, patch_pos))
                    for a in decision.actions[:, 1:].unbind(1)
                ]
                episode_logits = torch.stack([logits[:, 0].detach(), *others], dim=1)  # (B, E, P)
                base_logits = branch.global_logits_no_update(branch.encode(tokens, None, patch_pos))
        return BranchOutput(
            tokens=out,
            global_feat=out[:, 0],
            parts=out[:, 1 : 1 + self.num_parts],
            logits=logits,
            keep=decision.keep,
            agent_logits=decision.agent_logits if decision.logprob is not None else None,
            logprob=decision.logprob,
            episode_logits=episode_logits,
            base_logits=base_logits,
        )

    # --- public API ---
    def forward(self, img: torch.Tensor, z: torch.Tensor, camid: torch.Tensor) -> dict[str, torch.Tensor]:
        """Student (inference) branch: ``global`` (B, D) and ``parts`` (B, K, D) features (pre-BN, or after
        the BNNeck's BatchNorm with ``test_feature="post_bn"``), ``visibility`` (B, K) bool (eq. 24),
        ``part_maps`` (B, K+1, h, w) softmax maps of I~."""
        feats = self.backbone(img, z, camid)
        corr, logits = self._part_maps(feats)
        fep = self.student.fep
        keep = None if fep is None else fep.decide(corr, None).keep
        out = self.student.encode(self._branch_tokens(feats), keep, self.backbone.patch_pos)
        b = img.shape[0]
        if logits is None:
            h, w = self.cfg.label_size
            maps = img.new_zeros(b, 0, h, w)
            visibility = torch.zeros(b, 0, dtype=torch.bool, device=img.device)
        else:
            maps = logits.softmax(dim=1)
            visibility = visibility_from_maps(maps)
        found = out[:, : 1 + self.num_parts]  # global and part features
        if self.cfg.test_feature == "post_bn":  # BNNeck-normalised features (BoT / fast-reid)
            found = self.student.necks.normalized(found)
        return {"global": found[:, 0], "parts": found[:, 1:], "visibility": visibility, "part_maps": maps}

    def forward_train(self, batch: dict[str, torch.Tensor], agent: bool = True) -> TrainOutput:
        """Both views through the backbone in one pass, then both branches (`ogfr.model.outputs`); kd off:
        the occluded view and the student branch only. ``batch``: ``img_h``, ``img_o`` (B, 3, H, W),
        ``z_h``, ``z_o`` (B, C), ``camid``, ``pid`` (B,), optional ``labels_h``, ``labels_o`` (B, h, w).
        ``agent=False``: the erasing agent does not act yet (no erasing, no REINFORCE fields)."""
        _check_batch(batch, self.cfg.kd)
        if not self.cfg.kd:
            feats = self.backbone(batch["img_o"], batch["z_o"], batch["camid"])
            corr, logits = self._part_maps(feats)
            f_o = ViewOutput(global_feat=feats["global"], part_logits=logits, en_logits=None)
            f_op = self._run_branch(self.student, feats, corr, batch.get("labels_o"), agent)
            return TrainOutput(f_h=None, f_o=f_o, f_hp=None, f_op=f_op)
        b = batch["img_h"].shape[0]
        img = torch.cat([batch["img_h"], batch["img_o"]])  # one backbone pass on 2B images
        z = torch.cat([batch["z_h"], batch["z_o"]])
        cam = torch.cat([batch["camid"], batch["camid"]])
        feats = self.backbone(img, z, cam)
        corr, logits = self._part_maps(feats)
        en = self.en_neck(feats["global"])  # (2B, P), L_en on f_h^g and f_o^g (eq. 20)
        h, o = slice(0, b), slice(b, 2 * b)  # holistic, occluded halves
        f_h, f_o = (
            ViewOutput(feats["global"][v], None if logits is None else logits[v], en[v]) for v in (h, o)
        )
        feats_h, feats_o = ({k: t[v] for k, t in feats.items()} for v in (h, o))
        corr_h, corr_o = (None, None) if corr is None else (corr[h], corr[o])
        f_hp = self._run_branch(self.teacher, feats_h, corr_h, batch.get("labels_h"), agent)
        f_op = self._run_branch(self.student, feats_o, corr_o, batch.get("labels_o"), agent)
        return TrainOutput(f_h=f_h, f_o=f_o, f_hp=f_hp, f_op=f_op)

    @torch.no_grad()
    def erasing_mask(self, img: torch.Tensor, z: torch.Tensor, camid: torch.Tensor) -> torch.Tensor:
        """Keep probability m (B, gh, gw) of the agent of the teacher (or of the student when only it has
        one), for figures. Raises ValueError when no branch has an agent."""
        branch = getattr(self, "teacher", None)
        if branch is None or branch.fep is None or branch.fep.agent is None:
            branch = self.student
        fep = branch.fep
        if fep is None or fep.agent is None:
            raise ValueError(
                f"this model has no erasing-mask agent (fep={self.cfg.fep!r}, mask={self.cfg.mask!r})"
            )
        feats = self.backbone(img, z, camid)
        corr, _ = self._part_maps(feats)
        m = torch.sigmoid(fep.agent(corr))  # eq. 7, (B, N)
        return m.reshape(img.shape[0], *self.backbone.grid_size)

    def load_pretrained(self, path: str) -> object:
        """Load ImageNet ViT weights into the backbone (see `ogfr.model.weights.load_pretrained`)."""
        from ogfr.model.weights import load_pretrained

        return load_pretrained(self.backbone, path)


def _check_batch(batch: dict[str, torch.Tensor], kd: bool) -> None:
    need = ["img_o", "z_o", "camid", "pid"] + (["img_h", "z_h"] if kd else [])
    missing = [k for k in need if k not in batch]
    if missing:
        raise ValueError(f"training batch is missing key(s) {missing}; it has {sorted(batch)}")

"""OGFR assembly (Figure 2): the shared OA-ViT, the teacher branch (FEP on the holistic view), the student
branch (two transformer layers on the occluded view) and their BNNeck classifiers.

Training (`forward_train`) runs the backbone once on both views; inference (`forward`) is the student only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ogfr.model.config import OGFRConfig
from ogfr.model.fep import FEP, ConventionalHead
from ogfr.model.heads import BNNeck, MultiNeck
from ogfr.model.oa_vit import OAViT, part_map_logits, semantic_correlation, visibility_from_maps


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

    def run(
        self, tokens: torch.Tensor, keep: torch.Tensor | None, patch_pos: torch.Tensor, num_parts: int
    ) -> dict[str, torch.Tensor]:
        """Features of the branch: ``tokens`` (B, 1+K+N, D), ``global`` (B, D), ``parts`` (B, K, D)."""
        out = tokens if self.head is None else self.head(tokens, keep, patch_pos)
        return {"tokens": out, "global": out[:, 0], "parts": out[:, 1 : 1 + num_parts]}

    def logits(self, tokens: torch.Tensor, num_parts: int, update_stats: bool = True) -> torch.Tensor:
        """Identity logits (B, 1+K, P) of the global and part features."""
        return self.necks(tokens[:, : 1 + num_parts], update_stats)


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
        prefix: str,
    ) -> dict[str, torch.Tensor]:
        tokens = self._branch_tokens(feats)
        patch_pos = self.backbone.patch_pos
        out: dict[str, torch.Tensor] = {}
        keep = None
        fep = branch.fep
        if fep is not None:
            decision = fep.decide(corr, self._patch_labels(labels))
            keep = decision.get("keep")
            if keep is not None:
                out[f"{prefix}_keep"] = keep.float()
            if "logprob" in decision:
                out[f"{prefix}_agent_logits"] = decision["agent_logits"]
                out[f"{prefix}_logprob"] = decision["logprob"]
                with torch.no_grad():  # p^b: the same decoder without the erasing mask (eq. 9)
                    base = branch.run(tokens, None, patch_pos, self.num_parts)["tokens"]
                    out[f"{prefix}_base_logits"] = branch.necks.necks[0](base[:, 0], update_stats=False)
        res = branch.run(tokens, keep, patch_pos, self.num_parts)
        out[f"{prefix}_tokens"] = res["tokens"]
        out[f"{prefix}_global"] = res["global"]
        out[f"{prefix}_parts"] = res["parts"]
        out[f"{prefix}_logits"] = branch.logits(res["tokens"], self.num_parts)
        return out

    # --- public API ---
    def forward(self, img: torch.Tensor, z: torch.Tensor, camid: torch.Tensor) -> dict[str, torch.Tensor]:
        """Student (inference) branch: ``global`` (B, D) and ``parts`` (B, K, D) pre-BN features,
        ``visibility`` (B, K) bool (eq. 24), ``part_maps`` (B, K+1, h, w) softmax maps of I~."""
        feats = self.backbone(img, z, camid)
        corr, logits = self._part_maps(feats)
        res = self.student.run(
            self._branch_tokens(feats), self._student_keep(corr), self.backbone.patch_pos, self.num_parts
        )
        b = img.shape[0]
        if logits is None:
            h, w = self.cfg.label_size
            maps = img.new_zeros(b, 0, h, w)
            visibility = torch.zeros(b, 0, dtype=torch.bool, device=img.device)
        else:
            maps = logits.softmax(dim=1)
            visibility = visibility_from_maps(maps)
        return {"global": res["global"], "parts": res["parts"], "visibility": visibility, "part_maps": maps}

    def _student_keep(self, corr: torch.Tensor | None) -> torch.Tensor | None:
        fep = self.student.fep
        return None if fep is None else fep.decide(corr, None).get("keep")

    def forward_train(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Both branches for the losses (see `ogfr.losses.OGFRCriterion`); kd off: the occluded view only.

        Returns ``part_logits_{h,o}`` (B, K+1, h, w) I~/T, ``global_{h,o}`` (B, D) backbone f^g,
        ``en_logits_{h,o}`` (B, P), and per branch (``hp`` teacher, ``op`` student): ``*_tokens``
        (B, 1+K+N, D), ``*_global``, ``*_parts``, ``*_logits`` (B, 1+K, P); with an FEP erasing mask
        ``*_keep`` (B, N); with the agent ``*_agent_logits`` (B, N), ``*_logprob`` (B,) and
        ``*_base_logits`` (B, P) (no mask, no gradient).
        """
        _check_batch(batch, self.cfg.kd)
        out: dict[str, torch.Tensor] = {}
        if not self.cfg.kd:
            feats = self.backbone(batch["img_o"], batch["z_o"], batch["camid"])
            corr, logits = self._part_maps(feats)
            if logits is not None:
                out["part_logits_o"] = logits
            out["global_o"] = feats["global"]
            out.update(self._run_branch(self.student, feats, corr, batch.get("labels_o"), "op"))
            return out
        b = batch["img_h"].shape[0]
        img = torch.cat([batch["img_h"], batch["img_o"]])  # one backbone pass on 2B images
        z = torch.cat([batch["z_h"], batch["z_o"]])
        cam = torch.cat([batch["camid"], batch["camid"]])
        feats = self.backbone(img, z, cam)
        corr, logits = self._part_maps(feats)
        f_h = {k: v[:b] for k, v in feats.items()}
        f_o = {k: v[b:] for k, v in feats.items()}
        if logits is not None:
            out["part_logits_h"], out["part_logits_o"] = logits[:b], logits[b:]
        out["global_h"], out["global_o"] = f_h["global"], f_o["global"]
        en = self.en_neck(feats["global"])  # (2B, P)
        out["en_logits_h"], out["en_logits_o"] = en[:b], en[b:]
        corr_h = None if corr is None else corr[:b]
        corr_o = None if corr is None else corr[b:]
        out.update(self._run_branch(self.teacher, f_h, corr_h, batch.get("labels_h"), "hp"))
        out.update(self._run_branch(self.student, f_o, corr_o, batch.get("labels_o"), "op"))
        return out

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

"""Occlusion-Aware ViT (§3.1.2, eq. 3-6): tokens [cls; K+1 parts; N patches] + position + gamma1 E_o[z]
+ gamma2 C_e[cam], and the semantic correlation matrix I between patch and part features."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from torch import nn

from ogfr.model.config import OGFRConfig
from ogfr.model.vit import ViTBackbone


class OAViT(ViTBackbone):
    """The shared encoder of both branches. With ``cfg.oavit=False`` it is a plain ViT: [cls; patches].

    `forward` returns a dict: ``global`` (B, D) f^g, ``parts`` (B, K+1, D) f^0..f^K (background first;
    (B, 0, D) without OA-ViT), ``patches`` (B, N, D) f^p.
    """

    def __init__(self, cfg: OGFRConfig, num_cameras: int) -> None:
        super().__init__(cfg, num_cameras)
        d = cfg.embed_dim
        self.num_part_tokens = cfg.num_parts + 1 if cfg.oavit else 0
        if cfg.oavit:
            self.part_tokens = nn.Parameter(torch.zeros(1, self.num_part_tokens, d))  # P_t
            self.part_pos = nn.Parameter(
                torch.zeros(1, self.num_part_tokens, d)
            )  # their own position embeddings
            self.occ_embed = nn.Parameter(
                torch.zeros(2**cfg.num_coarse, d)
            )  # O_e: one row per visibility pattern
            for p in (self.part_tokens, self.part_pos, self.occ_embed):
                trunc_normal_(p, std=0.02)
        # bit weights turning z (B, C) into the row of O_e: index = sum_c z_c 2^c
        self.register_buffer("_bits", 2 ** torch.arange(cfg.num_coarse), persistent=False)

    def occlusion_embedding(self, z: torch.Tensor) -> torch.Tensor:
        """gamma1 * E_o for occlusion codes z (B, C) in {0, 1}: (B, 1, D) (eq. 3)."""
        if not torch.jit.is_tracing() and (z.ndim != 2 or z.shape[1] != self.cfg.num_coarse):
            raise ValueError(
                f"occlusion code z must have shape (B, {self.cfg.num_coarse}), got {tuple(z.shape)}"
            )
        index = (z.long().clamp(0, 1) * self._bits).sum(dim=1)  # (B,) row of O_e
        return self.cfg.gamma1 * self.occ_embed[index].unsqueeze(1)  # eq. 3, (B, 1, D)

    def forward(self, img: torch.Tensor, z: torch.Tensor, camid: torch.Tensor) -> dict[str, torch.Tensor]:
        patches = self.embed_patches(img)  # (B, N, D)
        b = patches.shape[0]
        cls = self.cls_token.expand(b, -1, -1) + self.pos_embed[:, :1]
        patches = patches + self.patch_pos
        groups = [cls]
        if self.cfg.oavit:
            groups.append((self.part_tokens + self.part_pos).expand(b, -1, -1))
        groups.append(patches)
        x = torch.cat(groups, dim=1)  # eq. 5: [x_cls; P_t; P_s] + P_E, (B, 1 + (K+1) + N, D)
        extra = self.camera_embedding(camid)  # + gamma2 C_e
        if self.cfg.oavit:
            extra = extra + self.occlusion_embedding(z)  # + gamma1 E_o
        x = self.encode(x + extra)
        k1 = self.num_part_tokens
        return {"global": x[:, 0], "parts": x[:, 1 : 1 + k1], "patches": x[:, 1 + k1 :]}


def semantic_correlation(patches: torch.Tensor, parts: torch.Tensor) -> torch.Tensor:
    """I = norm(f^p) norm([f^0..f^K])^T: cosine similarity (B, N, K+1) of patches and parts (eq. 6)."""
    return F.normalize(patches, dim=-1) @ F.normalize(parts, dim=-1).transpose(1, 2)  # eq. 6


def part_map_logits(
    corr: torch.Tensor, grid: tuple[int, int], label_size: tuple[int, int], temperature: float
) -> torch.Tensor:
    """I~ before the softmax: I rearranged to (B, K+1, gh, gw), bilinearly resized to `label_size`, / T.

    softmax over dim 1 gives the part maps of eq. 21 / 24.
    """
    b, n, k1 = corr.shape
    maps = corr.transpose(1, 2).reshape(b, k1, grid[0], grid[1])  # (B, K+1, gh, gw)
    maps = F.interpolate(maps, size=label_size, mode="bilinear", align_corners=False)  # (B, K+1, h, w)
    return maps / temperature


def visibility_from_maps(part_maps: torch.Tensor) -> torch.Tensor:
    """Eq. 24 via pixel-wise argmax: part i (1..K) is visible when it wins at least one pixel. (B, K) bool."""
    k1 = part_maps.shape[1]
    winner = part_maps.argmax(dim=1)  # (B, h, w) in 0..K
    hits = F.one_hot(winner, k1).flatten(1, 2).any(dim=1)  # (B, K+1)
    return hits[:, 1:]

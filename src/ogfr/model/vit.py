"""ViT backbone on timm blocks: overlapping patch embedding (eq. 4), conv stem or hybrid MobileNetV2 stem,
cls token, position embeddings (resizable to any patch grid) and the SIE camera embedding of TransReID.

Parameter names follow timm's ``VisionTransformer`` (``patch_embed.proj``, ``cls_token``, ``pos_embed``,
``blocks.N``, ``norm``) so ImageNet state dicts load after `ogfr.model.weights.filter_state_dict`.
"""

from __future__ import annotations

import math
from functools import partial

import torch
import torch.nn.functional as F
from timm.layers import trunc_normal_
from timm.models.vision_transformer import Block
from torch import nn
from torchvision.models import mobilenet_v2

from ogfr.model.config import HYBRID_STAGES, OGFRConfig


class OverlapPatchEmbed(nn.Module):
    """Linear projection of P x P patches taken every S pixels (eq. 4), as one strided convolution."""

    def __init__(self, in_chans: int, dim: int, patch_size: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)  # (B, D, gh, gw)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


class ConvStem(nn.Module):
    """log2(P) 3x3 stride-2 conv + BN + ReLU layers, then a 1x1 projection to D (Xiao et al. 2021)."""

    def __init__(self, in_chans: int, dim: int, patch_size: int) -> None:
        super().__init__()
        n = patch_size.bit_length() - 1
        widths = [max(8, dim // 2 ** (n - i)) for i in range(1, n + 1)]  # e.g. D/4, D/2, D for P = 8
        layers: list[nn.Module] = []
        c = in_chans
        for w in widths:
            layers += [
                nn.Conv2d(c, w, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(w),
                nn.ReLU(inplace=True),
            ]
            c = w
        self.stem = nn.Sequential(*layers)
        self.proj = nn.Conv2d(c, dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.stem(x))  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class HybridStem(nn.Module):
    """The first stages of MobileNetV2 (`body`, ImageNet weights via `ogfr.model.weights.load_stem_weights`)
    as the patch embedding: their feature map at stride P, a 1x1 projection to D, one token per cell.

    Images arrive normalised for the ViT (mean = std = 0.5); the stem re-normalises them to the ImageNet
    statistics MobileNetV2 was trained with. ``frozen_bn`` keeps every BatchNorm of the body in eval mode
    (running statistics from ImageNet, not from the batch) also while the model trains.
    `set_frozen_stages` fixes the first stages entirely (no gradients, BatchNorm in eval mode).
    """

    def __init__(self, dim: int, stride: int, frozen_bn: bool = False) -> None:
        super().__init__()
        self.frozen_bn = frozen_bn
        self.frozen_stages = 0  # leading stages of `body` that do not train (set_frozen_stages)
        self.body = mobilenet_v2(weights=None).features[: HYBRID_STAGES[stride]]
        channels = self.body[-1].out_channels
        self.proj = nn.Conv2d(channels, dim, kernel_size=1)
        mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        # pixel = 0.5 x + 0.5 for x = (pixel - 0.5) / 0.5, then (pixel - mean) / std
        self.register_buffer("in_scale", 0.5 / std, persistent=False)
        self.register_buffer("in_shift", (0.5 - mean) / std, persistent=False)
        self.channels_last = True  # faster convolutions on CPU (benchmarks/hybrid_stem.py)
        self.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> HybridStem:
        super().train(mode)
        for i, stage in enumerate(self.body):
            if self.frozen_bn or i < self.frozen_stages:
                for m in stage.modules():
                    if isinstance(m, nn.BatchNorm2d):
                        m.eval()
        return self

    def set_frozen_stages(self, n: int) -> None:
        """Fix the first ``n`` stages of the body (0: all train, ``len(body)``: the whole body is fixed)."""
        if not 0 <= n <= len(self.body):
            raise ValueError(f"frozen stages must be in 0..{len(self.body)}, got {n}")
        self.frozen_stages = n
        for i, stage in enumerate(self.body):
            stage.requires_grad_(i >= n)
        self.train(self.training)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x * self.in_scale + self.in_shift
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.proj(self.body(x))  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


def resize_pos_embed(
    pos: torch.Tensor, new_grid: tuple[int, int], num_prefix: int = 1, old_grid: tuple[int, int] | None = None
) -> torch.Tensor:
    """Bilinearly resample the patch part of a (1, num_prefix + gh*gw, D) position embedding to `new_grid`.

    The prefix (cls) embeddings are kept as they are; `old_grid` defaults to a square grid. When the grids
    match the input is returned unchanged.
    """
    prefix, grid = pos[:, :num_prefix], pos[:, num_prefix:]
    n_old = grid.shape[1]
    if old_grid is None:
        side = math.isqrt(n_old)
        if side * side != n_old:
            raise ValueError(f"cannot infer the grid of a position embedding with {n_old} patch positions")
        old_grid = (side, side)
    if old_grid[0] * old_grid[1] != n_old:
        raise ValueError(f"position embedding has {n_old} patch positions, not {old_grid[0]}x{old_grid[1]}")
    if tuple(old_grid) == tuple(new_grid):
        return pos
    d = grid.shape[-1]
    grid = grid.reshape(1, old_grid[0], old_grid[1], d).permute(0, 3, 1, 2)  # (1, D, gh, gw)
    grid = F.interpolate(grid.float(), size=new_grid, mode="bilinear", align_corners=False).to(pos.dtype)
    grid = grid.permute(0, 2, 3, 1).reshape(1, new_grid[0] * new_grid[1], d)  # (1, N', D)
    return torch.cat([prefix, grid], dim=1)


def make_blocks(cfg: OGFRConfig, depth: int, drop_path: float = 0.0) -> nn.ModuleList:
    """`depth` pre-norm timm Blocks (fused SDPA attention) with drop-path rising linearly to `drop_path`."""
    rates = [drop_path * i / (depth - 1) for i in range(depth)] if depth > 1 else [drop_path] * depth
    norm = partial(nn.LayerNorm, eps=cfg.ln_eps)
    return nn.ModuleList(
        Block(
            dim=cfg.embed_dim,
            num_heads=cfg.num_heads,
            mlp_ratio=cfg.mlp_ratio,
            qkv_bias=cfg.qkv_bias,
            proj_drop=cfg.drop_rate,
            attn_drop=cfg.attn_drop,
            drop_path=r,
            norm_layer=norm,
        )
        for r in rates
    )


def init_weights(module: nn.Module) -> None:
    """ViT initialisation: truncated normal (std 0.02) linear layers, zero biases, unit LayerNorms."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


class ViTBackbone(nn.Module):
    """Patch embedding, cls token, position and camera embeddings, transformer blocks, final LayerNorm.

    Subclasses build the token sequence (`OAViT` adds part tokens and the occlusion embedding);
    `encode` runs the blocks.
    """

    def __init__(self, cfg: OGFRConfig, num_cameras: int) -> None:
        super().__init__()
        if num_cameras < 1:
            raise ValueError(f"num_cameras must be >= 1, got {num_cameras}")
        self.cfg = cfg
        self.num_cameras = num_cameras
        self.grid_size = cfg.grid_size
        d = cfg.embed_dim
        if cfg.patch_embed == "overlap":
            self.patch_embed: nn.Module = OverlapPatchEmbed(cfg.in_chans, d, cfg.patch_size, cfg.stride)
        elif cfg.patch_embed == "conv":
            self.patch_embed = ConvStem(cfg.in_chans, d, cfg.patch_size)
        else:
            self.patch_embed = HybridStem(d, cfg.patch_size, cfg.stem_frozen_bn)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, d))
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + cfg.num_patches, d))  # [cls; patches], timm layout
        rows = num_cameras + int(cfg.unknown_camera)  # last row: the shared "unknown camera"
        self.cam_embed = nn.Parameter(torch.zeros(rows, d)) if cfg.camera_embed else None  # SIE C_e
        self.pos_drop = nn.Dropout(cfg.drop_rate)
        self.blocks = make_blocks(cfg, cfg.depth, cfg.drop_path)
        self.norm = nn.LayerNorm(d, eps=cfg.ln_eps)
        init_weights(self)
        for p in (self.cls_token, self.pos_embed):
            trunc_normal_(p, std=0.02)
        if self.cam_embed is not None:
            trunc_normal_(self.cam_embed, std=0.02)

    @property
    def patch_pos(self) -> torch.Tensor:
        """Position embeddings of the N patch tokens, (1, N, D)."""
        return self.pos_embed[:, 1:]

    def camera_embedding(self, camid: torch.Tensor) -> torch.Tensor:
        """gamma2 * C_e[camid] as (B, 1, D) (zeros when the camera embedding is off)."""
        if self.cam_embed is None:
            return self.cls_token.new_zeros(camid.shape[0], 1, self.cls_token.shape[-1])
        bad = (camid < 0) | (camid >= self.num_cameras)
        if self.cfg.unknown_camera:
            camid = torch.where(bad, torch.full_like(camid, self.num_cameras), camid)
        elif not (torch.jit.is_tracing() or torch.compiler.is_compiling()) and bool(bad.any()):
            raise ValueError(
                f"camid out of range: got {camid[bad].tolist()[:5]}, the model was built for "
                f"{self.num_cameras} cameras (ids 0..{self.num_cameras - 1}); set model.unknown_camera=true "
                "to map unseen cameras to a shared row"
            )
        return self.cfg.gamma2 * self.cam_embed[camid].unsqueeze(1)  # (B, 1, D)

    def embed_patches(self, img: torch.Tensor) -> torch.Tensor:
        """Patch tokens (B, N, D) of images (B, C, H, W) of the configured size."""
        if img.ndim != 4 or tuple(img.shape[1:]) != (self.cfg.in_chans, *self.cfg.image_size):
            raise ValueError(
                f"expected images of shape (B, {self.cfg.in_chans}, {self.cfg.image_size[0]}, "
                f"{self.cfg.image_size[1]}), got {tuple(img.shape)}"
            )
        return self.patch_embed(img)

    def encode(self, tokens: torch.Tensor) -> torch.Tensor:
        """Transformer blocks and the final LayerNorm over a token sequence (B, T, D)."""
        x = self.pos_drop(tokens)
        for blk in self.blocks:
            x = blk(x)
        return self.norm(x)

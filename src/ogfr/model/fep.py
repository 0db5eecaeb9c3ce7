"""Feature Erasing and Purification (§3.2): the erasing-mask agent (eq. 7-8), replacement of erased patch
tokens, the customized decoder with MHSA_fix (eq. 12-16) and the conventional two-layer head.

Token layout inside a branch head: [f^g; f^1..f^K; f^p] (the background part token is dropped, as the
paper writes the decoder input); the first ``1 + K`` tokens are the "fixed" ones of MHSA_fix.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from timm.layers import Mlp, trunc_normal_
from torch import nn

from ogfr.model.config import OGFRConfig
from ogfr.model.vit import init_weights, make_blocks


class NonFiniteError(FloatingPointError):
    """A value the model needs to be finite is NaN or Inf (the training loop reports it as divergence)."""


class MHSAFix(nn.Module):
    """MHSA_fix (eq. 13-16): queries from patch tokens only; the fixed (global, part) tokens output their
    own value projections, so they are never mixed with patches. Output projection shared by all tokens."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, num_fixed: int) -> torch.Tensor:
        b, t, d = x.shape
        qkv = (
            self.qkv(x).reshape(b, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        )  # (3, B, h, T, hd)
        q, k, v = qkv.unbind(0)
        q = q[:, :, num_fixed:]  # eq. 13: Q = W_q f~^p, (B, h, N, hd); K, V from all tokens
        drop = self.attn_drop if self.training else 0.0
        patches = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)  # eq. 14, (B, h, N, hd)
        out = torch.cat(
            [v[:, :, :num_fixed], patches], dim=2
        )  # eq. 15-16: [v^g, v^1..v^K, F'^p], (B, h, T, hd)
        out = out.transpose(1, 2).reshape(b, t, d)  # heads concatenated, (B, T, D)
        return self.proj(out)


class FixLayer(nn.Module):
    """Pre-norm layer: x + MHSA_fix(LN(x)), then x + FFN(LN(x)) (first line of eq. 12)."""

    def __init__(self, cfg: OGFRConfig) -> None:
        super().__init__()
        d = cfg.embed_dim
        self.norm1 = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.attn = MHSAFix(d, cfg.num_heads, cfg.qkv_bias, cfg.attn_drop)
        self.norm2 = nn.LayerNorm(d, eps=cfg.ln_eps)
        self.mlp = Mlp(d, int(d * cfg.mlp_ratio), act_layer=nn.GELU, drop=cfg.drop_rate)

    def forward(self, x: torch.Tensor, num_fixed: int) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), num_fixed)
        return x + self.mlp(self.norm2(x))


class Decoder(nn.Module):
    """Two pre-norm layers and a final LayerNorm. ``customized``: MHSA_fix layer then a conventional MHSA
    layer (eq. 12); ``conventional``: two conventional layers (Table 6 row M, and the student branch)."""

    def __init__(self, cfg: OGFRConfig, kind: str) -> None:
        super().__init__()
        self.kind = kind
        self.fix = FixLayer(cfg) if kind == "customized" else None
        self.blocks = make_blocks(cfg, 1 if kind == "customized" else 2)
        self.norm = nn.LayerNorm(cfg.embed_dim, eps=cfg.ln_eps)
        init_weights(self)

    def forward(self, x: torch.Tensor, num_fixed: int) -> torch.Tensor:
        if self.fix is not None:
            x = self.fix(x, num_fixed)  # F'_h (eq. 12, first line)
        for blk in self.blocks:
            x = blk(x)  # F_hp (eq. 12, second line)
        return self.norm(x)


class Agent(nn.Module):
    """Erasing-mask agent: m = sigmoid(I G^T + b), the probability of keeping each patch (eq. 7)."""

    def __init__(self, num_part_tokens: int, bias: float = 2.0) -> None:
        super().__init__()
        self.fc = nn.Linear(num_part_tokens, 1)  # G (1, K+1) and b
        nn.init.normal_(self.fc.weight, std=0.02)
        nn.init.constant_(self.fc.bias, bias)  # 2.0: start by keeping most patches (sigmoid(2) = 0.88)

    def forward(self, state: torch.Tensor) -> torch.Tensor:
        """Logits (B, N) of keeping each patch, from the state I (B, N, K+1)."""
        return self.fc(state).squeeze(-1)  # eq. 7 before the sigmoid


def bernoulli_log_prob(logits: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """sum_t log pi(a_t | s_t) for a_t ~ Bernoulli(sigmoid(logits)) over the last dim: (..., N) -> (...)."""
    return -F.binary_cross_entropy_with_logits(logits, actions, reduction="none").sum(dim=-1)


@dataclass(frozen=True)
class Decision:
    """FEP's erasing decision for a batch. ``keep`` (B, N) bool (True = keep the patch) or None (nothing
    erased); for the agent also its ``agent_logits`` (B, N) and, in training, the sampled ``actions``
    (B, E, N) of E episodes (the first one is ``keep``) with their ``logprob`` (B, E) (eq. 11)."""

    keep: torch.Tensor | None = None
    agent_logits: torch.Tensor | None = None
    actions: torch.Tensor | None = None
    logprob: torch.Tensor | None = None


class FEP(nn.Module):
    """Erasing mask (kind ``cfg.mask``) + replacement tokens + decoder (kind ``cfg.decoder``)."""

    def __init__(self, cfg: OGFRConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.mask_kind = cfg.mask
        self.agent = Agent(cfg.num_parts + 1, cfg.agent_bias) if cfg.mask == "agent" else None
        self.replace_token = nn.Parameter(
            torch.zeros(1, 1, cfg.embed_dim)
        )  # learnable embedding for erased patches
        trunc_normal_(self.replace_token, std=0.02)
        self.decoder = Decoder(cfg, cfg.decoder)

    def decide(self, state: torch.Tensor, patch_labels: torch.Tensor | None) -> Decision:
        """The erasing mask of the configured kind for state I (B, N, K+1).

        The state is detached here (the agent learns from REINFORCE only); patch_labels: part label of
        each patch (B, N) in -1..K (for ``background``; -1 = unknown, then the argmax of I decides).
        In training the agent samples a ~ Bernoulli(m) (eq. 8); in eval it keeps patches with m > 0.5.
        """
        b, n, _ = state.shape
        if self.mask_kind == "none":
            return Decision()
        if self.mask_kind == "random":
            if not self.training:
                return Decision()
            return Decision(keep=torch.rand(b, n, device=state.device) < self.cfg.random_keep)
        if self.mask_kind == "background":
            predicted = state.argmax(dim=-1)  # (B, N) best-matching part of each patch
            part = (
                predicted if patch_labels is None else torch.where(patch_labels >= 0, patch_labels, predicted)
            )
            return Decision(keep=part != 0)  # erase background (and pasted occluders, labelled background)
        logits = self.agent(state.detach())  # eq. 7, (B, N)
        if not self.training:
            return Decision(keep=logits > 0, agent_logits=logits)  # m > 0.5
        m = torch.sigmoid(logits).detach()
        if not bool(torch.isfinite(m).all()):  # torch.bernoulli would fail (a device assert on CUDA)
            raise NonFiniteError("the FEP agent's keep probabilities (eq. 7) are not finite")
        episodes = self.cfg.agent_episodes
        actions = torch.bernoulli(m.unsqueeze(1).expand(b, episodes, n).contiguous())  # eq. 8, (B, E, N)
        logprob = bernoulli_log_prob(logits.unsqueeze(1).expand_as(actions), actions)  # (B, E)
        return Decision(keep=actions[:, 0] > 0.5, agent_logits=logits, actions=actions, logprob=logprob)

    def forward(
        self, tokens: torch.Tensor, keep: torch.Tensor | None, patch_pos: torch.Tensor
    ) -> torch.Tensor:
        """Replace erased patches (keep = False) by the learnable token + their position embedding, decode.

        tokens: (B, 1+K+N, D) = [f^g; f^1..f^K; f^p]; keep: (B, N) bool or None (no erasing);
        patch_pos: (1, N, D) position embeddings of the patches.
        """
        n = patch_pos.shape[1]
        num_fixed = tokens.shape[1] - n
        if keep is not None:
            fixed, patches = tokens[:, :num_fixed], tokens[:, num_fixed:]
            replaced = (self.replace_token + patch_pos).expand_as(patches)
            patches = torch.where(keep.unsqueeze(-1), patches, replaced)  # F~_h patches
            tokens = torch.cat([fixed, patches], dim=1)
        return self.decoder(tokens, num_fixed)


class ConventionalHead(nn.Module):
    """Two conventional transformer layers + final LayerNorm (the student branch of §3.3)."""

    def __init__(self, cfg: OGFRConfig) -> None:
        super().__init__()
        self.decoder = Decoder(cfg, "conventional")

    def forward(
        self, tokens: torch.Tensor, keep: torch.Tensor | None, patch_pos: torch.Tensor
    ) -> torch.Tensor:
        return self.decoder(tokens, 0)

"""Equations checked against values worked out by hand: one MHSA_fix decoder layer (eq. 12-16) and
L_mask on the bilinearly resized part maps (eq. 21)."""

from __future__ import annotations

import math

import pytest
import torch

from ogfr.engine.config import preset_model
from ogfr.losses import mask_loss
from ogfr.model.fep import FixLayer
from ogfr.model.oa_vit import part_map_logits

SQRT2 = math.sqrt(2.0)


def _gelu(x: float) -> float:
    return 0.5 * x * (1.0 + math.erf(x / SQRT2))


def _identity_layer() -> FixLayer:
    """D = 2, one head, FFN hidden 2: every projection the identity, every bias 0, LayerNorm plain."""
    layer = FixLayer(preset_model("tiny", embed_dim=2, num_heads=1, mlp_ratio=1.0))
    with torch.no_grad():
        for p in layer.parameters():
            p.zero_()
        for norm in (layer.norm1, layer.norm2):
            norm.weight.fill_(1.0)
        layer.attn.qkv.weight.copy_(torch.eye(2).repeat(3, 1))  # W_q = W_k = W_v = I
        layer.attn.proj.weight.copy_(torch.eye(2))
        layer.mlp.fc1.weight.copy_(torch.eye(2))
        layer.mlp.fc2.weight.copy_(torch.eye(2))
    return layer.eval()


def test_one_customized_decoder_layer_by_hand() -> None:
    """x' = x + MHSA_fix(LN(x)), out = x' + FFN(LN(x')) (eq. 12's first line, pre-norm) with one fixed
    token (the global feature) and two patch tokens."""
    x = torch.tensor([[[2.0, 0.0], [0.0, 1.0], [3.0, 1.0]]])  # [f^g; f^p_1; f^p_2]
    # LayerNorm of (a, b) with a != b is (+1, -1) or (-1, +1): u = LN rows, and q = k = v = u
    u = [(1.0, -1.0), (-1.0, 1.0), (1.0, -1.0)]
    # eq. 15: the fixed token outputs its own value v^g = u_0
    attn = [u[0]]
    # eq. 13-14: each patch attends over all three tokens with scores q . k / sqrt(2) = +-sqrt(2)
    for q in u[1:]:
        scores = [(q[0] * k[0] + q[1] * k[1]) / SQRT2 for k in u]
        w = [math.exp(s) for s in scores]
        w = [v / sum(w) for v in w]
        attn.append(tuple(sum(wi * ui[c] for wi, ui in zip(w, u, strict=True)) for c in range(2)))
    x1 = [(xi[0] + a[0], xi[1] + a[1]) for xi, a in zip(x[0].tolist(), attn, strict=True)]
    # FFN(LN(x')) = fc2(GELU(fc1(LN(x')))) = GELU(+-1) per component
    want = []
    for a, b in x1:
        n = (1.0, -1.0) if a > b else (-1.0, 1.0)
        want.append((a + _gelu(n[0]), b + _gelu(n[1])))
    got = _identity_layer()(x, num_fixed=1)
    assert torch.allclose(got, torch.tensor([want]), atol=1e-5)
    # the fixed token saw no patch: changing the patches leaves it alone
    other = x.clone()
    other[0, 1:] = torch.tensor([[5.0, -1.0], [0.0, 4.0]])
    assert torch.allclose(_identity_layer()(other, num_fixed=1)[0, 0], got[0, 0])


def test_eq21_mask_loss_on_bilinearly_resized_maps() -> None:
    """I (2 patches on a 2 x 1 grid, K + 1 = 2 parts) rearranged, resized to 4 x 1 and divided by T."""
    corr = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # patch 0 is part 0, patch 1 is part 1
    logits = part_map_logits(corr, grid=(2, 1), label_size=(4, 1), temperature=0.5)
    # bilinear, align_corners=False: output rows sample input rows at -0.25 (clamped to 0), 0.25, 0.75,
    # 1.25 (clamped to 1): part 0's map [1, 0] -> [1, 0.75, 0.25, 0], part 1's the mirror; / T = x 2
    want = torch.tensor([[2.0, 1.5, 0.5, 0.0], [0.0, 0.5, 1.5, 2.0]]).view(1, 2, 4, 1)
    assert torch.allclose(logits, want)
    labels = torch.tensor([[[0], [0], [1], [-1]]])  # the last pixel is unknown: ignored
    # cross-entropy per labelled pixel: -log softmax; logits differ by 2, 1, 1 in favour of the label
    ce = [math.log1p(math.exp(-2.0)), math.log1p(math.exp(-1.0)), math.log1p(math.exp(-1.0))]
    assert mask_loss(logits, labels).item() == pytest.approx(sum(ce) / 3, abs=1e-6)

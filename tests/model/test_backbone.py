"""OA-ViT backbone: token groups (eq. 5), position-embedding resize, occlusion (eq. 3) and camera embeddings."""

from __future__ import annotations

import pytest
import torch

from ogfr.engine.config import preset_model
from ogfr.model import OGFRConfig
from ogfr.model.oa_vit import OAViT, part_map_logits, semantic_correlation, visibility_from_maps
from ogfr.model.vit import resize_pos_embed


def _inputs(cfg: OGFRConfig, b: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(b, 3, *cfg.image_size, generator=g)
    return img, torch.zeros(b, cfg.num_coarse, dtype=torch.long), torch.zeros(b, dtype=torch.long)


@pytest.mark.parametrize(
    ("size", "patch", "stride", "n"),
    [((256, 128), 16, 12, 210), ((64, 32), 8, 8, 32), ((64, 32), 8, 6, 50), ((96, 48), 16, 12, 21)],
)
def test_token_group_shapes(size, patch, stride, n) -> None:
    cfg = preset_model("tiny", image_size=size, patch_size=patch, stride=stride, embed_dim=32, depth=1)
    net = OAViT(cfg, num_cameras=3).eval()
    out = net(*_inputs(cfg))
    assert out["global"].shape == (2, 32)
    assert out["parts"].shape == (2, cfg.num_parts + 1, 32)
    assert out["patches"].shape == (2, n, 32)
    assert net.pos_embed.shape == (1, 1 + n, 32)


def test_plain_vit_tokens_and_conv_stem() -> None:
    cfg = preset_model("tiny", oavit=False, fep="none", patch_embed="conv")
    out = OAViT(cfg, 1).eval()(*_inputs(cfg))
    assert out["parts"].shape == (2, 0, 64) and out["patches"].shape == (2, 32, 64)


def test_pos_embed_resize_identity_and_grid() -> None:
    pos = torch.randn(1, 1 + 14 * 14, 8)
    assert resize_pos_embed(pos, (14, 14)) is pos
    out = resize_pos_embed(pos, (21, 10))
    assert out.shape == (1, 1 + 210, 8)
    assert torch.equal(out[:, 0], pos[:, 0])  # cls position kept
    const = torch.ones(1, 1 + 16, 4) * 0.5
    assert torch.allclose(
        resize_pos_embed(const, (5, 3)), torch.full((1, 16, 4), 0.5)
    )  # bilinear keeps constants
    with pytest.raises(ValueError, match="cannot infer the grid"):
        resize_pos_embed(torch.randn(1, 1 + 15, 4), (3, 3))


def test_occlusion_embedding_depends_on_z_only_through_its_row() -> None:
    cfg = preset_model("tiny")
    net = OAViT(cfg, 2).eval()
    img, z, cam = _inputs(cfg, b=1)
    z1 = torch.tensor([[1, 0, 1, 0]])
    a = net(img, z1, cam)["global"]
    b = net(img, z1.clone(), cam)["global"]
    c = net(img, torch.tensor([[0, 1, 1, 0]]), cam)["global"]
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    assert torch.equal(
        net.occlusion_embedding(z1)[0, 0], 3.0 * net.occ_embed[1 + 4]
    )  # row sum_c z_c 2^c, eq. 3
    assert net.occ_embed.shape == (16, 64)  # 2^C rows


def test_gamma1_zero_removes_occlusion_effect() -> None:
    cfg = preset_model("tiny", gamma1=0.0)
    net = OAViT(cfg, 2).eval()
    img, z, cam = _inputs(cfg, b=1)
    assert torch.allclose(net(img, z, cam)["global"], net(img, torch.ones_like(z), cam)["global"])


def test_camera_embedding() -> None:
    cfg = preset_model("tiny")
    net = OAViT(cfg, 3).eval()
    img, z, _ = _inputs(cfg, b=1)
    c0 = net(img, z, torch.tensor([0]))["global"]
    assert torch.equal(c0, net(img, z, torch.tensor([0]))["global"])
    assert not torch.allclose(c0, net(img, z, torch.tensor([2]))["global"])
    with pytest.raises(ValueError, match=r"camid out of range: got \[3\].*3 cameras"):
        net(img, z, torch.tensor([3]))
    shared = OAViT(preset_model("tiny", unknown_camera=True), 3).eval()
    assert shared.cam_embed.shape == (4, 64)
    unseen = shared(img, z, torch.tensor([7]))["global"]
    assert torch.equal(unseen, shared(img, z, torch.tensor([-1]))["global"])  # both map to the shared row
    assert not torch.allclose(unseen, shared(img, z, torch.tensor([0]))["global"])
    off = OAViT(preset_model("tiny", camera_embed=False), 3).eval()
    assert torch.equal(off(img, z, torch.tensor([0]))["global"], off(img, z, torch.tensor([2]))["global"])


def test_bad_image_and_code_shapes() -> None:
    cfg = preset_model("tiny")
    net = OAViT(cfg, 2)
    img, z, cam = _inputs(cfg)
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 3, 64, 32\)"):
        net(img[:, :, :32], z, cam)
    with pytest.raises(ValueError, match=r"occlusion code z must have shape \(B, 4\)"):
        net(img, z[:, :2], cam)


def test_semantic_correlation_and_maps() -> None:
    patches = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [3.0, 3.0], [-1.0, 0.0]]])  # (1, N=4, 2)
    parts = torch.tensor([[[0.0, 1.0], [5.0, 0.0]]])  # (1, K+1=2, 2)
    corr = semantic_correlation(patches, parts)
    s = 2**-0.5
    expected = torch.tensor([[[0.0, 1.0], [1.0, 0.0], [s, s], [0.0, -1.0]]])
    assert torch.allclose(corr, expected, atol=1e-6)  # eq. 6: cosine similarities
    logits = part_map_logits(corr, (2, 2), (2, 2), temperature=0.5)  # same size: only rearranged and / T
    assert torch.allclose(logits[0, 1], torch.tensor([[1.0, 0.0], [s, -1.0]]) / 0.5, atol=1e-6)
    vis = visibility_from_maps(logits.softmax(dim=1))
    assert vis.tolist() == [[True]]  # part 1 wins the first pixel
    only_bg = visibility_from_maps(torch.tensor([[[[0.9]], [[0.1]], [[0.0]]]]))
    assert only_bg.tolist() == [[False, False]]

"""Loading ImageNet ViT weights (timm layout) safely from .safetensors and .pth files."""

from __future__ import annotations

import logging

import pytest
import timm
import torch
from safetensors.torch import save_file

from ogfr.engine.config import preset_model
from ogfr.model import OGFR, filter_state_dict, load_pretrained


@pytest.fixture(scope="module")
def timm_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    net = timm.create_model("vit_tiny_patch16_224", pretrained=False)  # random weights, no download
    return {k: v.contiguous() for k, v in net.state_dict().items()}


def _model() -> OGFR:
    """Two blocks of ViT-Tiny's width: every backbone key exists in the file (blocks 2..11 are unused)."""
    cfg = preset_model(
        "tiny",
        image_size=(64, 32),
        patch_size=16,
        stride=12,
        embed_dim=192,
        depth=2,
        num_heads=3,
        mlp_ratio=4.0,
    )
    return OGFR(cfg, num_classes=3, num_cameras=2)


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_timm_state_dict_loads_with_no_missing_backbone_keys(tmp_path, timm_state, suffix) -> None:
    path = tmp_path / f"vit_tiny{suffix}"
    if suffix == ".safetensors":
        save_file(timm_state, str(path))
    else:
        torch.save({"model": timm_state}, path)  # wrapped, as many training checkpoints are
    model = _model()
    report = model.load_pretrained(str(path))
    assert report.missing == []
    assert set(report.new) == {"part_tokens", "part_pos", "occ_embed", "cam_embed"}
    assert "blocks.1.mlp.fc2.weight" in report.loaded and "head.weight" not in report.loaded
    assert "blocks.11.mlp.fc2.weight" in report.unexpected
    bb = model.backbone
    assert torch.equal(bb.blocks[1].attn.qkv.weight, timm_state["blocks.1.attn.qkv.weight"])
    assert torch.equal(bb.patch_embed.proj.weight, timm_state["patch_embed.proj.weight"])
    assert torch.equal(bb.pos_embed[:, 0], timm_state["pos_embed"][:, 0])  # cls position kept
    assert bb.pos_embed.shape == (1, 1 + 5 * 2, 192)  # 14x14 grid resized to eq. 4's 5x2


def test_filter_is_pure_and_strips_prefixes(timm_state) -> None:
    model = _model()
    wrapped = {f"module.{k}": v for k, v in timm_state.items()}
    before = {k: v.clone() for k, v in wrapped.items()}
    out = filter_state_dict(wrapped, model.backbone)
    assert "blocks.0.norm1.weight" in out and "head.weight" not in out
    assert all(torch.equal(before[k], wrapped[k]) for k in wrapped)  # inputs untouched


def test_mismatched_patch_embed_is_skipped_and_reported(tmp_path, timm_state, caplog) -> None:
    path = tmp_path / "vit.safetensors"
    save_file(timm_state, str(path))
    cfg = preset_model("tiny", patch_size=8, stride=8, embed_dim=192, depth=2, num_heads=3, mlp_ratio=4.0)
    with caplog.at_level(logging.WARNING, logger="ogfr.model.weights"):
        report = load_pretrained(OGFR(cfg, 3, 2).backbone, path)
    assert report.missing == ["patch_embed.proj.weight"]
    assert "skipping patch_embed.proj.weight" in caplog.text


def test_foreign_and_missing_files_give_clear_errors(tmp_path) -> None:
    model = _model()
    foreign = tmp_path / "resnet.safetensors"
    save_file({"conv1.weight": torch.zeros(4, 3, 3, 3), "fc.weight": torch.zeros(2, 4)}, str(foreign))
    with pytest.raises(ValueError, match=r"resnet\.safetensors: no ViT block weights match"):
        model.load_pretrained(str(foreign))
    with pytest.raises(FileNotFoundError, match="pretrained weights file not found"):
        model.load_pretrained(str(tmp_path / "nope.pth"))
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"garbage\.pth: not a readable weights file"):
        model.load_pretrained(str(garbage))


class _Evil:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


def test_pickled_code_is_refused(tmp_path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"blocks.0.norm1.weight": torch.zeros(192), "x": _Evil()}, path)
    with pytest.raises(ValueError, match=r"evil\.pth: not a readable weights file: .*pickled Python object"):
        _model().load_pretrained(str(path))


def test_deit_distilled_pos_embed_keeps_cls_and_drops_dist_token() -> None:
    model = _model()
    pos = torch.randn(1, 2 + 14 * 14, 192)  # cls, dist, 14x14 patches
    out = filter_state_dict({"pos_embed": pos, "dist_token": torch.zeros(1, 1, 192)}, model.backbone)
    assert set(out) == {"pos_embed"}
    assert out["pos_embed"].shape == model.backbone.pos_embed.shape
    assert torch.equal(out["pos_embed"][:, 0], pos[:, 0])

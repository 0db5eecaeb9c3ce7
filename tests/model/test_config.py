"""OGFRConfig: the YAML presets' models, eq. 4 grid sizes, validation errors, dict round trip."""

from __future__ import annotations

import typing

import pytest

from ogfr.engine.config import preset_model
from ogfr.model import OGFRConfig
from ogfr.model.config import _CHOICES, DecoderKind, FepPlacement, MaskKind, PatchEmbedKind, TestFeature


def test_paper_preset_patch_count_eq4() -> None:
    cfg = preset_model("paper/_base")
    assert cfg == OGFRConfig()  # the dataclass defaults are the paper's setting
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads) == (768, 12, 12)
    assert cfg.image_size == (256, 128) and cfg.stride == 12 and cfg.patch_embed == "overlap"
    assert cfg.qkv_bias and cfg.ln_eps == 1e-6 and cfg.drop_path == 0.1
    assert cfg.grid_size == (21, 10)  # floor((256+12-16)/12) x floor((128+12-16)/12)
    assert cfg.num_patches == 210
    assert preset_model("paper/_base", stride=11).num_patches == 22 * 11  # TransReID's Occluded-Duke stride


@pytest.mark.parametrize(
    ("size", "patch", "stride", "grid"),
    [
        ((64, 32), 8, 8, (8, 4)),
        ((64, 32), 8, 6, (10, 5)),
        ((128, 64), 16, 12, (10, 5)),
        ((256, 128), 16, 16, (16, 8)),
    ],
)
def test_grid_size(size: tuple[int, int], patch: int, stride: int, grid: tuple[int, int]) -> None:
    assert preset_model("tiny", image_size=size, patch_size=patch, stride=stride).grid_size == grid


def test_conv_stem_grid_and_demo_preset() -> None:
    cfg = preset_model("demo")
    assert (cfg.embed_dim, cfg.depth, cfg.num_heads, cfg.image_size, cfg.patch_embed) == (
        128,
        4,
        2,
        (128, 64),
        "conv",
    )
    assert cfg.grid_size == (8, 4)  # 128x64 / 16
    assert not cfg.camera_embed  # configs/demo.yaml turns the SIE camera embedding off


def test_presets_by_name_and_overrides() -> None:
    cfg = preset_model("vit_small", num_coarse=2)
    assert cfg.embed_dim == 384 and cfg.num_heads == 6 and cfg.num_coarse == 2
    assert cfg.depth == 12 and cfg.image_size == (256, 128)  # the paper's setting otherwise
    with pytest.raises(FileNotFoundError, match="preset 'huge'"):
        preset_model("huge")
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        preset_model("tiny", depth=0)


def test_choices_are_the_literal_types() -> None:
    kinds = {
        "patch_embed": PatchEmbedKind,
        "fep": FepPlacement,
        "mask": MaskKind,
        "decoder": DecoderKind,
        "test_feature": TestFeature,
    }
    assert {name: typing.get_args(kind) for name, kind in kinds.items()} == _CHOICES


def test_dict_round_trip_and_unknown_keys() -> None:
    cfg = preset_model("tiny", mask="random", decoder="conventional")
    d = cfg.to_dict()
    assert d["image_size"] == [64, 32]
    assert OGFRConfig.from_dict(d) == cfg
    with pytest.raises(ValueError, match="unknown OGFRConfig field.*'dimm'"):
        OGFRConfig.from_dict({"dimm": 3})


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"fep": "middle"}, "fep must be one of"),
        ({"mask": "all"}, "mask must be one of"),
        ({"decoder": "fancy"}, "decoder must be one of"),
        ({"patch_embed": "linear"}, "patch_embed must be one of"),
        ({"embed_dim": 30, "num_heads": 4}, "divisible by num_heads"),
        ({"num_coarse": 3}, "num_coarse must be one of"),
        ({"image_size": (4, 32)}, "smaller than patch_size"),
        ({"image_size": (64,)}, "image_size must be a pair"),
        ({"patch_embed": "conv", "patch_size": 6}, "power of 2"),
        ({"kd": False, "fep": "teacher"}, "needs the teacher branch"),
        ({"oavit": False}, "needs the part tokens"),
        ({"mask_temperature": 0.0}, "mask_temperature"),
        ({"drop_path": 1.0}, "drop_path"),
        ({"depth": 0}, "depth must be a positive integer"),
        ({"random_keep": 1.5}, "random_keep"),
    ],
)
def test_validation_errors(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        preset_model("tiny", **overrides)


def test_switch_helpers() -> None:
    assert preset_model("tiny", fep="both").fep_in("teacher") and preset_model("tiny", fep="both").fep_in(
        "student"
    )
    assert not preset_model("tiny", fep="teacher").fep_in("student")
    assert preset_model("tiny", oavit=False, fep="none").num_part_features == 0
    assert preset_model("tiny").num_part_features == 8

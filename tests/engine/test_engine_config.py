"""Config: presets, ``base:`` inheritance, typed overrides, unknown keys with close matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from ogfr.engine.config import Config, from_dict, load_config, parse_overrides, save_config, to_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_every_shipped_preset_loads() -> None:
    presets = [p for p in CONFIGS.rglob("*.yaml") if not p.name.startswith("_")]
    assert len(presets) >= 6 + 6 + 4 + 2 + 4 + 4 + 4 + 2  # paper, table 4, 5, 6, 7, 8, figure 4, tiny/demo
    for path in presets:
        assert isinstance(load_config(path), Config), path


def test_paper_presets_hold_the_paper_settings() -> None:
    cfg = load_config(CONFIGS / "paper" / "occluded_duke.yaml")
    assert cfg.model.image_size == (256, 128) and cfg.model.stride == 11 and cfg.model.embed_dim == 768
    assert (cfg.data.p, cfg.data.k, cfg.train.epochs) == (16, 4, 120)
    assert cfg.optim.lr == pytest.approx(0.008) and cfg.optim.weight_decay == pytest.approx(1e-4)
    reid = load_config(CONFIGS / "paper" / "occluded_reid.yaml")
    assert (reid.data.name, reid.data.test_name) == ("market1501", "occluded_reid")


# TransReID's STRIDE_SIZE per data set (configs/<dataset>/vit_transreid_stride.yml; docs/training.md).
PAPER_STRIDES = {
    "occluded_duke": 11,
    "market1501": 12,
    "dukemtmc": 12,
    "msmt17": 12,
    "occluded_reid": 12,
    "p_dukemtmc": 12,
}


@pytest.mark.parametrize("name", sorted(PAPER_STRIDES))
def test_paper_presets_pin_the_papers_hyper_parameters(name: str) -> None:
    cfg = load_config(CONFIGS / "paper" / f"{name}.yaml")
    m, loss = cfg.model, cfg.loss
    assert (loss.alpha, loss.beta, loss.mu1, loss.mu2) == (0.3, 0.4, 0.5, 0.5)  # §4.2
    assert (m.gamma1, m.gamma2) == (3.0, 3.0)
    assert (m.num_parts, m.num_coarse, cfg.parsing.lam) == (8, 4, 5.0)  # K, C, lambda
    assert (m.embed_dim, m.patch_size, m.image_size) == (768, 16, (256, 128))
    assert m.stride == PAPER_STRIDES[name]
    assert (m.oavit, m.fep, m.kd, m.mask, m.decoder) == (True, "teacher", True, "agent", "customized")
    assert loss.mse and loss.cos and loss.kd and loss.kl


def test_ablation_rows_change_only_their_switch() -> None:
    full = load_config(CONFIGS / "ablation" / "table4_6_ogfr.yaml")
    base = load_config(CONFIGS / "ablation" / "table4_1_baseline.yaml")
    assert (base.model.oavit, base.model.fep, base.model.kd) == (False, "none", False)
    assert (base.data.occlusion_p, full.data.occlusion_p) == (0.5, 1.0)  # single branch: half occluded
    assert (full.model.oavit, full.model.fep, full.model.kd) == (True, "teacher", True)
    assert load_config(CONFIGS / "ablation" / "table7_lambda_15.yaml").parsing.lam == 15.0
    assert load_config(CONFIGS / "ablation" / "fig4_c8.yaml").model.num_coarse == 8
    no_kl = load_config(CONFIGS / "ablation" / "table8_3_no_kl.yaml").loss
    assert no_kl.kl is False and no_kl.kd and no_kl.mse and no_kl.cos  # drops the KL term alone
    assert load_config(CONFIGS / "ablation" / "table5_mask_random.yaml").model.mask == "random"
    # everything else equals the full model
    row = load_config(CONFIGS / "ablation" / "table6_decoder_conventional.yaml")
    a, b = to_dict(row), to_dict(full)
    a["model"].pop("decoder"), b["model"].pop("decoder")
    assert a == b


def test_base_inheritance_deep_merges(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(
        "model:\n  depth: 3\n  embed_dim: 96\n  num_heads: 3\ntrain:\n  epochs: 7\n"
    )
    (tmp_path / "b.yaml").write_text("base: a.yaml\nmodel:\n  depth: 5\n")
    cfg = load_config(tmp_path / "b.yaml")
    assert (cfg.model.depth, cfg.model.embed_dim, cfg.train.epochs) == (5, 96, 7)


def test_base_loop_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("base: y.yaml\n")
    (tmp_path / "y.yaml").write_text("base: x.yaml\n")
    with pytest.raises(ValueError, match="loops"):
        load_config(tmp_path / "x.yaml")
    with pytest.raises(FileNotFoundError, match="nope.yaml"):
        load_config(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("train: [1, 2\n")
    with pytest.raises(ValueError, match="not valid YAML"):
        load_config(tmp_path / "bad.yaml")


def test_overrides_are_typed() -> None:
    cfg = load_config(
        CONFIGS / "tiny.yaml",
        [
            "model.depth=3",
            "optim.lr=1e-3",
            "model.image_size=[128,64]",
            "train.amp=bf16",
            "loss.triplet_margin=0.3",
        ],
    )
    assert cfg.model.depth == 3 and isinstance(cfg.model.depth, int)
    assert cfg.optim.lr == pytest.approx(1e-3)  # YAML 1.1 reads "1e-3" as a string: converted
    assert cfg.model.image_size == (128, 64)
    assert cfg.train.amp == "bf16" and cfg.loss.triplet_margin == pytest.approx(0.3)
    assert load_config(CONFIGS / "tiny.yaml", ["loss.triplet_margin=null"]).loss.triplet_margin is None
    assert load_config(CONFIGS / "tiny.yaml", ["model.label_size=16x8"]).model.label_size == (16, 8)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.epochs=abc", "'train.epochs': expected an integer, got 'abc'"),
        ("train.epochs=2.5", "expected an integer"),
        ("model.oavit=maybe", "'model.oavit': expected a boolean"),
        ("model.fep=teachr", "expected one of \\['teacher', 'student', 'both', 'none'\\]"),
        ("model.image_size=[1,2,3]", "expected 2 values"),
        ("optim.lr=fast", "'optim.lr': expected a number"),
        ("train.epochs", "expected section.key=value"),
    ],
)
def test_wrong_types_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_config(CONFIGS / "tiny.yaml", [override])


def test_unknown_keys_list_close_matches(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown config key 'model.dpeth'; did you mean model.depth"):
        parse_overrides(["model.dpeth=3"])
    with pytest.raises(ValueError, match=r"unknown config key 'lr'; did you mean optim.lr"):
        parse_overrides(["lr=0.1"])
    (tmp_path / "typo.yaml").write_text("train:\n  epoch: 3\n")
    with pytest.raises(ValueError, match=r"'train.epoch'; did you mean train.epochs"):
        load_config(tmp_path / "typo.yaml")
    (tmp_path / "misplaced.yaml").write_text("train:\n  lr: 0.1\n")
    with pytest.raises(ValueError, match=r"'train.lr'.*optim.lr"):
        load_config(tmp_path / "misplaced.yaml")


def test_section_validation_errors() -> None:
    with pytest.raises(ValueError, match="data.p and data.k"):
        load_config(None, ["data.k=1"])
    with pytest.raises(ValueError, match="embed_dim"):
        load_config(None, ["model.embed_dim=100", "model.num_heads=3"])


def test_resolved_config_round_trips(tmp_path: Path) -> None:
    cfg = load_config(CONFIGS / "demo.yaml", ["train.epochs=3"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    again = load_config(path)
    assert to_dict(again) == to_dict(cfg) and again.train.epochs == 3
    assert from_dict(Config, to_dict(cfg)) == cfg
    assert [p.name for p in path.parent.iterdir()] == ["config.yaml"]  # no temp file left

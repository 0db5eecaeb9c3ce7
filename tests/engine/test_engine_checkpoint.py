"""Checkpoints: atomic round trip, refusal of truncated / foreign files, RNG capture, inference loading."""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import numpy as np
import pytest
import torch

from ogfr.engine.checkpoint import (
    capture_rng,
    load_checkpoint,
    load_for_inference,
    restore_rng,
    save_checkpoint,
)
from ogfr.engine.config import Config, load_config, to_dict
from ogfr.model import OGFR

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory) -> tuple[Path, Config, OGFR]:
    cfg = load_config(CONFIGS / "tiny.yaml")
    torch.manual_seed(0)
    model = OGFR(cfg.model, num_classes=5, num_cameras=3)
    path = tmp_path_factory.mktemp("ckpt") / "best.pt"
    meta = {"num_classes": 5, "num_cameras": 3, "epoch": 1, "step": 4, "batch_in_epoch": 0}
    save_checkpoint(path, {"model": model.state_dict(), "config": to_dict(cfg), "meta": meta})
    return path, cfg, model


def test_round_trip_and_no_temp_files(tiny_ckpt) -> None:
    path, cfg, model = tiny_ckpt
    data = load_checkpoint(path)
    assert data["format"] == "ogfr-checkpoint" and data["meta"]["step"] == 4
    assert data["config"] == to_dict(cfg)
    for k, v in model.state_dict().items():
        assert torch.equal(data["model"][k], v), k
    assert sorted(p.name for p in path.parent.iterdir()) == ["best.pt"]


def test_load_for_inference_rebuilds_the_student(tiny_ckpt) -> None:
    path, cfg, model = tiny_ckpt
    loaded, cfg2, meta = load_for_inference(path)
    assert not loaded.training and meta["num_classes"] == 5 and to_dict(cfg2) == to_dict(cfg)
    model.eval()
    img = torch.randn(2, 3, *cfg.model.image_size)
    z = torch.tensor([[0, 0, 0, 0], [0, 1, 0, 1]])
    cam = torch.tensor([0, 2])
    with torch.no_grad():
        a, b = model(img, z, cam), loaded(img, z, cam)
    assert torch.equal(a["global"], b["global"]) and torch.equal(a["visibility"], b["visibility"])


def test_stored_code_settings_and_the_fallback_for_old_checkpoints(tiny_ckpt, tmp_path: Path) -> None:
    path, cfg, model = tiny_ckpt
    # written without them (as before they were stored): those of the config it carries
    _, _, meta = load_for_inference(path)
    assert meta["occlusion_code"] == {"num_coarse": 4, "lam": 5.0, "label_size": [32, 16]}
    data = load_checkpoint(path)
    data["config"]["parsing"]["lam"] = 9.0  # the stored value wins over the config
    data["meta"]["occlusion_code"] = {"num_coarse": 4, "lam": 7.0, "label_size": [32, 16]}
    stored = tmp_path / "stored.pt"
    save_checkpoint(stored, {k: v for k, v in data.items() if k not in ("format", "version")})
    assert load_for_inference(stored)[2]["occlusion_code"]["lam"] == 7.0
    data["meta"]["occlusion_code"] = {"num_coarse": 2, "lam": 7.0, "label_size": [32, 16]}
    save_checkpoint(stored, {k: v for k, v in data.items() if k not in ("format", "version")})
    with pytest.raises(ValueError, match="stored occlusion code has C = 2, the model takes C = 4"):
        load_for_inference(stored)
    data["meta"]["occlusion_code"] = {"lam": 7.0}
    save_checkpoint(stored, {k: v for k, v in data.items() if k not in ("format", "version")})
    with pytest.raises(ValueError, match="stored.pt: occlusion-code settings must hold"):
        load_for_inference(stored)


def test_truncated_checkpoint_is_refused(tiny_ckpt, tmp_path: Path) -> None:
    path, _, _ = tiny_ckpt
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"cut\.pt: not a readable ogfr checkpoint \(truncated"):
        load_checkpoint(cut)
    with pytest.raises(ValueError, match="not a readable ogfr checkpoint"):
        load_for_inference(cut)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty.pt"):
        load_checkpoint(empty)


def test_foreign_files_are_refused(tmp_path: Path) -> None:
    plain = tmp_path / "imagenet.pth"
    torch.save({"patch_embed.proj.weight": torch.zeros(2)}, plain)  # e.g. backbone weights
    with pytest.raises(ValueError, match="not an ogfr checkpoint.*train.pretrained"):
        load_checkpoint(plain)
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps(Path("/etc/passwd"), protocol=2))  # a pickle with a global: never unpickled
    with pytest.raises(ValueError, match="evil.pt: not a readable ogfr checkpoint"):
        load_checkpoint(evil)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(ValueError, match="notes.pt"):
        load_checkpoint(text)
    with pytest.raises(FileNotFoundError, match="missing.pt"):
        load_checkpoint(tmp_path / "missing.pt")
    with pytest.raises(ValueError, match="is a folder"):
        load_checkpoint(tmp_path)
    partial = tmp_path / "partial.pt"
    save_checkpoint(partial, {"model": {}})
    with pytest.raises(ValueError, match="lacks its 'config' entry"):
        load_checkpoint(partial)


def test_weights_that_do_not_fit_the_config_are_refused(tiny_ckpt, tmp_path: Path) -> None:
    path, cfg, _ = tiny_ckpt
    data = load_checkpoint(path)
    data["config"]["model"]["depth"] = 3
    other = tmp_path / "other.pt"
    save_checkpoint(other, {k: v for k, v in data.items() if k not in ("format", "version")})
    with pytest.raises(ValueError, match="do not fit the model"):
        load_for_inference(other)


def test_rng_capture_restores_every_generator(tmp_path: Path) -> None:
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = capture_rng()
    save_checkpoint(tmp_path / "rng.pt", {"model": {}, "config": {}, "meta": {}, "rng": state})
    first = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng(load_checkpoint(tmp_path / "rng.pt")["rng"])
    second = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], second[0]) and np.array_equal(first[1], second[1]) and first[2] == second[2]

"""Hostile input to `ogfr train` / `ogfr synth`: divergence, presets, run folders, weights, resume."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
import torch
from hostile_files import TINY, evil_pickle, no_unpickling_advice, refused, tiny_config, write_tiny_checkpoint


def _train(root: Path, out: Path, *overrides: str) -> list[str]:
    return ["train", "--config", TINY, f"data.root={root}", *overrides, "--out", out, "--no-progress"]


def test_a_huge_learning_rate_stops_with_the_divergence_message(synth_root, tmp_path, capsys):
    """Issue 13 item 2: with the default (agent) model the first symptom is NaN agent logits in fep.py."""
    run = tmp_path / "run"
    refused(capsys, _train(synth_root, run, "optim.lr=1e9"), "at step", "stopped without writing", rc=3)
    assert not (run / "last.pt").exists()


def test_non_finite_agent_probabilities_are_a_specific_error():
    from ogfr.model import OGFRConfig
    from ogfr.model.fep import FEP, NonFiniteError

    fep = FEP(OGFRConfig(embed_dim=16, depth=1, num_heads=2)).train()
    state = torch.zeros(2, 5, 9)
    state[1, 3, 0] = float("nan")
    with torch.no_grad():
        fep.agent.fc.weight.fill_(1.0)
    with pytest.raises(NonFiniteError, match="agent"):
        fep.decide(state, None)
    assert fep.eval().decide(state, None).keep.shape == (2, 5)  # no sampling in eval: no check needed


def test_a_non_finite_gradient_with_a_finite_loss_stops_the_run(synth_root, tmp_path, monkeypatch):
    from ogfr.engine import TrainingDiverged, train

    engine_train = importlib.import_module(
        "ogfr.engine.train"
    )  # the module (ogfr.engine.train is the function)

    build = engine_train.build_model

    def poisoned(*args, **kwargs):
        model = build(*args, **kwargs)
        model.backbone.cls_token.register_hook(lambda g: torch.full_like(g, float("inf")))
        return model

    monkeypatch.setattr(engine_train, "build_model", poisoned)
    cfg = tiny_config(synth_root, "train.epochs=1", "train.steps_per_epoch=2")
    with pytest.raises(TrainingDiverged, match=r"the gradient norm is inf at step 1 \(epoch 1, batch 1\)"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_preset_section_that_is_not_a_mapping_is_an_error(tmp_path, capsys):
    """Issue 13 item 7: `data: [1, 2]` under `base: tiny` used to drop the base's whole data section."""
    preset = tmp_path / "bad.yaml"
    preset.write_text(f"base: {TINY}\ndata: [1, 2]\n")
    refused(
        capsys, ["train", "--config", preset, "--out", tmp_path / "run"], str(preset), "'data'", "mapping"
    )
    assert not (tmp_path / "run").exists()


def test_overrides_after_an_option_are_accepted(synth_root, tmp_path, capsys, monkeypatch):
    """Issue 13 item 7: `ogfr train --config c a=b --out X c=d` was rejected as "unrecognized arguments"."""
    import ogfr.engine as engine

    seen = {}
    monkeypatch.setattr(engine, "train", lambda cfg, out, **kw: seen.update(cfg=cfg, out=out) or _NoResult())
    argv = ["train", "--config", TINY, f"data.root={synth_root}", "--out", tmp_path / "x", "train.epochs=7"]
    assert refused(capsys, argv, rc=0) == ""
    assert seen["cfg"].train.epochs == 7 and seen["cfg"].data.root == str(synth_root)
    assert seen["out"] == tmp_path / "x"


class _NoResult:
    final: dict = {}
    steps = 0
    best: dict = {}


@pytest.mark.parametrize("where", ["equal", "under"])
@pytest.mark.parametrize("command", ["synth", "train", "parse"])
def test_out_at_or_under_a_regular_file_is_refused(command, where, synth_root, tmp_path, capsys):
    """Issue 13 item 4: FileExistsError tracebacks from synth / train / parse."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    out = blocker if where == "equal" else blocker / "sub" / "out"
    argv = {
        "synth": ["synth", "--preset", "tiny", "--out", out],
        "train": _train(synth_root, out),
        "parse": ["parse", "--dataset", synth_root, "--backend", "synthetic", "--out", out, "--no-progress"],
    }[command]
    refused(capsys, argv, str(blocker), "not a folder")
    assert blocker.read_text() == "a file, not a folder" and sorted(tmp_path.iterdir()) == [blocker]


def test_an_invalid_safetensors_file_as_pretrained_weights(synth_root, tmp_path, capsys):
    bad = tmp_path / "vit.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not a header}")
    argv = _train(synth_root, tmp_path / "run", f"train.pretrained={bad}")
    refused(capsys, argv, f"{bad}: not a readable weights file", "safetensors")


@pytest.mark.parametrize(
    ("width", "tokens"), [(384, 1 + 14 * 14), (32, 1 + 8 * 4)], ids=["vit-small-imagenet", "ogfr-width-32"]
)
def test_vit_weights_of_another_width_name_the_file_and_the_cause(
    synth_root, tmp_path, capsys, width, tokens
):
    """Into the width-64 tiny model: ViT-S/16 ImageNet-shaped weights, and a width-32 OGFR backbone's (its
    8 x 4 grid gave "cannot tell the patch grid of a pos_embed with 33 tokens", naming neither file nor cause)."""
    from safetensors.torch import save_file

    state = {
        "cls_token": torch.zeros(1, 1, width),
        "pos_embed": torch.zeros(1, tokens, width),
        "patch_embed.proj.weight": torch.zeros(width, 3, 16, 16),
        "blocks.0.norm1.weight": torch.ones(width),
        "blocks.0.attn.qkv.weight": torch.zeros(3 * width, width),
    }
    path = tmp_path / "vit_small.safetensors"
    save_file(state, str(path))
    argv = _train(synth_root, tmp_path / "run", f"train.pretrained={path}")
    refused(capsys, argv, str(path), f"ViT weights of width {width}", "model.embed_dim=64")


def test_pickled_code_as_pretrained_weights_is_never_run(synth_root, tmp_path, capsys):
    marker = tmp_path / "code-ran"
    evil = evil_pickle(tmp_path / "vit.pth", marker)
    err = refused(capsys, _train(synth_root, tmp_path / "run", f"train.pretrained={evil}"), str(evil))
    assert not marker.exists()
    no_unpickling_advice(err)  # issue 13 item 10: no advice to unpickle


def _resumable(run: Path, root: Path, *overrides: str) -> None:
    """A run folder holding config.yaml and a last.pt that resumes (one epoch of two done)."""
    from ogfr.engine import train

    cfg = tiny_config(root, "train.epochs=1", "train.steps_per_epoch=1", "train.eval_every=0", *overrides)
    train(cfg, run, progress=False)
    text = (run / "config.yaml").read_text().replace("epochs: 1\n", "epochs: 2\n")
    (run / "config.yaml").write_text(text)


def test_resume_with_a_last_pt_of_another_model_size(synth_root, tmp_path, capsys):
    run = tmp_path / "run"
    _resumable(run, synth_root)
    before = (run / "last.pt").read_bytes()
    refused(capsys, ["train", "--resume", run, "model.embed_dim=32"], f"{run / 'last.pt'}", "embed_dim")
    assert (run / "last.pt").read_bytes() == before


def test_resume_from_a_pickle_with_code_is_never_run(synth_root, tmp_path, capsys):
    run = tmp_path / "run"
    _resumable(run, synth_root)
    marker = tmp_path / "code-ran"
    evil_pickle(run / "last.pt", marker)
    err = refused(capsys, ["train", "--resume", run], f"{run / 'last.pt'}: not a readable ogfr checkpoint")
    assert not marker.exists()
    no_unpickling_advice(err)


def test_checkpoint_helper_fits_the_synthetic_set(synth_root, tmp_path):
    """The untrained checkpoint the other hostile tests use loads for inference (guards the helper)."""
    from ogfr.engine.checkpoint import load_for_inference

    model, cfg, meta = load_for_inference(write_tiny_checkpoint(tmp_path / "c.pt", synth_root))
    assert cfg.model.embed_dim == 64 and meta["num_cameras"] == 3 and not model.training


def test_preset_and_override_refusals_that_hold(synth_root, tmp_path, capsys):
    """Unknown keys (with close matches), wrong types, invalid YAML, a `base:` loop, a missing preset."""
    out = ["--out", tmp_path / "run"]
    refused(capsys, ["train", "--config", TINY, "model.dpeth=3", *out], "did you mean model.depth")
    refused(capsys, ["train", "--config", TINY, "train.epochs=many", *out], "'train.epochs'", "an integer")
    refused(capsys, ["train", "--config", TINY, "epochs", *out], "expected section.key=value")
    broken = tmp_path / "broken.yaml"
    broken.write_text("model: {depth: [unclosed\n")
    refused(capsys, ["train", "--config", broken, *out], f"config {broken}: not valid YAML")
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    refused(capsys, ["train", "--config", tmp_path / "a.yaml", *out], "inheritance loops")
    refused(capsys, ["train", "--config", tmp_path / "absent.yaml", *out], "config file not found")
    assert not (tmp_path / "run").exists()

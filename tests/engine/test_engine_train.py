"""The training loop end to end on the tiny synthetic set: outputs, learning, NaN stop."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ogfr.engine import TrainingDiverged, load_checkpoint, load_config, load_for_inference, train
from ogfr.engine.build import build_model, ensure_labels, load_data
from ogfr.engine.evaluate import split_features
from ogfr.engine.features import CachedLabels, FeatureExtractor

from .conftest import TINY, tiny_overrides


def test_run_folder_contents(trained_run) -> None:
    out, result, cfg = trained_run
    assert {"config.yaml", "last.pt", "best.pt", "metrics.jsonl", "curves.png"} <= {
        p.name for p in out.iterdir()
    }
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2] and [r["step"] for r in rows] == [12, 24]
    for row in rows:  # every loss term of eq. 17-23 + REINFORCE, lr, metrics, speed
        for key in ("total", "mse", "cos", "kd", "en", "tr", "mask", "reinforce", "lr", "images_per_s"):
            assert key in row and row[key] == row[key], key
        assert 0.0 <= row["rank1"] <= 1.0 and 0.0 < row["mAP"] <= 1.0
    assert rows[0]["lr"] > rows[1]["lr"] > 0  # cosine decay
    last = load_checkpoint(out / "last.pt")
    assert last["meta"]["epoch"] == 2 and last["meta"]["step"] == 24 and last["meta"]["batch_in_epoch"] == 0
    assert last["meta"]["occlusion_code"] == {"num_coarse": 4, "lam": 5.0, "label_size": [32, 16]}
    assert result.codes is not None and result.codes.as_dict() == last["meta"]["occlusion_code"]
    q = result.query_features  # the last evaluation's record, with its metadata
    assert q is not None and q.paths is not None and len(q.paths) == len(q) and q.z.shape == (len(q), 4)
    assert {"optimizer", "criterion", "rng"} <= set(last)
    best = load_checkpoint(out / "best.pt")
    assert "optimizer" not in best and best["meta"]["best"]["mAP"] == max(r["mAP"] for r in rows)
    assert result.steps == 24 and result.final["mAP"] == rows[-1]["mAP"]
    assert load_config(out / "config.yaml") == cfg
    from PIL import Image

    with Image.open(out / "curves.png") as im:
        assert im.size[0] > 800 and im.size[1] > 200


def test_agent_diagnostics_in_every_epoch_row(trained_run) -> None:
    out, _, cfg = trained_run
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    # the untrained agent's score (the control), once, in the first row
    assert 0.0 <= rows[0]["stat_noise_auc_holistic_init"] <= 1.0
    assert not any("stat_noise_auc_holistic_init" in row for row in rows[1:])
    for row in rows:
        assert 0.0 < row["stat_m_mean_hp"] < 1.0 and row["stat_m_std_hp"] >= 0.0
        assert 0.0 < row["stat_entropy_hp"] <= 0.6932  # Bernoulli entropy, at most log 2 nats
        assert 0.0 <= row["stat_noise_auc_hp"] <= 1.0  # the tiny set has scene labels (ground truth)
        assert 0.0 <= row["stat_noise_auc_holistic"] <= 1.0
        assert len(row["stat_agent_g_hp"]) == cfg.model.num_parts + 1
        for key in (
            "stat_reward_hp",
            "stat_reward_std_hp",
            "stat_p_m_hp",
            "stat_p_b_hp",
            "stat_keep_ratio_hp",
        ):
            assert key in row, key
    agent = load_checkpoint(out / "last.pt")["model"]
    g = agent["teacher.head.agent.fc.weight"].flatten().tolist()
    assert rows[-1]["stat_agent_g_hp"] == pytest.approx(g, abs=1e-6)  # logged with 6 decimals
    assert rows[-1]["stat_agent_bias_hp"] == pytest.approx(float(agent["teacher.head.agent.fc.bias"]))


def _leave_one_out_map(model, cfg, data, labels, samples) -> float:
    """mAP of retrieving each image among the others (itself excluded), eq. 25 distances."""
    from ogfr.engine.build import code_settings
    from ogfr.metrics import evaluate_distmat, feature_distance

    extractor = FeatureExtractor(model, code_settings(cfg), labels=CachedLabels(labels))
    f = split_features(extractor, samples, progress=False)
    d = feature_distance(f, f)  # eq. 25
    own = torch.arange(len(d))  # one "camera" per image: the protocol then drops only the image itself
    return evaluate_distmat(d, f.pids, f.pids, own, own).mAP


def test_two_epochs_improve_map_over_the_untrained_model(trained_run) -> None:
    """Seen identities, every training image as a query: mAP rises over the same model untrained.

    (With 6 training identities and 24 steps the held-out split is noise; the demo measures it.)
    """
    out, result, cfg = trained_run
    data = load_data(cfg)
    labels = ensure_labels(cfg, data.root, data.train, data.name)
    torch.manual_seed(cfg.train.seed)
    untrained = build_model(cfg, data.num_train_pids, data.num_cameras)
    trained, _, _ = load_for_inference(out / "last.pt")
    before = _leave_one_out_map(untrained, cfg, data, labels, data.train)
    after = _leave_one_out_map(trained, cfg, data, labels, data.train)
    assert after > before + 0.02, (before, after)
    rows = result.history
    assert rows[1]["total"] < rows[0]["total"] and rows[1]["tr"] < rows[0]["tr"]


def test_an_existing_run_is_not_overwritten(trained_run) -> None:
    out, _, cfg = trained_run
    with pytest.raises(ValueError, match="already holds a run"):
        train(cfg, out, progress=False)


def test_nan_loss_stops_naming_the_term_and_step(synth_root: Path, tmp_path: Path, monkeypatch) -> None:
    import ogfr.losses

    original = ogfr.losses.OGFRCriterion.__call__
    calls = {"n": 0}

    def poisoned(self, outputs, batch):
        losses = original(self, outputs, batch)
        calls["n"] += 1
        if calls["n"] == 3:
            losses["mse"] = losses["mse"] * float("nan")
            losses["total"] = losses["total"] + losses["mse"]
        return losses

    monkeypatch.setattr(ogfr.losses.OGFRCriterion, "__call__", poisoned)
    cfg = load_config(TINY, tiny_overrides(synth_root, "train.checkpoint_every=1"))
    with pytest.raises(TrainingDiverged, match=r"loss term 'mse' is nan at step 3 \(epoch 1, batch 3\)"):
        train(cfg, tmp_path / "run", progress=False)
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    assert last["meta"]["step"] == 2  # the poisoned step was never saved
    assert all(torch.isfinite(v).all() for v in last["model"].values() if v.is_floating_point())


class _OneStep(Exception):
    """Raised by the spy after the first training batch (no need to train further)."""


def test_z_o_follows_the_pasted_obstacle_in_a_training_step(
    synth_root: Path, tmp_path: Path, monkeypatch
) -> None:
    """The batch the model trains on: the occluded view is the holistic one with an obstacle pasted,
    its labels are the holistic ones with the pasted area set to background, and z_o is eq. 2 of those
    labels, so an obstacle can only turn parts occluded (z_o >= z_h) and does so for some images."""
    from ogfr.model import OGFR
    from ogfr.parsing import occlusion_code

    seen: dict[str, torch.Tensor] = {}

    def spy(self, batch, agent=True):
        seen.update(batch)
        raise _OneStep

    monkeypatch.setattr(OGFR, "forward_train", spy)
    cfg = load_config(TINY, tiny_overrides(synth_root))
    assert cfg.data.occlusion_p == 1.0
    with pytest.raises(_OneStep):
        train(cfg, tmp_path / "run", progress=False)
    img_h, img_o, lab_h, lab_o = seen["img_h"], seen["img_o"], seen["labels_h"], seen["labels_o"]
    assert (img_o != img_h).flatten(1).any(1).all()  # every image got an obstacle (p = 1)
    assert ((lab_o == lab_h) | (lab_o == 0)).all()  # pasted label pixels became background, nothing else
    assert (lab_o != lab_h).any()
    known = (lab_h >= 0).flatten(1).any(1)
    assert known.all()  # the synthetic set has labels for every image
    c, lam = cfg.model.num_coarse, cfg.parsing.lam
    assert torch.equal(seen["z_h"].cpu(), occlusion_code(lab_h, num_coarse=c, lam=lam))  # eq. 2
    assert torch.equal(seen["z_o"].cpu(), occlusion_code(lab_o, num_coarse=c, lam=lam))
    assert (seen["z_o"] >= seen["z_h"]).all() and (seen["z_o"] > seen["z_h"]).any()

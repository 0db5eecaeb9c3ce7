"""`ogfr eval` / `ogfr extract` / `ogfr train` CLI on a trained tiny run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ogfr.cli import main
from ogfr.engine import load_for_inference
from ogfr.engine.build import ensure_labels
from ogfr.engine.evaluate import split_features
from ogfr.engine.features import CachedLabels, FeatureExtractor
from ogfr.parsing import CodeSettings


def _direct(run: Path, synth_root: Path):
    """Features and metrics computed by hand with ogfr.metrics on the same model and labels."""
    from ogfr.data import load_dataset
    from ogfr.metrics import evaluate

    model, cfg, meta = load_for_inference(run / "best.pt")
    data = load_dataset("synthetic", synth_root)
    labels = ensure_labels(cfg, data.root, [*data.query, *data.gallery], data.name)
    codes = CodeSettings.from_dict(meta["occlusion_code"])
    extractor = FeatureExtractor(model, codes, labels=CachedLabels(labels))
    q = split_features(extractor, data.query, progress=False)
    g = split_features(extractor, data.gallery, progress=False)
    res = evaluate(q, g, q.pids, g.pids, q.camids, g.camids)
    return q, res


def test_eval_command_equals_metrics_on_the_same_features(
    trained_run, synth_root: Path, tmp_path, capsys
) -> None:
    run, _, _ = trained_run
    out = tmp_path / "results.json"
    assert (
        main(["eval", "--checkpoint", str(run / "best.pt"), "--dataset", str(synth_root), "--out", str(out)])
        == 0
    )
    printed = capsys.readouterr().out
    assert "Rank-1" in printed and "mAP" in printed
    got = json.loads(out.read_text())
    _, res = _direct(run, synth_root)
    assert got["rank1"] == res.rank1 and got["mAP"] == res.mAP and got["mINP"] == res.mINP
    assert got["results"]["cmc"] == [float(x) for x in res.cmc] and got["parts"] is True
    assert f"{100 * res.mAP:.2f}" in printed


def test_eval_without_parts_uses_the_global_feature(trained_run, synth_root: Path, tmp_path) -> None:
    run, _, _ = trained_run
    out = tmp_path / "global.json"
    args = [
        "eval",
        "--checkpoint",
        str(run / "best.pt"),
        "--dataset",
        str(synth_root),
        "--no-parts",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    got = json.loads(out.read_text())
    assert got["parts"] is False and got["results"]["settings"].get("parts", False) in (False, None, "off")


def test_a_lam_flag_overrides_the_stored_value_with_a_warning(
    trained_run, synth_root: Path, tmp_path, caplog
) -> None:
    import logging

    run, _, _ = trained_run
    out = tmp_path / "lam.json"
    args = ["eval", "--checkpoint", str(run / "best.pt"), "--dataset", str(synth_root), "--out", str(out)]
    with caplog.at_level(logging.WARNING):
        assert main([*args, "--lam", "5"]) == 0
        assert "instead of" not in caplog.text  # the stored value again: no warning
        assert main([*args, "--lam", "40"]) == 0
    assert "--lam: lambda = 40 instead of the 5 stored with the model" in caplog.text
    assert json.loads(out.read_text())["occlusion_code"]["lam"] == 40.0


def test_extract_writes_features_and_ids(trained_run, synth_root: Path, tmp_path) -> None:
    from safetensors.torch import load_file

    run, _, _ = trained_run
    out = tmp_path / "feats" / "query.safetensors"
    args = ["extract", "--checkpoint", str(run / "best.pt"), "--dataset", str(synth_root), "--split", "query"]
    assert main([*args, "--out", str(out)]) == 0
    tensors = load_file(str(out))
    side = json.loads(out.with_suffix(".json").read_text())
    q, _ = _direct(run, synth_root)
    assert torch.equal(tensors["global"], q.global_) and torch.equal(tensors["parts"], q.parts)
    assert torch.equal(tensors["visibility"].bool(), q.visibility) and torch.equal(tensors["z"], q.z)
    assert side["paths"] == list(q.paths) and side["pids"] == q.pids.tolist()
    assert side["occlusion_code"] == {"num_coarse": 4, "lam": 5.0, "label_size": [32, 16]}
    norms = tensors["global"].norm(dim=1).numpy()
    assert np.allclose(norms, 1.0, atol=1e-5)  # L2-normalised


def test_cli_errors_are_clear(trained_run, synth_root: Path, tmp_path, capsys) -> None:
    run, _, _ = trained_run
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    assert main(["eval", "--checkpoint", str(bad), "--dataset", str(synth_root)]) == 1
    assert "bad.pt: not a readable ogfr checkpoint" in capsys.readouterr().err
    assert main(["train", "--config", "configs/tiny.yaml", "model.dpeth=3"]) == 1
    assert "did you mean model.depth" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 1
    assert "no last.pt" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--dataset", str(synth_root)])  # --checkpoint is required

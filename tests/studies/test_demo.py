"""`ogfr demo` end to end at test size: both methods trained with one budget, report and figures written."""

from __future__ import annotations

from pathlib import Path

from ogfr.studies.demo import BASELINE_OVERRIDES, run_demo

TINY_MODEL = [
    "model.image_size=[64,32]",
    "model.patch_size=8",
    "model.patch_embed=overlap",
    "model.stride=8",
    "model.embed_dim=64",
    "model.depth=2",
    "model.num_heads=2",
    "model.label_size=[32,16]",
    "data.p=4",
    "data.num_workers=0",
    "data.obstacle_bank=16",
    "train.epochs=1",
    "train.steps_per_epoch=2",
]


def test_demo_writes_report_with_both_methods(synth_root: Path, tmp_path: Path) -> None:
    res = run_demo(tmp_path / "demo", data=synth_root, overrides=TINY_MODEL, progress=False)
    assert set(res.results) == {"OGFR", "baseline"}
    for r in res.results.values():
        assert 0.0 <= r["rank1"] <= 1.0 and 0.0 < r["mAP"] <= 1.0
    report = res.report.read_text()
    assert "| OGFR |" in report and "| baseline |" in report and " ".join(BASELINE_OVERRIDES) in report
    assert "1 epochs x 2 steps of 4 x 4 images" in report
    assert "## Erasing agent (teacher)" in report and "| noise AUC of 1 - m, training batches |" in report
    import torch

    kernels = f"{torch.get_num_threads()} threads and {torch.backends.cpu.get_cpu_capability()} CPU kernels"
    assert kernels in report  # what the numbers depend on besides the seed (README, Reproducibility)
    for name in (
        "results.png",
        "ranked.png",
        "visibility.png",
        "erasing.png",
        "results.json",
        "ogfr/curves.png",
    ):
        assert (tmp_path / "demo" / name).is_file(), name
        assert f"({name})" in report or not name.endswith(".png"), name  # every figure is in the report
    from ogfr.engine import load_checkpoint

    base = load_checkpoint(tmp_path / "demo" / "baseline" / "last.pt")
    assert base["config"]["model"]["kd"] is False and base["meta"]["step"] == 2  # same budget as OGFR
    assert load_checkpoint(tmp_path / "demo" / "ogfr" / "last.pt")["meta"]["step"] == 2


def test_model_figures_of_a_run(synth_root: Path, tmp_path: Path) -> None:
    from types import SimpleNamespace

    import torch
    from PIL import Image

    from ogfr.engine.config import preset_model
    from ogfr.metrics import Features
    from ogfr.model import OGFR
    from ogfr.parsing import CodeSettings
    from ogfr.studies.demo import model_figures
    from ogfr.viz.erasing import erasing_figure_size
    from ogfr.viz.visibility import visibility_figure_size

    torch.manual_seed(0)
    model = OGFR(preset_model("tiny"), num_classes=5, num_cameras=3).eval()
    paths = sorted(str(p) for p in (synth_root / "query").glob("*.jpg"))[:6]
    feats = Features(  # the record of a run's last evaluation: codes and cameras travel with it
        torch.randn(6, 4),
        z=torch.zeros(6, 4, dtype=torch.long),
        camids=torch.tensor([0, 1, 2, 0, 1, 2]),
        paths=paths,
    )
    run = SimpleNamespace(model=model, query_features=feats, codes=CodeSettings(label_size=(32, 16)))
    made = model_figures(tmp_path, run, num_images=2)
    assert [p.name for p in made] == ["visibility.png", "erasing.png"]
    assert Image.open(made[0]).size == visibility_figure_size(2)
    assert Image.open(made[1]).size == erasing_figure_size(2)


def test_demo_data_cache_is_rebuilt_when_the_demo_settings_change(tmp_path: Path, monkeypatch) -> None:
    import dataclasses

    from ogfr.data.synth import SynthConfig, read_settings
    from ogfr.studies.demo import demo_data_dir, ensure_demo_data

    monkeypatch.setenv("OGFR_CACHE", str(tmp_path / "cache"))
    settings = {"cfg": SynthConfig.tiny()}
    monkeypatch.setattr(SynthConfig, "demo", classmethod(lambda cls, seed=0: settings["cfg"]))
    root = ensure_demo_data(None)
    assert root == demo_data_dir(0) and root.is_relative_to(tmp_path / "cache")
    assert read_settings(root)["config"]["camera_shift"] == 1.0
    stamp = (root / "synth.json").stat().st_mtime_ns
    assert ensure_demo_data(None) == root and (root / "synth.json").stat().st_mtime_ns == stamp  # reused
    settings["cfg"] = dataclasses.replace(SynthConfig.tiny(), camera_shift=0.3)  # a new calibration
    assert ensure_demo_data(None) == root
    assert read_settings(root)["config"]["camera_shift"] == 0.3  # the stale cache was regenerated
    # a folder the user names is used with whatever settings it holds
    settings["cfg"] = SynthConfig.tiny()
    assert ensure_demo_data(root) == root and read_settings(root)["config"]["camera_shift"] == 0.3

"""`benchmarks/gpu_check.py --device cpu --size tiny`: the smoke run of the GPU check (every section on CPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("gpu_check") / "check.json"
    env = {**os.environ, "OMP_NUM_THREADS": "2"}
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--device", "cpu", "--size", "tiny", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    printed = json.loads(proc.stdout)  # stdout carries the JSON and nothing else
    assert json.loads(out.read_text()) == printed
    return printed


def test_every_section_ran_and_passed(report):
    sections = ["environment", "cost_stride8", "timing_stride8", "ddp", "training", "evaluation", "compile"]
    assert report["ok"] and report["failures"] == [] and report["skipped"] == []
    assert all(report[s]["ok"] for s in sections)
    assert report["settings"]["compile_backend"] == "eager" and report["environment"]["cuda_available"] in (
        True,
        False,
    )


def test_cost_floors_come_from_the_flop_counts(report):
    cost = report["cost_stride8"]
    ogfr, base = cost["ogfr"], cost["baseline"]
    assert (
        ogfr["params"] > ogfr["inference_params"] > base["inference_params"] > 0
    )  # teacher, agent, classifiers
    assert cost["floor_infer"] == pytest.approx(ogfr["inference_gflops"] / base["inference_gflops"])
    assert cost["floor_train"] == pytest.approx(
        ogfr["train_step_gflops_per_image"] / base["train_step_gflops_per_image"]
    )
    assert cost["readme_floor_infer"] is None  # README floors are for ViT-B at strides 11 / 12


def test_timing_has_every_precision_and_its_floor_ratio(report):
    timing = report["timing_stride8"]
    for precision in ("fp32", "bf16", "fp16"):
        row = timing[precision]
        for case in ("infer_ogfr", "infer_baseline", "train_ogfr", "train_baseline"):
            assert row[case]["ms_per_image"] > 0 and row[case]["peak_memory_mb"] is None  # CPU: no CUDA stats
        assert row["ratio_train"] == pytest.approx(
            row["train_ogfr"]["ms_per_image"] / row["train_baseline"]["ms_per_image"]
        )
        over = timing["over_floor"][precision]["train_over_floor"]
        assert over == pytest.approx(row["ratio_train"] / report["cost_stride8"]["floor_train"])


def test_training_ddp_evaluation_compile(report):
    train = report["training"]
    assert train["steps"] == 20 and train["all_finite"] and train["loss_falls"]
    assert "train.pretrained=" in train["overrides"] and train["model"]["embed_dim"] == 64
    # The evaluation section re-evaluates the trained model: the same numbers as the run's own last evaluation.
    assert report["evaluation"]["metrics"] == pytest.approx(train["final_eval"])
    ddp = report["ddp"]
    assert ddp["backend"] == "gloo" and ddp["losses"]["ddp"] == ddp["losses"]["plain"]
    assert ddp["max_abs_param_diff"] == 0.0
    comp = report["compile"]
    for case in ("infer_ogfr", "infer_baseline", "train_ogfr", "train_baseline"):
        assert comp[case]["compile_s"] > 0 and comp[case]["ms_per_image"] > 0

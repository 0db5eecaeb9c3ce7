"""Cost benchmarks: counting conventions, the tables, and the `ogfr bench` command (tiny model)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ogfr import bench


def test_count_params_counts_shared_tensors_once():
    lin = nn.Linear(3, 4)  # 12 weights + 4 biases
    assert bench.count_params(lin) == 16
    tied = nn.Sequential(lin, lin)
    assert bench.count_params(tied) == 16


def test_params_by_child():
    m = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2, bias=False))
    assert bench.params_by_child(m) == {"0": 16, "2": 8}


def test_flop_convention_is_two_per_multiply_add():
    lin = nn.Linear(3, 4, bias=False)
    x = torch.randn(5, 3)
    # 5 rows x 4 outputs x 3 multiply-adds, 2 FLOPs each.
    assert bench.count_flops(lambda: lin(x))["total"] == 2 * 5 * 4 * 3


def test_flops_count_attention():
    q = torch.randn(1, 2, 6, 8)  # (B, heads, tokens, head dim)
    flops = bench.count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))["total"]
    # QK^T and AV: 2 matmuls of 6 x 6 x 8 multiply-adds per head.
    assert flops == 2 * 2 * (2 * 6 * 6 * 8)


def test_append_results_keeps_other_sections(tmp_path: Path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Benchmark results\n\n## someone else's section\n\nkeep me\n")
    bench.append_results(path, "mine", "ogfr bench cost --size tiny", "CPU test", "| a |\n")
    text = path.read_text()
    assert "## someone else's section\n\nkeep me\n" in text
    assert text.index("keep me") < text.index("## mine")
    assert "Command: `ogfr bench cost --size tiny`" in text and "Machine: CPU test" in text
    bench.append_results(tmp_path / "new.md", "first", "cmd", "m", "body\n")
    assert (tmp_path / "new.md").read_text().startswith("# Benchmark results\n\n## first")


def test_model_config_rejects_unknown_size():
    with pytest.raises(ValueError, match="size must be one of"):
        bench.model_config("huge")


@pytest.fixture(scope="module")
def tiny_cost() -> dict:
    return bench.cost_table("tiny", num_classes=10, num_cameras=2)


def test_cost_table_invariants(tiny_cost: dict):
    rows = {r["name"]: r for r in tiny_cost["rows"]}
    student, full = rows["OGFR student (inference)"], rows["OGFR full (train graph)"]
    base, base_train = rows["baseline (inference)"], rows["baseline (train graph)"]
    # The student is a strict part of the full model; the baseline a strict part of the student's graph.
    assert base["params"] < student["params"] < full["params"]
    assert base["gflops"] < student["gflops"]
    # Training runs the backbone on both views: more than twice the single-view baseline per image.
    assert full["gflops"] > 2 * base["gflops"]
    assert base_train["params"] >= base["params"]
    assert sum(tiny_cost["full_breakdown"].values()) == full["params"]
    # A training step adds the backward pass (about twice the forward's matmuls).
    assert rows["OGFR training step"]["gflops"] > 1.5 * full["gflops"]
    assert rows["baseline training step"]["gflops"] > 1.5 * base_train["gflops"]
    assert rows["OGFR student (inference)"]["gmacs"] == pytest.approx(student["gflops"] / 2)


def test_transreid_reconstruction_hand_counted(tiny_cost: dict):
    d, hidden, classes = 64, 128, 10  # configs/tiny.yaml: dim 64, mlp_ratio 2
    block = (d * 3 * d + 3 * d) + (d * d + d) + 2 * (2 * d) + (d * hidden + hidden) + (hidden * d + d)
    norm = 2 * d
    neck = 2 * d + d * classes  # BatchNorm1d weight + bias, bias-free linear classifier
    t = tiny_cost["transreid"]
    assert t["jpm_blocks"] == 2 * (block + norm)
    assert t["extra_necks"] == 4 * neck
    assert t["transreid"] == t["baseline"] + 2 * (block + norm) + 4 * neck
    text = bench.format_transreid(tiny_cost)
    assert "paper 103.3M" in text and "paper 23.6G" in text


def test_speed_and_profile_report_consistent_numbers():
    res = bench.speed_ratios("tiny", batch=4, repeats=1, warmup=0, num_classes=4, num_cameras=2)
    ms = res["ms_per_image"]
    assert res["infer_ratio"] == pytest.approx(ms["infer_ogfr"] / ms["infer_baseline"])
    assert res["train_ratio"] == pytest.approx(ms["train_ogfr"] / ms["train_baseline"])
    assert min(ms.values()) > 0
    cpu = res["cpu_ms_per_image"]
    assert res["cpu_train_ratio"] == pytest.approx(cpu["train_ogfr"] / cpu["train_baseline"])
    assert min(cpu.values()) > 0
    assert "| inference (student vs baseline) |" in bench.format_speed(res)
    prof = bench.profile_train_step("tiny", batch=4, repeats=1)
    ogfr, base = prof["models"]["ogfr"], prof["models"]["baseline"]
    assert set(ogfr["forward_modules_ms"]) >= {"backbone", "teacher.head", "student.head", "en_neck"}
    assert "teacher.head" not in base["forward_modules_ms"]  # the baseline has one branch
    phases = ogfr["phases_ms"]
    parts = phases["forward_train"] + phases["criterion"] + phases["backward"] + phases["optimizer"]
    assert parts <= phases["step"] + 1e-6


def test_memory_step_in_process():
    res = bench.memory_step("tiny", 4, "baseline")
    assert res["which"] == "baseline" and res["batch"] == 4
    assert res["peak_mb"] > 0 and res["before_mb"] > 0
    with pytest.raises(ValueError, match="which must be"):
        bench.memory_step("tiny", 4, "teacher")


def test_cli_cost_appends_results(tmp_path: Path, capsys):
    from ogfr.cli import main

    out = tmp_path / "RESULTS.md"
    rc = main(
        [
            "bench",
            "cost",
            "--size",
            "tiny",
            "--num-classes",
            "10",
            "--num-cameras",
            "2",
            "--results",
            str(out),
        ]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| OGFR student (inference) |" in printed
    text = out.read_text()
    assert "Command: `ogfr bench cost --size tiny --device cpu --num-classes 10 --num-cameras 2`" in text


def test_cli_bad_arguments_are_clear(capsys):
    from ogfr.cli import main

    assert main(["bench", "memory", "--size", "tiny", "--batches", "16,x"]) == 1
    assert "--batches must be comma-separated integers" in capsys.readouterr().err
    assert main(["bench", "speed", "--size", "tiny", "--device", "tpu"]) == 1
    assert "--device must be 'cpu' or 'cuda'" in capsys.readouterr().err

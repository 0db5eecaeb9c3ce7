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

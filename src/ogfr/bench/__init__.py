"""Cost of OGFR against the single-branch baseline: parameters, FLOPs, time ratios, peak memory.

Importable benchmark functions behind ``ogfr bench`` and ``benchmarks/{cost,speed}.py``. Nothing here
asserts a speed: the functions measure and return numbers, the callers print and record them.

Conventions:
- FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, convolutions and
  scaled-dot-product attention; element-wise ops, softmax and norms are not counted). It counts one
  multiply-add as 2 FLOPs; ``macs = flops / 2`` is the fvcore / "GFLOPs" convention of most Re-ID papers.
- The baseline is Table 4's first row: the same model with ``oavit=False, fep="none", kd=False``
  (one plain-ViT branch: cls + patch tokens, SIE camera embedding, one BNNeck, ID + triplet losses).

Modules: ``common`` (presets, random batches), ``cost`` (params, FLOPs), ``timing`` (time ratios,
profile, memory), ``report`` (Markdown tables, appending to RESULTS.md).
"""

from ogfr.bench.common import (
    BASELINE_SWITCHES,
    PAPER_TABLE9,
    SIZES,
    build_model,
    count_params,
    describe_device,
    inputs,
    model_config,
    params_by_child,
    student_params,
)
from ogfr.bench.cost import CostRow, cost_table, count_flops, train_step_flops, transreid_estimate
from ogfr.bench.report import (
    append_results,
    format_breakdown,
    format_cost,
    format_memory,
    format_profile,
    format_speed,
    format_transreid,
)
from ogfr.bench.timing import interleaved_times, memory_scaling, memory_step, profile_train_step, speed_ratios

__all__ = [
    "BASELINE_SWITCHES",
    "PAPER_TABLE9",
    "SIZES",
    "CostRow",
    "append_results",
    "build_model",
    "cost_table",
    "count_flops",
    "count_params",
    "describe_device",
    "format_breakdown",
    "format_cost",
    "format_memory",
    "format_profile",
    "format_speed",
    "format_transreid",
    "inputs",
    "interleaved_times",
    "memory_scaling",
    "memory_step",
    "model_config",
    "params_by_child",
    "profile_train_step",
    "speed_ratios",
    "student_params",
    "train_step_flops",
    "transreid_estimate",
]

"""The GPU check behind ``benchmarks/gpu_check.py``: Table 9's figures and the CUDA code paths in one run.

Every section returns plain numbers and may fail on its own: ``GpuCheck.section`` records the error (and
the last lines of its traceback) in the report instead of stopping, and skips a section when the time
budget is spent. GPU times come from ``torch.cuda.Event`` pairs around each call (after warm-up calls),
CPU times from ``time.perf_counter``; peak memory from ``torch.cuda.max_memory_allocated``.

Sections here: ``environment``, ``cost`` (parameters and FLOP floors per stride, counted on the CPU), ``timing`` (ms per
image, OGFR and the baseline, train and inference, per precision), ``compile`` (torch.compile vs eager).
``ogfr.bench.gpu_train`` adds the training run, the evaluation and DDP.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import statistics
import time
import traceback
from collections.abc import Callable
from typing import Any

import torch

from ogfr.bench.common import (
    BASELINE_SWITCHES,
    PAPER_TABLE9,
    build_model,
    describe_device,
    inputs,
    model_config,
)
from ogfr.bench.cost import cost_table

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16", "fp16")  # fp16 trains with a GradScaler
NUM_CLASSES, NUM_CAMERAS = 702, 8  # Occluded-Duke's training identities and cameras, as benchmarks/cost.py
# The FLOP floors of benchmarks/README.md at ViT-B / 256 x 128, for comparison with this run's counts.
README_FLOORS = {"infer": {12: 1.216, 11: 1.210}, "train": {11: 2.478}}


class GpuCheck:
    """Runs named sections against a time budget and collects one JSON-ready report."""

    def __init__(self, budget_s: float) -> None:
        self.budget_s = budget_s
        self.start = time.perf_counter()
        self.report: dict[str, Any] = {}

    def left(self) -> float:
        return self.budget_s - (time.perf_counter() - self.start)

    def section(
        self, name: str, fn: Callable[[], dict[str, Any]], need_s: float = 0.0
    ) -> dict[str, Any] | None:
        """Run ``fn`` and store ``{"ok": True, ...its result}`` or ``{"ok": False, "error": ...}``."""
        if self.left() < need_s:
            self.report[name] = {
                "ok": False,
                "skipped": f"time budget: {self.left():.0f} s left, needs ~{need_s:.0f} s",
            }
            return None
        log.info("section %s (%.0f s of the budget left)", name, self.left())
        t0 = time.perf_counter()
        try:
            result = fn()
            entry: dict[str, Any] = {"ok": True, **result}
        except Exception as err:  # noqa: BLE001 - every failure becomes part of the report
            result = None
            entry = {"ok": False, **failure(err)}
        entry["seconds"] = round(time.perf_counter() - t0, 2)
        self.report[name] = entry
        return result


def failures(report: Any, where: str = "") -> list[str]:
    """Where the report holds an ``error`` (a failed section or case), e.g. ``timing_stride11.fp16``."""
    if not isinstance(report, dict):
        return []
    found = [where] if "error" in report else []
    for key, value in report.items():
        found += failures(value, f"{where}.{key}" if where else str(key))
    return found


def failure(err: BaseException) -> dict[str, str]:
    """An exception as report fields: its type and message, and the end of its traceback."""
    tb = "".join(traceback.format_exception(err))
    return {"error": f"{type(err).__name__}: {err}"[:2000], "traceback": tb[-1500:]}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_ms(fn: Callable[[], Any], device: torch.device, repeats: int, warmup: int) -> list[float]:
    """Milliseconds of each of ``repeats`` calls after ``warmup`` calls (CUDA events on a GPU)."""
    for _ in range(warmup):
        fn()
    sync(device)
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append(1000 * (time.perf_counter() - t0))
    return times


def autocast(device: torch.device, precision: str):
    """Autocast for ``bf16`` / ``fp16``; nothing for ``fp32``."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16 if precision == "bf16" else torch.float16)


def peak_memory_mb(device: torch.device) -> float | None:
    return torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else None


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


# ----------------------------------------------------------------------------- models and steps
@dataclasses.dataclass
class Pair:
    """OGFR and the single-branch baseline at one stride, on the device, with one random batch."""

    stride: int
    models: dict[str, torch.nn.Module]
    cfgs: dict[str, Any]
    data: dict[str, torch.Tensor]


def make_pair(size: str, stride: int, batch: int, device: torch.device) -> Pair:
    cfg = model_config(size, stride=stride)
    cfgs = {"ogfr": cfg, "baseline": dataclasses.replace(cfg, **BASELINE_SWITCHES)}
    torch.manual_seed(0)
    models = {k: build_model(c, NUM_CLASSES, NUM_CAMERAS).to(device) for k, c in cfgs.items()}
    data = {k: v.to(device) for k, v in inputs(cfg, batch, NUM_CLASSES, NUM_CAMERAS).items()}
    return Pair(stride, models, cfgs, data)


def infer_fn(
    model: torch.nn.Module, data: dict[str, torch.Tensor], device: torch.device, precision: str, forward=None
):
    """One student (inference) forward pass over the batch, in eval mode without gradients."""
    forward = model if forward is None else forward

    def fn() -> Any:
        model.eval()
        with torch.no_grad(), autocast(device, precision):
            return forward(data["img_o"], data["z_o"], data["camid"])

    return fn


def train_fn(
    model: torch.nn.Module,
    cfg,
    data: dict[str, torch.Tensor],
    device: torch.device,
    precision: str,
    forward_train=None,
):
    """One training step: forward_train + every loss + backward + SGD update (GradScaler for fp16)."""
    from ogfr.losses import LossConfig, OGFRCriterion

    forward_train = model.forward_train if forward_train is None else forward_train
    crit = OGFRCriterion(LossConfig(), cfg)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def fn() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        with autocast(device, precision):
            total = crit(forward_train(data), data)["total"]
        scaler.scale(total).backward()
        scaler.step(opt)
        scaler.update()

    return fn


def _case(
    fn: Callable[[], Any], batch: int, device: torch.device, repeats: int, warmup: int
) -> dict[str, Any]:
    reset_peak(device)
    times = time_ms(fn, device, repeats, warmup)
    return {
        "ms_per_image": statistics.median(times) / batch,
        "min_max_ms_per_image": [min(times) / batch, max(times) / batch],
        "peak_memory_mb": peak_memory_mb(device),
    }


# ----------------------------------------------------------------------------- sections
def environment(device: torch.device) -> dict[str, Any]:
    env: dict[str, Any] = {
        "torch": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": torch.cuda.is_available(),
        "device": describe_device(device),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env |= {
            "gpu": props.name,
            "capability": f"{props.major}.{props.minor}",
            "memory_gb": round(props.total_memory / 2**30, 1),
            "bf16_supported": torch.cuda.is_bf16_supported(),
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "cudnn": torch.backends.cudnn.version(),
            "nccl": _nccl_version(),
        }
    return env


def _nccl_version() -> str | None:
    try:
        v = torch.cuda.nccl.version()
    except Exception:  # noqa: BLE001 - a build without NCCL
        return None
    return ".".join(map(str, v)) if isinstance(v, tuple) else str(v)


def cost(size: str, stride: int) -> dict[str, Any]:
    """Parameters and FLOPs of ``ogfr.bench.cost_table`` (on the CPU, as benchmarks/cost.py) and the
    FLOP floors of the time ratios: student / baseline inference, OGFR / baseline training step."""
    table = cost_table(size, NUM_CLASSES, NUM_CAMERAS, stride=stride)
    rows = {r["name"]: r for r in table["rows"]}
    out = {
        "ogfr": {
            "params": rows["OGFR full (train graph)"]["params"],
            "inference_params": rows["OGFR student (inference)"]["params"],
            "inference_gflops": rows["OGFR student (inference)"]["gflops"],
            "train_step_gflops_per_image": rows["OGFR training step"]["gflops"],
        },
        "baseline": {
            "params": rows["baseline training step"]["params"],
            "inference_params": rows["baseline (inference)"]["params"],
            "inference_gflops": rows["baseline (inference)"]["gflops"],
            "train_step_gflops_per_image": rows["baseline training step"]["gflops"],
        },
    }
    return out | {
        "floor_infer": out["ogfr"]["inference_gflops"] / out["baseline"]["inference_gflops"],
        "floor_train": out["ogfr"]["train_step_gflops_per_image"]
        / out["baseline"]["train_step_gflops_per_image"],
        "readme_floor_infer": README_FLOORS["infer"].get(stride),
        "readme_floor_train": README_FLOORS["train"].get(stride),
        "paper_table9": PAPER_TABLE9,
    }


def timing(
    pair: Pair, device: torch.device, batch: int, repeats: int, warmup: int, precisions=PRECISIONS
) -> dict[str, Any]:
    """Eager ms per image for each precision, model and graph; a precision that fails is reported as such."""
    out: dict[str, Any] = {}
    for precision in precisions:
        row: dict[str, Any] = {}
        try:
            for name, model in pair.models.items():
                row[f"infer_{name}"] = _case(
                    infer_fn(model, pair.data, device, precision), batch, device, repeats, warmup
                )
                step = train_fn(model, pair.cfgs[name], pair.data, device, precision)
                row[f"train_{name}"] = _case(step, batch, device, repeats, warmup)
            row |= ratios(row)
        except Exception as err:  # noqa: BLE001 - e.g. a precision the device does not support, or OOM
            row |= failure(err)
            if device.type == "cuda":
                torch.cuda.empty_cache()
        out[precision] = row
    return out


def ratios(row: dict[str, Any]) -> dict[str, float]:
    return {
        "ratio_infer": row["infer_ogfr"]["ms_per_image"] / row["infer_baseline"]["ms_per_image"],
        "ratio_train": row["train_ogfr"]["ms_per_image"] / row["train_baseline"]["ms_per_image"],
    }


def against_floors(timed: dict[str, Any], floors: dict[str, Any]) -> dict[str, Any]:
    """Each precision's time ratios over the FLOP floors (1.0 = as fast as the FLOPs allow)."""
    return {
        p: {
            "infer_over_floor": r["ratio_infer"] / floors["floor_infer"],
            "train_over_floor": r["ratio_train"] / floors["floor_train"],
        }
        for p, r in timed.items()
        if "ratio_infer" in r
    }


def compiled(
    pair: Pair,
    device: torch.device,
    batch: int,
    repeats: int,
    warmup: int,
    precision: str,
    backend: str,
    check: GpuCheck,
    need_s: float,
) -> dict[str, Any]:
    """torch.compile'd inference and training step of both models; each case skipped when the budget ends."""
    out: dict[str, Any] = {"backend": backend, "precision": precision, "stride": pair.stride}
    for name, model in pair.models.items():
        for graph in ("infer", "train"):
            key = f"{graph}_{name}"
            if check.left() < need_s:
                out[key] = {"skipped": f"time budget: {check.left():.0f} s left"}
                continue
            try:
                torch._dynamo.reset()
                if graph == "infer":
                    fn = infer_fn(
                        model, pair.data, device, precision, forward=torch.compile(model, backend=backend)
                    )
                else:
                    fwd = torch.compile(model.forward_train, backend=backend)
                    fn = train_fn(model, pair.cfgs[name], pair.data, device, precision, forward_train=fwd)
                t0 = time.perf_counter()
                fn()  # compiles
                sync(device)
                first_s = time.perf_counter() - t0
                out[key] = {"compile_s": first_s, **_case(fn, batch, device, repeats, warmup)}
            except Exception as err:  # noqa: BLE001
                out[key] = failure(err)
    if all("ms_per_image" in out.get(f"{g}_{n}", {}) for g in ("infer", "train") for n in pair.models):
        out |= ratios(out)
    return out

"""Time ratios (interleaved, wall and CPU time), a per-phase profile of a training step, peak memory."""

from __future__ import annotations

import dataclasses
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ogfr.bench.common import (
    BASELINE_SWITCHES,
    _setup,
    _sync_for,
    _to,
    build_model,
    describe_device,
    inputs,
    model_config,
)


def _time_call(fn: Callable[[], Any], sync: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process summed over its threads) of one call."""
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    sync()
    return time.perf_counter() - t0, time.process_time() - c0


def interleaved_times(
    fns: dict[str, Callable[[], Any]], repeats: int, warmup: int, device: torch.device
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Wall and CPU seconds per call of each function, measured round-robin so that machine load hits
    all alike. CPU time (``time.process_time``) is the robust number on a shared CPU."""
    sync = _sync_for(device)
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    wall: dict[str, list[float]] = {k: [] for k in fns}
    cpu: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            w, c = _time_call(fn, sync)
            wall[name].append(w)
            cpu[name].append(c)
    return wall, cpu


def speed_ratios(
    size: str = "demo",
    batch: int = 32,
    repeats: int = 10,
    warmup: int = 2,
    device: str = "cpu",
    num_classes: int = 100,
    num_cameras: int = 6,
) -> dict:
    """Inference (student vs baseline) and training-step (full OGFR vs baseline) time, same batch.

    A training step is ``forward_train`` + criterion + backward + SGD step. Medians over ``repeats``
    interleaved calls; the ratios are median / median.
    """
    from ogfr.losses import LossConfig, OGFRCriterion

    dev = torch.device(device)
    cfg_full = model_config(size)
    cfg_base = dataclasses.replace(cfg_full, **BASELINE_SWITCHES)
    torch.manual_seed(0)
    models = {
        "ogfr": build_model(cfg_full, num_classes, num_cameras).to(dev),
        "baseline": build_model(cfg_base, num_classes, num_cameras).to(dev),
    }
    crits = {"ogfr": OGFRCriterion(LossConfig(), cfg_full), "baseline": OGFRCriterion(LossConfig(), cfg_base)}
    for c in crits.values():
        if isinstance(c, nn.Module):
            c.to(dev)
    data = _to(inputs(cfg_full, batch, num_classes, num_cameras), dev)

    def infer(name: str) -> Callable[[], Any]:
        m = models[name]

        def fn() -> Any:
            m.eval()
            with torch.no_grad():
                return m(data["img_o"], data["z_o"], data["camid"])

        return fn

    opts = {k: torch.optim.SGD(m.parameters(), lr=1e-4, momentum=0.9) for k, m in models.items()}

    def step(name: str) -> Callable[[], Any]:
        m, crit, opt = models[name], crits[name], opts[name]

        def fn() -> Any:
            m.train()
            opt.zero_grad(set_to_none=True)
            losses = crit(m.forward_train(data), data)
            losses["total"].backward()
            opt.step()

        return fn

    t_inf, c_inf = interleaved_times({k: infer(k) for k in models}, repeats, warmup, dev)
    t_train, c_train = interleaved_times({k: step(k) for k in models}, repeats, warmup, dev)
    med = {f"infer_{k}": statistics.median(v) for k, v in t_inf.items()}
    med |= {f"train_{k}": statistics.median(v) for k, v in t_train.items()}
    cmed = {f"infer_{k}": statistics.median(v) for k, v in c_inf.items()}
    cmed |= {f"train_{k}": statistics.median(v) for k, v in c_train.items()}
    return {
        "cpu_ms_per_image": {k: 1000 * v / batch for k, v in cmed.items()},
        "cpu_infer_ratio": cmed["infer_ogfr"] / cmed["infer_baseline"],
        "cpu_train_ratio": cmed["train_ogfr"] / cmed["train_baseline"],
        "size": size,
        "batch": batch,
        "repeats": repeats,
        "device": describe_device(dev),
        "threads": torch.get_num_threads(),
        "ms_per_image": {k: 1000 * v / batch for k, v in med.items()},
        "infer_ratio": med["infer_ogfr"] / med["infer_baseline"],
        "train_ratio": med["train_ogfr"] / med["train_baseline"],
        "spread": {f"infer_{k}": [min(v) / batch * 1000, max(v) / batch * 1000] for k, v in t_inf.items()}
        | {f"train_{k}": [min(v) / batch * 1000, max(v) / batch * 1000] for k, v in t_train.items()},
    }


def _rss_bytes() -> int:
    """Current resident set size of this process (Linux /proc; 0 when unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def memory_step(size: str, batch: int, which: str = "ogfr", device: str = "cpu", steps: int = 2) -> dict:
    """Peak memory of ``steps`` training steps at ``batch`` in THIS process (run it in a fresh one).

    On CUDA: ``torch.cuda.max_memory_allocated``. On CPU: peak resident set size (``ru_maxrss``) and its
    increase over the resident size just before the first step (model, optimizer and batch allocated).
    """
    from ogfr.losses import LossConfig, OGFRCriterion

    dev = torch.device(device)
    cfg = model_config(size)
    if which == "baseline":
        cfg = dataclasses.replace(cfg, **BASELINE_SWITCHES)
    elif which != "ogfr":
        raise ValueError(f"which must be 'ogfr' or 'baseline', got {which!r}")
    torch.manual_seed(0)
    model = build_model(cfg, 100, 6).to(dev).train()
    crit = OGFRCriterion(LossConfig(), cfg)
    if isinstance(crit, nn.Module):
        crit.to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    data = _to(inputs(cfg, batch, 100, 6), dev)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
    else:
        before = _rss_bytes()
    for _ in range(steps):
        opt.zero_grad(set_to_none=True)
        crit(model.forward_train(data), data)["total"].backward()
        opt.step()
    if dev.type == "cuda":
        peak = torch.cuda.max_memory_allocated(dev)
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux: kilobytes
    return {
        "size": size,
        "batch": batch,
        "which": which,
        "device": describe_device(dev),
        "before_mb": before / 2**20,
        "peak_mb": peak / 2**20,
        "step_mb": (peak - before) / 2**20,
    }


def memory_scaling(
    size: str = "demo", batches: tuple[int, ...] = (16, 32, 64), device: str = "cpu"
) -> list[dict]:
    """``memory_step`` for OGFR and the baseline at each batch size, each in a fresh Python process."""
    rows = []
    for which in ("ogfr", "baseline"):
        for b in batches:
            code = (
                "import json, torch; from ogfr.bench import memory_step; "
                f"torch.set_num_threads({torch.get_num_threads()}); "
                f"print(json.dumps(memory_step({size!r}, {b}, {which!r}, {device!r}, steps=1)))"
            )
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"memory measurement (size {size}, batch {b}, {which}) failed:\n{proc.stderr[-2000:]}"
                )
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


class _ForwardTimer:
    """Accumulates the forward time of named modules with pre/post forward hooks."""

    def __init__(self, modules: dict[str, nn.Module], sync: Callable[[], None]) -> None:
        self.acc: dict[str, float] = {}
        self._starts: dict[str, float] = {}
        self._sync = sync
        self._handles = []
        for name, mod in modules.items():
            self._handles.append(mod.register_forward_pre_hook(self._pre(name)))
            self._handles.append(mod.register_forward_hook(self._post(name)))

    def _pre(self, name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            self._sync()
            self._starts[name] = time.perf_counter()

        return hook

    def _post(self, name: str) -> Callable[..., None]:
        def hook(*_: Any) -> None:
            self._sync()
            self.acc[name] = self.acc.get(name, 0.0) + time.perf_counter() - self._starts[name]

        return hook

    def remove(self) -> None:
        for h in self._handles:
            h.remove()


def profile_train_step(size: str = "demo", batch: int = 32, device: str = "cpu", repeats: int = 3) -> dict:
    """Where a training step spends its time, for OGFR and the baseline.

    Phases (forward_train / criterion / backward / optimizer) are timed around the calls; forward time of
    the main modules (backbone, each branch's head and classifiers) with forward hooks (a module called
    twice, e.g. the teacher decoder's no-mask pass for p^b, accumulates both calls). Medians over
    ``repeats`` steps after one warm-up step.
    """
    dev = torch.device(device)
    sync = _sync_for(dev)
    out: dict[str, Any] = {"size": size, "batch": batch, "device": describe_device(dev), "models": {}}
    for which in ("ogfr", "baseline"):
        model, crit, opt, data = _setup(size, which, batch, dev)
        watched = {
            n: m
            for n, m in model.named_modules()
            if n in ("backbone", "en_neck")
            or n.endswith(".head")
            or n.endswith(".necks")
            and n.count(".") == 1
        }
        timer = _ForwardTimer(watched, sync)
        phases: dict[str, list[float]] = {
            k: [] for k in ("forward_train", "criterion", "backward", "optimizer", "step")
        }
        modules: dict[str, list[float]] = {k: [] for k in watched}
        for i in range(repeats + 1):
            timer.acc.clear()
            sync()
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            outputs = model.forward_train(data)
            sync()
            t1 = time.perf_counter()
            losses = crit(outputs, data)
            sync()
            t2 = time.perf_counter()
            losses["total"].backward()
            sync()
            t3 = time.perf_counter()
            opt.step()
            sync()
            t4 = time.perf_counter()
            if i == 0:
                continue  # warm-up
            for k, v in zip(phases, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t4 - t0), strict=True):
                phases[k].append(v)
            for k in watched:
                modules[k].append(timer.acc.get(k, 0.0))
        timer.remove()
        out["models"][which] = {
            "phases_ms": {k: 1000 * statistics.median(v) for k, v in phases.items()},
            "forward_modules_ms": {k: 1000 * statistics.median(v) for k, v in modules.items()},
        }
    return out

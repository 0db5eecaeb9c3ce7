"""Cost of OGFR against the single-branch baseline: parameters, FLOPs, time ratios, peak memory.

Importable benchmark functions behind ``ogfr bench`` and ``benchmarks/{cost,speed}.py``. Nothing here
asserts a speed: the functions measure and return numbers, the callers print and record them.

Conventions:
- FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` (matmuls, convolutions and
  scaled-dot-product attention; element-wise ops, softmax and norms are not counted). It counts one
  multiply-add as 2 FLOPs; ``macs = flops / 2`` is the fvcore / "GFLOPs" convention of most Re-ID papers.
- The baseline is Table 4's first row: the same model with ``oavit=False, fep="none", kd=False``
  (one ViT branch, cls + part tokens, BNNeck classifiers, ID + triplet losses).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

log = logging.getLogger(__name__)

Size = Literal["vit_base", "vit_small", "demo", "tiny"]
SIZES: tuple[str, ...] = ("vit_base", "vit_small", "demo", "tiny")
BASELINE_SWITCHES: dict[str, Any] = {"oavit": False, "fep": "none", "kd": False}
# The paper's Table 9 (ViT-B/16, Occluded-Duke, one GTX 1080Ti).
PAPER_TABLE9 = {
    "OGFR": {"params_m": 121.7, "gflops": 26.5, "train_ms": 14.1, "infer_ms": 7.0},
    "TransReID": {"params_m": 103.3, "gflops": 23.6, "train_ms": 4.8, "infer_ms": 5.2},
}


def model_config(size: str, **overrides: Any):
    """The ``OGFRConfig`` preset ``size`` with field overrides (e.g. ``stride=11``, ``kd=False``)."""
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {size!r}")
    from ogfr.model import OGFRConfig

    preset = getattr(OGFRConfig, size, None)
    if preset is None:
        raise ValueError(f"OGFRConfig has no preset {size!r}")
    cfg = preset()
    return dataclasses.replace(cfg, **overrides) if overrides else cfg


def build_model(cfg, num_classes: int, num_cameras: int) -> nn.Module:
    """An ``OGFR`` model (random init: no weights are loaded for cost measurements)."""
    from ogfr.model import OGFR

    return OGFR(cfg, num_classes=num_classes, num_cameras=num_cameras)


def count_params(module: nn.Module) -> int:
    """Number of parameters (shared tensors counted once)."""
    return sum(p.numel() for p in {id(p): p for p in module.parameters()}.values())


def params_by_child(module: nn.Module, depth: int = 2) -> dict[str, int]:
    """Parameter count per child module, expanded ``depth`` levels (``student.head``, ``student.necks``);
    ``(direct)`` for parameters a module owns itself (tokens, embeddings)."""
    out: dict[str, int] = {}
    direct = sum(p.numel() for p in module.parameters(recurse=False))
    if direct:
        out["(direct)"] = direct
    for name, child in module.named_children():
        if depth > 1 and any(True for _ in child.children()):
            for sub, n in params_by_child(child, depth - 1).items():
                out[f"{name}.{sub}"] = n
        else:
            out[name] = count_params(child)
    return {k: v for k, v in out.items() if v}


def inputs(cfg, batch: int, num_classes: int, num_cameras: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """A random training batch with every key of ``OGFR.forward_train`` (P x 2 identities layout)."""
    g = torch.Generator().manual_seed(seed)
    h, w = cfg.image_size
    lh, lw = cfg.label_size
    c = cfg.num_coarse
    pid = torch.arange(batch) // 2 % num_classes  # two images per identity: triplet needs positives
    return {
        "img_h": torch.randn(batch, 3, h, w, generator=g),
        "img_o": torch.randn(batch, 3, h, w, generator=g),
        "z_h": torch.zeros(batch, c, dtype=torch.long),
        "z_o": torch.randint(0, 2, (batch, c), generator=g),
        "camid": torch.randint(0, num_cameras, (batch,), generator=g),
        "pid": pid,
        "labels_h": torch.randint(0, cfg.num_parts + 1, (batch, lh, lw), generator=g),
        "labels_o": torch.randint(0, cfg.num_parts + 1, (batch, lh, lw), generator=g),
    }


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


def student_params(model: nn.Module, batch: dict[str, torch.Tensor]) -> int:
    """Parameters the inference (student) output depends on: those that get a gradient from it."""
    model.zero_grad(set_to_none=True)
    out = model(batch["img_o"][:2], batch["z_o"][:2], batch["camid"][:2])
    (out["global"].sum() + out["parts"].sum()).backward()
    n = sum(p.numel() for p in model.parameters() if p.grad is not None)
    model.zero_grad(set_to_none=True)
    return n


def _sdpa_cpu_flops(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(q_shape, k_shape, v_shape)


def count_flops(fn: Callable[[], Any]) -> dict[str, int]:
    """FLOPs of one call of ``fn`` (2 per multiply-add), total and per operator.

    ``FlopCounterMode`` has a formula for the CUDA attention kernels but not for the CPU flash kernel
    that ``scaled_dot_product_attention`` dispatches to on CPU; it is added here (same formula).
    """
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops}
    counter = FlopCounterMode(display=False, custom_mapping=mapping)
    with counter:  # not under no_grad: the counter's module tracker hooks need autograd on
        fn()
    per_op = {
        str(op).removeprefix("aten.").split(".")[0]: int(n)
        for op, n in counter.get_flop_counts().get("Global", {}).items()
    }
    return {"total": int(counter.get_total_flops()), **per_op}


def train_step_flops(model: nn.Module, cfg, batch: dict[str, torch.Tensor]) -> int:
    """FLOPs of one training step's forward, losses and backward (no optimizer update) on ``batch``."""
    from ogfr.losses import LossConfig, OGFRCriterion

    crit = OGFRCriterion(LossConfig(), cfg)
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        crit(model.forward_train(batch), batch)["total"].backward()

    flops = count_flops(step)["total"]
    model.zero_grad(set_to_none=True)
    return flops


@dataclass
class CostRow:
    """Parameters and FLOPs per image of one model graph."""

    name: str
    params: int
    gflops: float  # FlopCounterMode count per image, 2 per multiply-add
    note: str = ""

    @property
    def gmacs(self) -> float:
        return self.gflops / 2


def cost_table(
    size: str = "vit_base", num_classes: int = 702, num_cameras: int = 8, stride: int | None = None
) -> dict:
    """Params and FLOPs of the OGFR student, the full OGFR train graph, and the baseline.

    Returns a dict with ``rows`` (list of ``CostRow`` as dicts), the config used, and a breakdown of the
    full model's parameters by child module.
    """
    over = {} if stride is None else {"stride": stride}
    cfg_full = model_config(size, **over)
    cfg_base = dataclasses.replace(cfg_full, **BASELINE_SWITCHES)
    torch.manual_seed(0)
    full = build_model(cfg_full, num_classes, num_cameras).eval()
    base = build_model(cfg_base, num_classes, num_cameras).eval()
    batch = inputs(cfg_full, 2, num_classes, num_cameras)
    one = {k: v[:1] for k, v in batch.items()}

    f_student = count_flops(lambda: full(one["img_o"], one["z_o"], one["camid"]))["total"]
    f_base = count_flops(lambda: base(one["img_o"], one["z_o"], one["camid"]))["total"]
    # The train graph needs a batch of 2 (BatchNorm in train mode); FLOPs reported per image pair.
    full.train()
    f_train = count_flops(lambda: full.forward_train(batch))["total"] / 2
    base.train()
    f_base_train = count_flops(lambda: base.forward_train(batch))["total"] / 2
    step_full = train_step_flops(full, cfg_full, batch) / 2
    step_base = train_step_flops(base, cfg_base, batch) / 2
    full.eval()
    base.eval()
    # TransReID's JPM runs its extra last block on 4 groups of N/4 patches + the cls token (its b1 replaces
    # the backbone's own last block, so the global branch costs what the baseline costs).
    group = torch.randn(1, 1 + cfg_base.num_patches // 4, cfg_base.embed_dim)
    f_group = count_flops(lambda: base.backbone.blocks[-1](group))["total"]
    rows = [
        CostRow(
            "OGFR student (inference)",
            student_params(full, batch),
            f_student / 1e9,
            "params reaching the output",
        ),
        CostRow(
            "OGFR full (train graph)",
            count_params(full),
            f_train / 1e9,
            "forward of both views + FEP + heads",
        ),
        CostRow(
            "baseline (inference)", student_params(base, batch), f_base / 1e9, "params reaching the output"
        ),
        CostRow("baseline (train graph)", count_params(base), f_base_train / 1e9, "one view + heads"),
        CostRow(
            "OGFR training step",
            count_params(full),
            step_full / 1e9,
            "forward + losses + backward, per image pair",
        ),
        CostRow(
            "baseline training step",
            count_params(base),
            step_base / 1e9,
            "forward + losses + backward, per image",
        ),
    ]
    return {
        "size": size,
        "config": {
            k: getattr(cfg_full, k)
            for k in (
                "image_size",
                "patch_size",
                "stride",
                "patch_embed",
                "embed_dim",
                "depth",
                "num_heads",
                "num_parts",
                "num_coarse",
            )
            if hasattr(cfg_full, k)
        },
        "num_classes": num_classes,
        "num_cameras": num_cameras,
        "rows": [dataclasses.asdict(r) | {"gmacs": r.gmacs} for r in rows],
        "full_breakdown": params_by_child(full),
        "baseline_breakdown": params_by_child(base),
        "transreid": transreid_estimate(base, num_classes) | {"gflops": (f_base + 4 * f_group) / 1e9},
    }


def transreid_estimate(baseline: nn.Module, num_classes: int) -> dict[str, int]:
    """TransReID with JPM (the paper's Table 9 row), reconstructed from our baseline's parts.

    TransReID = the ViT backbone + two copies of its last block and final LayerNorm (``b1`` global,
    ``b2`` shared by the 4 jigsaw groups) + 5 BNNeck classifiers (global + 4 local). Our baseline has the
    backbone and 1 BNNeck; the ViT's ImageNet head (1000 classes, built but unused by TransReID's
    backbone class) is listed separately because it is unclear whether the paper counted it.
    """
    bb = baseline.backbone
    block = count_params(bb.blocks[-1]) + count_params(bb.norm)
    neck = count_params(baseline.student.necks.necks[0])
    dim = bb.norm.normalized_shape[0]
    base = count_params(baseline)
    return {
        "baseline": base,
        "jpm_blocks": 2 * block,
        "extra_necks": 4 * neck,
        "transreid": base + 2 * block + 4 * neck,
        "imagenet_head": dim * 1000 + 1000,
        "num_classes": num_classes,
    }


def _time_call(fn: Callable[[], Any], sync: Callable[[], None]) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process summed over its threads) of one call."""
    sync()
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    sync()
    return time.perf_counter() - t0, time.process_time() - c0


def _sync_for(device: torch.device) -> Callable[[], None]:
    if device.type == "cuda":
        return torch.cuda.synchronize
    return lambda: None


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


def describe_device(device: torch.device) -> str:
    """A short description of the machine: CPU model and core count, or the GPU name."""
    if device.type == "cuda":
        return f"GPU {torch.cuda.get_device_name(device)}"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"CPU {model}, {os.cpu_count()} cores, no GPU"


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
                f"print(json.dumps(memory_step({size!r}, {b}, {which!r}, {device!r})))"
            )
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise RuntimeError(
                    f"memory measurement (size {size}, batch {b}, {which}) failed:\n{proc.stderr[-2000:]}"
                )
            rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return rows


def format_cost(res: dict) -> str:
    """Markdown table of ``cost_table``'s result next to the paper's Table 9."""
    lines = [
        "| graph | params (M) | GFLOPs / image (2 per MAC) | GMACs / image | counted |",
        "|---|--:|--:|--:|---|",
    ]
    for r in res["rows"]:
        lines.append(
            f"| {r['name']} | {r['params'] / 1e6:.1f} | {r['gflops']:.2f} | {r['gmacs']:.2f} | {r['note']} |"
        )
    for name, p in PAPER_TABLE9.items():
        lines.append(
            f'| paper Table 9: {name} | {p["params_m"]:.1f} | - | {p["gflops"]:.1f} (as "FLOPs") | paper |'
        )
    rows = {r["name"]: r for r in res["rows"]}
    inf = rows["OGFR student (inference)"]["gflops"] / rows["baseline (inference)"]["gflops"]
    trn = rows["OGFR training step"]["gflops"] / rows["baseline training step"]["gflops"]
    lines.append(
        f"\nFLOP ratios (the floor a time ratio can reach): inference student / baseline **{inf:.3f}x**; "
        f"training step OGFR / baseline **{trn:.3f}x** (per image of the batch)."
    )
    return "\n".join(lines) + "\n"


def format_speed(res: dict) -> str:
    """Markdown table of ``speed_ratios``'s result."""
    ms = res["ms_per_image"]
    sp = res["spread"]
    lines = [
        "| measurement | OGFR (ms/image) | baseline (ms/image) | ratio | target | paper |",
        "|---|--:|--:|--:|--:|--:|",
        f"| inference (student vs baseline) | {ms['infer_ogfr']:.2f} | {ms['infer_baseline']:.2f} "
        f"| {res['infer_ratio']:.2f}x | <= 1.20x | 7.0 / 5.2 = 1.35x |",
        f"| training step (full vs baseline) | {ms['train_ogfr']:.2f} | {ms['train_baseline']:.2f} "
        f"| {res['train_ratio']:.2f}x | <= 2.3x | 14.1 / 4.8 = 2.9x |",
    ]
    if "cpu_ms_per_image" in res:
        c = res["cpu_ms_per_image"]
        lines += [
            f"| inference, CPU time | {c['infer_ogfr']:.2f} | {c['infer_baseline']:.2f} | {res['cpu_infer_ratio']:.2f}x | | |",
            f"| training step, CPU time | {c['train_ogfr']:.2f} | {c['train_baseline']:.2f} "
            f"| {res['cpu_train_ratio']:.2f}x | | |",
        ]
    spread = ", ".join(f"{k} {lo:.2f}-{hi:.2f}" for k, (lo, hi) in sp.items())
    return (
        "\n".join(lines)
        + f"\n\nWall-clock medians over {res['repeats']} interleaved repeats; min-max wall ms/image: {spread}. "
        "CPU time = process CPU seconds summed over threads (robust on a shared machine).\n"
    )


def format_memory(rows: list[dict]) -> str:
    """Markdown table of ``memory_scaling``'s result."""
    lines = ["| model | batch | before step (MB) | peak (MB) | step increase (MB) |", "|---|--:|--:|--:|--:|"]
    for r in rows:
        lines.append(
            f"| {r['which']} | {r['batch']} | {r['before_mb']:.0f} | {r['peak_mb']:.0f} | {r['step_mb']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def append_results(path: Path, title: str, command: str, machine: str, body: str) -> None:
    """Append a section (title, command, machine, body) to a Markdown results file, atomically.

    The file is read, extended and replaced as a whole, so a reader never sees half a section.
    """
    import tempfile

    path = Path(path)
    old = path.read_text() if path.is_file() else "# Benchmark results\n"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = f"\n## {title}\n\nCommand: `{command}`  \nMachine: {machine}  \nDate: {stamp}\n\n{body}"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(old.rstrip("\n") + "\n" + section)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def format_transreid(res: dict) -> str:
    """How TransReID's 103.3M of Table 9 decomposes, from our baseline's measured parts."""
    t = res["transreid"]
    m = 1e6
    return (
        "TransReID (JPM) reconstructed from the baseline's parts: "
        f"baseline {t['baseline'] / m:.2f}M + 2 x (last block + norm) {t['jpm_blocks'] / m:.2f}M "
        f"+ 4 more BNNeck classifiers {t['extra_necks'] / m:.2f}M = **{t['transreid'] / m:.2f}M** "
        f"(paper 103.3M; + the unused 1000-class ImageNet head {t['imagenet_head'] / m:.2f}M "
        f"= {(t['transreid'] + t['imagenet_head']) / m:.2f}M). "
        f"FLOPs: baseline + the JPM block on 4 groups of N/4 + 1 tokens = {t['gflops']:.2f} GFLOPs "
        f"= **{t['gflops'] / 2:.2f} GMACs** per image (paper 23.6G).\n"
    )


def format_breakdown(res: dict) -> str:
    """Parameter counts (M) per top-level module of the full OGFR and of the baseline."""
    names = list(dict.fromkeys([*res["full_breakdown"], *res["baseline_breakdown"]]))
    lines = ["| module | OGFR (M) | baseline (M) |", "|---|--:|--:|"]
    for n in names:
        f, b = res["full_breakdown"].get(n, 0), res["baseline_breakdown"].get(n, 0)
        lines.append(f"| {n} | {f / 1e6:.3f} | {b / 1e6:.3f} |")
    return "\n".join(lines) + "\n"


def _setup(
    size: str, which: str, batch: int, device: torch.device, num_classes: int = 100, num_cameras: int = 6
):
    from ogfr.losses import LossConfig, OGFRCriterion

    cfg = model_config(size)
    if which == "baseline":
        cfg = dataclasses.replace(cfg, **BASELINE_SWITCHES)
    torch.manual_seed(0)
    model = build_model(cfg, num_classes, num_cameras).to(device).train()
    crit = OGFRCriterion(LossConfig(), cfg)
    if isinstance(crit, nn.Module):
        crit.to(device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-4, momentum=0.9)
    data = _to(inputs(cfg, batch, num_classes, num_cameras), device)
    return model, crit, opt, data


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


def format_profile(res: dict) -> str:
    """Markdown tables of ``profile_train_step``: phases and module forward times, OGFR vs baseline."""
    o, b = res["models"]["ogfr"], res["models"]["baseline"]
    lines = ["| phase (ms / step) | OGFR | baseline | ratio |", "|---|--:|--:|--:|"]
    for k, v in o["phases_ms"].items():
        bv = b["phases_ms"][k]
        lines.append(
            f"| {k} | {v:.1f} | {bv:.1f} | {v / bv:.2f}x |" if bv > 0 else f"| {k} | {v:.1f} | {bv:.1f} | - |"
        )
    lines += ["", "| module forward (ms / step) | OGFR | baseline |", "|---|--:|--:|"]
    for k in dict.fromkeys([*o["forward_modules_ms"], *b["forward_modules_ms"]]):
        ov, bv = o["forward_modules_ms"].get(k), b["forward_modules_ms"].get(k)
        lines.append(f"| {k} | {'-' if ov is None else f'{ov:.1f}'} | {'-' if bv is None else f'{bv:.1f}'} |")
    return "\n".join(lines) + "\n"

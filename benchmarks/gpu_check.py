"""One command for a CUDA machine: the paper's Table 9 figures and every CUDA code path, as one JSON.

    python benchmarks/gpu_check.py                          # CUDA, ViT-B / 256x128, strides 11 and 12 (< 8 min)
    python benchmarks/gpu_check.py --out gpu_check.json --record   # also keep the JSON, append to RESULTS.md
    python benchmarks/gpu_check.py --device cpu --size tiny # the smoke run the test suite does (CPU, ~1 min)

Sections (each one's failure is reported in the JSON, the others still run; all inside --budget seconds):
environment; cost (parameters, FLOPs, the FLOP floors of the time ratios) and timing (training-step and
inference ms per image for OGFR and the single-branch baseline, fp32 / bf16 autocast / fp16 autocast with
a GradScaler, peak memory) for each stride; DDP at world size 1 (nccl on CUDA); a short training run of
the paper preset on the synthetic benchmark (loss falls, no NaN); evaluation on the device; and
torch.compile against eager (inductor on CUDA; the dynamo "eager" backend on CPU unless told otherwise,
because inductor on CPU compiles C++ for minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
from pathlib import Path

import torch

from ogfr import bench
from ogfr.bench import gpu, gpu_train
from ogfr.io import atomic_write_text

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument(
        "--size",
        default=None,
        choices=bench.SIZES,
        help="model size (default: vit_base on cuda, tiny on cpu)",
    )
    p.add_argument(
        "--strides", type=int, nargs="+", help="patch strides (default: 11 12 at patch 16, else the preset's)"
    )
    p.add_argument("--batch", type=int, help="images per timed batch (default 64 on cuda, 8 on cpu)")
    p.add_argument("--repeats", type=int, help="timed calls per case (default 10 on cuda, 1 on cpu)")
    p.add_argument("--warmup", type=int, help="untimed calls per case first (default 2 on cuda, 1 on cpu)")
    p.add_argument(
        "--steps", type=int, help="training steps of the paper preset (default 300 on cuda, 20 on cpu)"
    )
    p.add_argument(
        "--compile-backend", help="torch.compile backend (default: inductor on cuda, eager on cpu)"
    )
    p.add_argument("--budget", type=float, default=450.0, help="seconds for the whole check (default 450)")
    p.add_argument(
        "--work", type=Path, help="folder for the synthetic data and the run (default: a temp folder)"
    )
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--record", action="store_true", help="append the JSON to benchmarks/RESULTS.md")
    args = p.parse_args(argv)
    cuda = args.device == "cuda"
    args.size = args.size or ("vit_base" if cuda else "tiny")
    args.batch = args.batch or (64 if cuda else 8)
    args.repeats = args.repeats or (10 if cuda else 1)
    args.warmup = args.warmup if args.warmup is not None else (2 if cuda else 1)
    args.steps = args.steps or (300 if cuda else 20)
    args.compile_backend = args.compile_backend or ("inductor" if cuda else "eager")
    if not args.strides:
        cfg = bench.model_config(args.size)
        patch16 = cfg.patch_size == 16 and cfg.patch_embed == "overlap"
        args.strides = [11, 12] if patch16 else [cfg.stride]
    return args


def run(args: argparse.Namespace, work: Path) -> dict:
    device = torch.device(args.device)
    check = gpu.GpuCheck(args.budget)
    report = check.report
    report["settings"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    env = check.section("environment", lambda: gpu.environment(device))
    if device.type == "cuda" and not (env and env["cuda_available"]):
        report["ok"] = False
        report["error"] = "--device cuda but torch sees no CUDA device (torch.cuda.is_available() is False)"
        return report
    cost_need = 30 if device.type == "cuda" else 0
    for stride in args.strides:
        pair = gpu.make_pair(args.size, stride, args.batch, device)
        floors = check.section(
            f"cost_stride{stride}", lambda s=stride: gpu.cost(args.size, s), need_s=cost_need
        )
        timed = check.section(
            f"timing_stride{stride}",
            lambda p=pair: gpu.timing(p, device, args.batch, args.repeats, args.warmup),
            need_s=cost_need,
        )
        if floors and timed:
            report[f"timing_stride{stride}"]["over_floor"] = gpu.against_floors(timed, floors)
        del pair
        if device.type == "cuda":
            torch.cuda.empty_cache()
    check.section("ddp", lambda: gpu_train.ddp_world_size_1(args.size, min(args.batch, 16), device))
    trained: dict = {}

    def train() -> dict:
        root = gpu_train.synthetic_benchmark(work / "synthetic", tiny=args.size == "tiny")
        result, trained["run"] = gpu_train.training(args.size, root, work / "run", args.steps, device)
        return result

    check.section("training", train, need_s=60 if device.type == "cuda" else 0)
    if "run" in trained:
        model, cfg = trained["run"]
        check.section("evaluation", lambda: gpu_train.evaluation(model, cfg, device))
    else:
        report["evaluation"] = {"ok": False, "skipped": "no trained model (see training)"}
    precision = "bf16" if device.type == "cuda" else "fp32"
    pair = gpu.make_pair(args.size, args.strides[0], args.batch, device)
    check.section(
        "compile",
        lambda: gpu.compiled(
            pair,
            device,
            args.batch,
            args.repeats,
            args.warmup,
            precision,
            args.compile_backend,
            check,
            need_s=90 if device.type == "cuda" else 0,  # a ViT-B compile takes about a minute
        ),
    )
    report["elapsed_s"] = round(args.budget - check.left(), 1)
    report["failures"] = gpu.failures(report)
    report["skipped"] = [k for k, v in report.items() if isinstance(v, dict) and "skipped" in v]
    report["ok"] = not report["failures"]
    return report


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    with contextlib.redirect_stdout(sys.stderr):  # progress bars and prints: stdout carries only the JSON
        if args.work is not None:
            args.work.mkdir(parents=True, exist_ok=True)
            report = run(args, args.work)
        else:
            with tempfile.TemporaryDirectory(prefix="ogfr_gpu_check_") as tmp:
                report = run(args, Path(tmp))
    text = json.dumps(report, indent=2, default=str)
    print(text)
    if args.out is not None:
        atomic_write_text(args.out, text + "\n")
    if args.record:
        command = "python benchmarks/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:])
        machine = report.get("environment", {}).get("device", args.device)
        bench.append_results(
            RESULTS,
            f"GPU check: {args.size} on {args.device}",
            command.strip(),
            machine,
            f"```json\n{text}\n```\n",
        )
    return 0 if report.get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())

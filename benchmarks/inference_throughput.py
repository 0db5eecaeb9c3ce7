"""Inference throughput of the student branch (images/s) at batch 1 and 64: PyTorch eager, torch.compile,
onnxruntime. Random-init weights of the chosen preset (speed does not depend on the values).

    python benchmarks/inference_throughput.py                  # demo preset (128x64, dim 128, depth 4)
    python benchmarks/inference_throughput.py --preset vit_small --batches 1 16 --no-record
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch

from ogfr.engine.config import preset_model
from ogfr.export import StudentGraph, example_inputs, export_onnx
from ogfr.model import OGFR


def images_per_s(fn: Callable[[], object], batch: int, min_time: float, warmup: int = 2) -> float:
    """Best-of-runs throughput: repeat ``fn`` for at least ``min_time`` seconds after ``warmup`` calls."""
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while time.perf_counter() - start < min_time or len(times) < 3:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return batch / min(times)


def compile_worker(args: argparse.Namespace) -> int:
    """Child process: torch.compile the student graph and print JSON {batch: images/s, "first_call_s": ...}."""
    import json

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = OGFR(preset_model(args.preset), num_classes=100, num_cameras=6).eval()
    compiled = torch.compile(StudentGraph(model).eval(), dynamic=False)
    out: dict[str, float] = {}
    for b in args.batches:
        inputs = example_inputs(model, batch=b)
        with torch.inference_mode():
            t0 = time.perf_counter()
            compiled(*inputs)
            out[f"first_call_s_{b}"] = time.perf_counter() - t0
            out[str(b)] = images_per_s(lambda i=inputs: compiled(*i), b, args.min_time)
        print(json.dumps(out), flush=True)
    return 0


def compile_in_subprocess(args: argparse.Namespace) -> tuple[dict[int, str], str]:
    """torch.compile measured in a child process with a time limit (compilation can take minutes on CPU)."""
    import json
    import subprocess

    cmd = [sys.executable, __file__, "--compile-worker", "--preset", args.preset, "--threads", str(args.threads),
           "--min-time", str(args.min_time), "--batches", *map(str, args.batches)]  # fmt: skip
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.compile_timeout)
        lines, err = proc.stdout.strip().splitlines(), proc.stderr.strip()
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        lines, err = out.strip().splitlines(), f"did not finish within {args.compile_timeout:.0f} s"
    last = json.loads(lines[-1]) if lines else {}
    rates = {b: f"{last[str(b)]:.1f}" for b in args.batches if str(b) in last}
    firsts = ", ".join(
        f"batch {b}: {last[f'first_call_s_{b}']:.0f} s" for b in args.batches if str(b) in last
    )
    if len(rates) == len(args.batches):
        return rates, f"torch.compile (inductor, C++ codegen on CPU): first call (compilation) {firsts}."
    why = err.splitlines()[-1][:200] if err else "no output"
    return (
        rates,
        f"torch.compile did not complete for every batch on this machine ({why}); compiled so far: {firsts or 'none'}.",
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--preset",
        default="demo",
        help="YAML preset in configs/ whose model is measured (demo, tiny, vit_small, paper/_base, ...)",
    )
    p.add_argument("--batches", type=int, nargs="+", default=[1, 64])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--min-time", type=float, default=3.0, help="seconds of timed runs per measurement")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--compile-timeout", type=float, default=420.0, help="seconds allowed for torch.compile")
    p.add_argument("--compile-worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--out", default=str(Path(__file__).with_name("RESULTS.md")))
    p.add_argument("--no-record", action="store_true", help="print only, do not append to RESULTS.md")
    args = p.parse_args(argv)
    if args.compile_worker:
        return compile_worker(args)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cfg = preset_model(args.preset)
    model = OGFR(cfg, num_classes=100, num_cameras=6).eval()
    n_params = sum(p.numel() for p in StudentGraph(model).parameters()) / 1e6
    graph = StudentGraph(model).eval()
    results: dict[str, dict[int, str]] = {"PyTorch eager": {}, "torch.compile": {}, "onnxruntime": {}}
    notes = []

    for b in args.batches:
        inputs = example_inputs(model, batch=b)
        with torch.inference_mode():
            results["PyTorch eager"][b] = (
                f"{images_per_s(lambda inputs=inputs: graph(*inputs), b, args.min_time):.1f}"
            )

    if args.no_compile:
        notes.append("torch.compile: not run (--no-compile).")
    else:
        rates, note = compile_in_subprocess(args)
        results["torch.compile"].update(rates)
        notes.append(note)

    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "model.onnx")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        for b in args.batches:
            img, z, cam = example_inputs(model, batch=b)
            feed = {"img": img.numpy(), "z": z.numpy(), "camid": cam.numpy()}
            results["onnxruntime"][b] = (
                f"{images_per_s(lambda f=feed: session.run(None, f), b, args.min_time):.1f}"
            )

    h, w = cfg.image_size
    header = "| runtime | " + " | ".join(f"batch {b} (img/s)" for b in args.batches) + " |"
    lines = [
        f"Student branch of the `{args.preset}` preset: {h}x{w} input, dim {cfg.embed_dim}, depth {cfg.depth}, "
        f"{cfg.patch_embed} patch embedding, {n_params:.2f}M parameters; float32; device CPU "
        f"({args.threads} threads); best of repeated runs of at least {args.min_time:.0f} s.",
        "",
        header,
        "|---|" + "--:|" * len(args.batches),
    ]
    for name, row in results.items():
        lines.append(f"| {name} | " + " | ".join(row.get(b, "n/a") for b in args.batches) + " |")
    body = "\n".join(lines) + "\n\n" + "\n".join(f"- {n}" for n in notes) + ("\n" if notes else "")
    print(body)
    if not args.no_record:
        from ogfr.bench import append_results

        machine = f"{platform.processor() or platform.machine()}, {args.threads} threads, CPU only (no GPU), 1-min load average {os.getloadavg()[0]:.1f} (shared machine)"
        command = "python benchmarks/inference_throughput.py " + " ".join(
            shlex.quote(a) for a in (argv or sys.argv[1:])
        )
        append_results(
            Path(args.out), "Search: inference throughput (student branch)", command.strip(), machine, body
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

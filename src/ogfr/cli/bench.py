"""`ogfr bench cost|speed|memory`: parameters and FLOPs, time ratios, peak memory of a training step.

Thin wrapper over :mod:`ogfr.bench`. Prints a Markdown table; with ``--results FILE`` also appends it
(with the command and the machine) to that file, e.g. ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import shlex

SIZES = ("vit_base", "vit_small", "demo", "tiny")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("what", choices=("cost", "speed", "memory"), help="which measurement")
    parser.add_argument(
        "--size",
        choices=SIZES,
        default=None,
        help="model of a YAML preset: vit_base = configs/paper/_base.yaml, the others configs/<size>.yaml "
        "(default: vit_base for cost, demo for speed and memory)",
    )
    parser.add_argument(
        "--stride",
        type=int,
        default=None,
        help="cost: patch stride (paper/_base.yaml 12; Occluded-Duke 11, as TransReID)",
    )
    parser.add_argument("--num-classes", type=int, default=702, help="cost: training identities (702 = Duke)")
    parser.add_argument("--num-cameras", type=int, default=8, help="cost: cameras (8 = Duke)")
    parser.add_argument("--batch", type=int, default=32, help="speed: images per batch")
    parser.add_argument("--repeats", type=int, default=10, help="speed: timed calls per model")
    parser.add_argument("--batches", default="16,32,64", help="memory: comma-separated batch sizes")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    parser.add_argument("--results", default=None, help="append the table to this Markdown file")


def _batches(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise ValueError(f"--batches must be comma-separated integers, got {text!r}") from None
    if not values or min(values) < 2:
        raise ValueError(f"--batches needs batch sizes >= 2, got {text!r}")
    return values


def _command(args: argparse.Namespace, size: str) -> str:
    """The command line that reproduces this measurement (every setting spelled out)."""
    parts = ["ogfr", "bench", args.what, "--size", size, "--device", args.device]
    if args.what == "cost":
        parts += ["--num-classes", str(args.num_classes), "--num-cameras", str(args.num_cameras)]
        if args.stride is not None:
            parts += ["--stride", str(args.stride)]
    elif args.what == "speed":
        parts += ["--batch", str(args.batch), "--repeats", str(args.repeats)]
    else:
        parts += ["--batches", args.batches]
    if args.threads:
        parts += ["--threads", str(args.threads)]
    return " ".join(shlex.quote(p) for p in parts)


def run(args: argparse.Namespace) -> int:
    import torch

    from ogfr import bench

    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device not in ("cpu", "cuda"):
        raise ValueError(f"--device must be 'cpu' or 'cuda', got {args.device!r}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda: no CUDA device is available")
    if args.batch < 2 or args.repeats < 1:
        raise ValueError(f"--batch must be >= 2 and --repeats >= 1, got {args.batch}, {args.repeats}")
    machine = bench.describe_device(torch.device(args.device)) + f", {torch.get_num_threads()} torch threads"
    if args.what == "cost":
        size = args.size or "vit_base"
        res = bench.cost_table(size, args.num_classes, args.num_cameras, stride=args.stride)
        title = f"Parameters and FLOPs ({size}, {res['config']})"
        body = (
            bench.format_cost(res) + "\n" + bench.format_transreid(res) + "\n" + bench.format_breakdown(res)
        )
    elif args.what == "speed":
        size = args.size or "demo"
        res = bench.speed_ratios(size, batch=args.batch, repeats=args.repeats, device=args.device)
        title = f"Time ratios ({size}, batch {args.batch}, {args.device})"
        body = bench.format_speed(res)
    else:
        size = args.size or "demo"
        rows = bench.memory_scaling(size, _batches(args.batches), device=args.device)
        title = f"Peak memory of a training step ({size}, {args.device})"
        body = bench.format_memory(rows)
    print(f"## {title}\n\n{machine}\n\n{body}")
    if args.results:
        command = _command(args, size)
        bench.append_results(args.results, title, command, machine, body)
    return 0

"""Markdown tables of the benchmark results, and appending them to a results file atomically."""

from __future__ import annotations

import time
from pathlib import Path

from ogfr.bench.common import PAPER_TABLE9
from ogfr.io import atomic_write_text


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
    path = Path(path)
    old = path.read_text() if path.is_file() else "# Benchmark results\n"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    section = f"\n## {title}\n\nCommand: `{command}`  \nMachine: {machine}  \nDate: {stamp}\n\n{body}"
    atomic_write_text(path, old.rstrip("\n") + "\n" + section)


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

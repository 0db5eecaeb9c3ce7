"""``ogfr demo``: synthetic occluded benchmark -> labels -> OGFR and the single-branch baseline -> report.

Both models get the same budget (epochs x steps, batch, optimizer); the difference is only the method
switches of the Table 4 baseline (``ogfr.ablation_rows.BASELINE``: ``model.oavit=false model.fep=none
model.kd=false data.occlusion_p=0.5``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ogfr.ablation_rows import BASELINE
from ogfr.engine.config import Config, find_preset, load_config

log = logging.getLogger(__name__)

__all__ = [
    "BASELINE_OVERRIDES",
    "DemoResult",
    "demo_cache_dir",
    "demo_data_dir",
    "ensure_demo_data",
    "run_demo",
]

BASELINE_OVERRIDES = tuple(BASELINE.change_overrides())  # Table 4's single-branch baseline

# Extra figures drawn after both runs: callables (report_dir, runs) -> list of PNG paths. The
# search/figures helpers can append theirs here (e.g. visibility or erasing figures of the OGFR run).
FigureHook = Callable[[Path, dict[str, Any]], list[Path]]


@dataclasses.dataclass
class DemoResult:
    out: Path
    results: dict[str, dict[str, float]]  # method -> rank1, rank5, rank10, mAP, mINP
    seconds: dict[str, float]
    report: Path


def demo_cache_dir() -> Path:
    """Where the generated demo benchmark is cached: ``$OGFR_CACHE`` or ``~/.cache/ogfr``."""
    return Path(os.environ.get("OGFR_CACHE", Path.home() / ".cache" / "ogfr"))


def demo_data_dir(seed: int = 0) -> Path:
    """The cache folder of the synthetic demo benchmark of ``seed``."""
    from ogfr.data.synth import GENERATOR_VERSION

    return demo_cache_dir() / f"synth_demo_v{GENERATOR_VERSION}_seed{seed}"


def ensure_demo_data(root: Path | None, seed: int = 0) -> Path:
    """The synthetic demo benchmark (``SynthConfig.demo(seed)``), generated once and cached.

    ``root=None`` means the cache folder; a cached set made with other settings (an older demo
    calibration) is regenerated. A folder the user names is used as it is when it holds a complete
    synthetic data set (any settings), and generated otherwise.
    """
    from ogfr.data.synth import SynthConfig, generate

    if root is not None and (Path(root) / "synth.json").is_file():
        log.info("using the synthetic benchmark at %s", root)
        return Path(root)
    cached = root is None
    if cached:
        root = demo_data_dir(seed)
    # generate() reuses a folder that holds exactly these settings and rebuilds the cache otherwise
    return Path(generate(Path(root), SynthConfig.demo(seed=seed), overwrite=cached))


def run_demo(
    out: Path,
    *,
    data: Path | None = None,
    fast: bool = False,
    overrides: Sequence[str] = (),
    progress: bool = True,
    figure_hooks: Sequence[FigureHook] = (),
) -> DemoResult:
    """The whole demo; writes ``out/report.md``, ``out/results.png``, ``out/<method>/`` run folders."""
    from ogfr.engine.train import train

    t_start = time.perf_counter()
    out = Path(out)
    seconds: dict[str, float] = {}
    t0 = time.perf_counter()
    root = ensure_demo_data(data)
    seconds["data"] = time.perf_counter() - t0
    base = [
        f"data.root={root}",
        *(["train.epochs=2", "train.steps_per_epoch=12"] if fast else []),
        *overrides,
    ]
    methods = {"OGFR": load_config(find_preset("demo"), base)}
    methods["baseline"] = load_config(find_preset("demo"), [*base, *BASELINE_OVERRIDES])
    runs: dict[str, Any] = {}
    results: dict[str, dict[str, float]] = {}
    for name, cfg in methods.items():
        run_dir = out / name.lower()
        if (run_dir / "last.pt").exists():  # a previous demo in the same folder: start that run afresh
            for p in run_dir.iterdir():
                if p.is_file():
                    p.unlink()
        log.info("training %s (%d epochs) into %s", name, cfg.train.epochs, run_dir)
        t0 = time.perf_counter()
        runs[name] = train(cfg, run_dir, progress=progress)
        seconds[name] = time.perf_counter() - t0
        results[name] = dict(runs[name].final)
    figures = _figures(out, runs, results)
    for hook in figure_hooks:
        try:
            figures.extend(hook(out, runs))
        except Exception as err:  # a figure must not sink the demo
            log.warning("figure hook %s failed: %s", getattr(hook, "__name__", hook), err)
    seconds["total"] = time.perf_counter() - t_start
    report = write_report(out, root, methods, runs, results, seconds, figures, fast)
    return DemoResult(out, results, seconds, report)


def _figures(out: Path, runs: dict[str, Any], results: dict[str, dict[str, float]]) -> list[Path]:
    from ogfr.viz.curves import results_bar_chart

    figures = [results_bar_chart(results, out / "results.png", title="synthetic occluded queries")]
    figures += [r.run_dir / "curves.png" for r in runs.values() if (r.run_dir / "curves.png").is_file()]
    try:
        figures.append(_ranked(out, runs))
    except Exception as err:
        log.warning("ranked-list figure skipped: %s", err)
    return figures


def _ranked(out: Path, runs: dict[str, Any], num_queries: int = 4, top: int = 5) -> Path:
    """Top-``top`` gallery images of a few occluded queries, OGFR next to the baseline (paper Figure 8)."""
    from ogfr.metrics import visibility_distance
    from ogfr.viz.ranked import RankedRow, ranked_list_figure

    rows = []
    n = len(next(iter(runs.values())).query_features["paths"])
    picks = sorted({round(i * (n - 1) / max(num_queries - 1, 1)) for i in range(num_queries)})  # spread out
    for i in picks:
        for name, run in runs.items():
            q, g = run.query_features, run.gallery_features
            qi = slice(i, i + 1)
            if q["parts"] is not None:
                d = visibility_distance(
                    q["global"][qi],
                    q["parts"][qi],
                    q["visibility"][qi],
                    g["global"],
                    g["parts"],
                    g["visibility"],
                )[0]
            else:
                d = (g["global"] - q["global"][qi]).norm(dim=1)
            same = (g["pids"] == q["pids"][qi]) & (g["camids"] == q["camids"][qi])
            d = d.masked_fill(same, float("inf"))  # same id + camera are not counted (protocol)
            order = d.argsort()[:top]
            rows.append(
                RankedRow(
                    query=q["paths"][qi.start],
                    gallery=[g["paths"][j] for j in order],
                    query_pid=int(q["pids"][qi.start]),
                    gallery_pids=[int(g["pids"][j]) for j in order],
                    distances=[float(d[j]) for j in order],
                    label=name,
                )
            )
    return ranked_list_figure(rows, out / "ranked.png")


def _device(run: Any) -> str:
    try:
        return str(next(run.model.parameters()).device)
    except (AttributeError, StopIteration):
        return "?"


def write_report(
    out: Path,
    root: Path,
    methods: dict[str, Config],
    runs: dict[str, Any],
    results: dict[str, dict[str, float]],
    seconds: dict[str, float],
    figures: list[Path],
    fast: bool,
) -> Path:
    """``report.md``: results table, settings, timings, figures, how to reproduce."""
    import torch

    from ogfr.io import atomic_write_json

    ogfr_cfg = methods["OGFR"]
    lines = [
        "# ogfr demo report",
        "",
        f"Synthetic occluded Re-ID benchmark at `{root}` (occluded queries vs a mostly holistic gallery).",
        f"Machine: {platform.platform()}, {os.cpu_count()} CPU cores, device `{_device(runs['OGFR'])}`, "
        f"torch {torch.__version__} with {torch.get_num_threads()} threads and "
        f"{torch.backends.cpu.get_cpu_capability()} CPU kernels (the numbers repeat bit for bit for the same "
        "seed, thread count and CPU kernels; README, Reproducibility).",
        f"Budget per method: {ogfr_cfg.train.epochs} epochs x "
        f"{runs['OGFR'].steps // ogfr_cfg.train.epochs} steps of {ogfr_cfg.data.p} x {ogfr_cfg.data.k} images"
        + (" (--fast)" if fast else "")
        + ".",
        "",
        "| method | Rank-1 | Rank-5 | Rank-10 | mAP | mINP | train + eval time |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        cells = [f"{100 * r.get(k, float('nan')):.1f}" for k in ("rank1", "rank5", "rank10", "mAP", "mINP")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {seconds[name]:.0f} s |")
    lines += [
        "",
        f"Total time {seconds['total']:.0f} s (data {seconds['data']:.0f} s).",
        "The baseline is the Table 4 single-branch ViT (`" + " ".join(BASELINE_OVERRIDES) + "`), same "
        "budget (its single branch sees an occluded image half of the time, as the two-branch backbone does).",
        "",
        "## Figures",
        "",
    ]
    lines += [f"![{p.stem}]({p.relative_to(out) if p.is_relative_to(out) else p})" for p in figures]
    lines += [
        "",
        "## Reproduce",
        "",
        "```bash",
        "ogfr demo" + (" --fast" if fast else "") + f" --out {out}",
        f"ogfr train --config configs/demo.yaml data.root={root} --out runs/demo_ogfr",
        f"ogfr eval --checkpoint {runs['OGFR'].run_dir / 'best.pt'} --dataset {root}",
        "```",
        "",
    ]
    path = out / "report.md"
    out.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(".report.md.tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    atomic_write_json(
        out / "results.json", {"results": results, "seconds": seconds, "data": str(root), "fast": fast}
    )
    return path

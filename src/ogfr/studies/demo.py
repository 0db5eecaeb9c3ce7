"""``ogfr demo``: synthetic occluded benchmark -> labels -> OGFR and the single-branch baseline -> report.

Both models get the same budget (epochs x steps, batch, optimizer); the difference is only the method
switches (baseline: ``model.oavit=false model.fep=none model.kd=false``, the Table 4 baseline). The report
shows the results, the training curves and the paper's figures drawn from the runs' last evaluation:
ranked lists (Figure 8), visibility (Figure 6b) and the erasing mask (Figure 7).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import platform
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ogfr.engine.config import Config, find_preset, load_config

log = logging.getLogger(__name__)

__all__ = [
    "BASELINE_OVERRIDES",
    "DemoResult",
    "demo_cache_dir",
    "demo_data_dir",
    "ensure_demo_data",
    "model_figures",
    "run_demo",
]

BASELINE_OVERRIDES = ("model.oavit=false", "model.fep=none", "model.kd=false")


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
    seconds["total"] = time.perf_counter() - t_start
    report = write_report(out, root, methods, runs, results, seconds, figures, fast)
    return DemoResult(out, results, seconds, report)


def _figures(out: Path, runs: dict[str, Any], results: dict[str, dict[str, float]]) -> list[Path]:
    from ogfr.viz.curves import results_bar_chart

    figures = [results_bar_chart(results, out / "results.png", title="synthetic occluded queries")]
    figures += [r.run_dir / "curves.png" for r in runs.values() if (r.run_dir / "curves.png").is_file()]
    for name, draw in (
        ("ranked-list", lambda: [_ranked(out, runs)]),
        ("model", lambda: model_figures(out, runs["OGFR"])),
    ):
        try:
            figures.extend(draw())
        except Exception as err:  # a figure must not sink the demo
            log.warning("%s figures skipped: %s", name, err)
    return figures


def model_figures(out: Path, run: Any, num_images: int = 3) -> list[Path]:
    """Visibility (Figure 6b) and erasing (Figure 7) figures of a run's model on a few query images of its
    last evaluation, with the codes z and cameras they were evaluated with."""
    from ogfr.engine.features import FeatureExtractor
    from ogfr.search.figures import erasing_figure_for, visibility_figure_for

    feats = run.query_features
    if feats is None or feats.paths is None:
        raise ValueError("the run has no evaluation features to draw from")
    step = max(1, len(feats) // num_images)
    pick = feats.select(list(range(0, step * num_images, step))[:num_images])
    extractor = FeatureExtractor(run.model, run.codes)
    inputs = dict(z=pick.z, camids=pick.camids)
    made = [visibility_figure_for(extractor, pick.paths, Path(out) / "visibility.png", **inputs)]
    try:
        made.append(erasing_figure_for(extractor, pick.paths, Path(out) / "erasing.png", **inputs))
    except ValueError as err:  # a model without an erasing agent (e.g. mask="none")
        log.info("erasing figure skipped: %s", err)
    return made


def _ranked(out: Path, runs: dict[str, Any], num_queries: int = 4, top: int = 5) -> Path:
    """Top-``top`` gallery images of a few occluded queries, OGFR next to the baseline (paper Figure 8)."""
    from ogfr.metrics import top_k
    from ogfr.viz.ranked import RankedRow, ranked_list_figure

    rows = []
    n = len(next(iter(runs.values())).query_features)
    picks = sorted({round(i * (n - 1) / max(num_queries - 1, 1)) for i in range(num_queries)})  # spread out
    lists = {
        name: top_k(r.query_features.select(picks), r.gallery_features, top, camera_filter=True)
        for name, r in runs.items()
    }
    for row, i in enumerate(picks):
        for name, run in runs.items():
            q, g = run.query_features, run.gallery_features
            found = list(lists[name].row(row))
            rows.append(
                RankedRow(
                    query=q.paths[i],
                    gallery=[g.paths[j] for j, _, _ in found],
                    query_pid=int(q.pids[i]),
                    gallery_pids=[int(g.pids[j]) for j, _, _ in found],
                    distances=[d for _, d, _ in found],
                    label=name,
                )
            )
    return ranked_list_figure(rows, out / "ranked.png")


def _device(run: Any) -> str:
    try:
        return str(next(run.model.parameters()).device)
    except (AttributeError, StopIteration):
        return "?"


def agent_lines(history: Sequence[dict[str, Any]]) -> list[str]:
    """Markdown lines on what the OGFR run's erasing agent did, from its metrics rows ([] without one)."""
    rows = [r for r in history if "stat_m_std_hp" in r]
    if not rows:
        return []
    first, last = rows[0], rows[-1]
    keys = [
        ("stat_keep_ratio_hp", "kept share of patches (training samples)"),
        ("stat_m_std_hp", "std of m across an image's patches"),
        ("stat_noise_auc_hp", "noise AUC of 1 - m, training batches"),
        ("stat_noise_auc_holistic", "noise AUC of 1 - m, 128 holistic test images (eval)"),
        ("stat_reward_hp", "reward r (eq. 10)"),
        ("stat_p_m_hp", "p^m, true-class probability with the mask"),
        ("stat_p_b_hp", "p^b, the baseline"),
        ("stat_agent_bias_hp", "agent bias b (eq. 7)"),
    ]
    lines = [
        "## Erasing agent (teacher)",
        "",
        "Noise = background, occluder or other pedestrian by the synthetic ground truth; AUC 0.5 = chance. "
        "Per epoch in `ogfr/metrics.jsonl`, drawn in `ogfr/curves.png`.",
        "",
        f"| | epoch {first['epoch']} | epoch {last['epoch']} |",
        "|---|--:|--:|",
    ]
    for key, label in keys:
        if key in last:
            lines.append(f"| {label} | {first.get(key, float('nan')):.3f} | {last[key]:.3f} |")
    return [*lines, ""]


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
        "budget, same occlusion augmentation.",
        "",
        *agent_lines(runs["OGFR"].history),
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

"""Training curves (loss terms, learning rate, Rank-1 / mAP per epoch) as a PNG."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ogfr.viz.figure import save_figure

__all__ = ["results_bar_chart", "training_curves"]

_SKIP = {
    "epoch",
    "step",
    "lr",
    "images_per_s",
    "epoch_time_s",
    "unreadable_images",
    "data_time_s",
    "rank1",
    "rank5",
    "rank10",
    "mAP",
    "mINP",
}


def training_curves(rows: Sequence[dict[str, Any]], out_path: str | os.PathLike, title: str = "") -> Path:
    """Three panels from ``metrics.jsonl`` rows: loss terms, learning rate, Rank-1 / mAP (%)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("training_curves: no metric rows to plot")
    epochs = [r["epoch"] for r in rows]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    terms = sorted({k for r in rows for k in r if k not in _SKIP and not k.startswith("stat_")})
    for key in terms:
        pts = [(r["epoch"], r[key]) for r in rows if key in r]
        axes[0].plot(*zip(*pts, strict=True), marker=".", label=key, lw=2.2 if key == "total" else 1.0)
    axes[0].set(title="loss terms", xlabel="epoch")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].plot(epochs, [r.get("lr", float("nan")) for r in rows], marker=".")
    axes[1].set(title="learning rate", xlabel="epoch")
    for key, label in (("rank1", "Rank-1"), ("mAP", "mAP")):
        pts = [(r["epoch"], 100 * r[key]) for r in rows if key in r]
        if pts:
            axes[2].plot(*zip(*pts, strict=True), marker="o", label=label)
    axes[2].set(title="query / gallery (%)", xlabel="epoch")
    if axes[2].lines:
        axes[2].legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        return save_figure(fig, out_path, dpi=110)
    finally:
        plt.close(fig)


def results_bar_chart(
    results: dict[str, dict[str, float]], out_path: str | os.PathLike, title: str = ""
) -> Path:
    """Grouped bars of Rank-1 / Rank-5 / mAP (%) per method: ``{"OGFR": {"rank1": 0.7, ...}, ...}``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not results:
        raise ValueError("results_bar_chart: no results to plot")
    keys = [("rank1", "Rank-1"), ("rank5", "Rank-5"), ("mAP", "mAP"), ("mINP", "mINP")]
    keys = [(k, lab) for k, lab in keys if all(k in r for r in results.values())]
    fig, ax = plt.subplots(figsize=(1.6 + 1.6 * len(keys) * len(results) / 2, 3.6))
    width = 0.8 / len(results)
    for i, (name, r) in enumerate(results.items()):
        xs = [j + i * width for j in range(len(keys))]
        bars = ax.bar(xs, [100 * r[k] for k, _ in keys], width=width, label=name)
        ax.bar_label(bars, fmt="%.1f", fontsize=7)
    ax.set_xticks([j + width * (len(results) - 1) / 2 for j in range(len(keys))], [lab for _, lab in keys])
    ax.set_ylabel("%")
    ax.set_ylim(0, 105)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    try:
        return save_figure(fig, out_path, dpi=110)
    finally:
        plt.close(fig)

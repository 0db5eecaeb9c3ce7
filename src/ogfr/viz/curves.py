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


# Agent diagnostics drawn in the fourth and fifth panels (teacher "hp" first, then the student "op").
_AGENT = {
    "keep_ratio": "kept share", "m_std": "std of m over patches", "noise_auc": "noise AUC (train batches)",
}  # fmt: skip
_REWARD = {"reward": "reward r", "p_m": "p^m (masked)", "p_b": "p^b (baseline)"}


def training_curves(rows: Sequence[dict[str, Any]], out_path: str | os.PathLike, title: str = "") -> Path:
    """Panels from ``metrics.jsonl`` rows: loss terms, learning rate, Rank-1 / mAP (%); for a run with an
    erasing agent also its mask (kept share, spread of m, noise AUC on training batches and on the
    holistic probe) and its reward (r, p^m, p^b)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not rows:
        raise ValueError("training_curves: no metric rows to plot")
    epochs = [r["epoch"] for r in rows]
    agent = any(k.startswith("stat_m_std_") for r in rows for k in r)
    fig, axes = plt.subplots(1, 5 if agent else 3, figsize=(21 if agent else 13, 3.6))
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
    if agent:
        _stat_lines(axes[3], rows, _AGENT)
        pts = [(r["epoch"], r["stat_noise_auc_holistic"]) for r in rows if "stat_noise_auc_holistic" in r]
        if pts:
            axes[3].plot(*zip(*pts, strict=True), marker="o", label="noise AUC (holistic probe, eval)")
        axes[3].axhline(0.5, color="grey", lw=0.6, ls=":")
        axes[3].set(title="erasing agent (mask)", xlabel="epoch", ylim=(0, 1.02))
        axes[3].legend(fontsize=6)
        _stat_lines(axes[4], rows, _REWARD)
        axes[4].set(title="erasing agent (reward, eq. 9-10)", xlabel="epoch")
        axes[4].legend(fontsize=6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    try:
        return save_figure(fig, out_path, dpi=110)
    finally:
        plt.close(fig)


def _stat_lines(ax, rows: Sequence[dict[str, Any]], names: dict[str, str]) -> None:
    for branch, who in (("hp", "teacher"), ("op", "student")):
        for stat, label in names.items():
            key = f"stat_{stat}_{branch}"
            pts = [(r["epoch"], r[key]) for r in rows if key in r]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker=".", label=f"{who}: {label}")


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

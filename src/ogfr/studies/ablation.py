"""The ablation studies of the paper (Tables 4-8, Figure 4) on the synthetic occluded benchmark.

Each row of a table (``ogfr.studies.ablation_rows``) is a set of config overrides applied to one training
preset: the full model's switches, with the ones that row's table varies changed. Every row is trained with the same
budget and several seeds, evaluated on the occluded queries, and aggregated (mean and sample standard
deviation over seeds) into a Markdown table next to the paper's numbers.

The runner never imports the engine at module import time: ``run_study`` takes a ``train_fn`` (the
default one, ``engine_train_fn``, calls ``ogfr.engine``), so the row definitions, aggregation and
table writer can be used and tested on their own.
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ogfr.io import atomic_write_json, atomic_write_text
from ogfr.studies.ablation_rows import ALL_TABLES, AUC_TABLES, COLUMNS, TITLES, AblationRow, fmt_value

log = logging.getLogger(__name__)

# (overrides, run directory) -> metrics dict with at least "rank1" and "map" (fractions in [0, 1]).
TrainFn = Callable[[list[str], Path], dict[str, float]]

RESULT_FILE = "result.json"


def seed_list(seeds: int | Sequence[int]) -> list[int]:
    """``3`` -> ``[0, 1, 2]``; an explicit list is kept (duplicates refused)."""
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {seeds}")
        return list(range(seeds))
    out = [int(s) for s in seeds]
    if not out:
        raise ValueError("seeds: need at least one seed")
    if len(set(out)) != len(out):
        raise ValueError(f"seeds: duplicates in {out}")
    return out


@dataclass(frozen=True)
class RunSpec:
    """One training run: the row whose switches it uses, a seed, and where it writes."""

    row: AblationRow
    seed: int
    out: Path
    overrides: tuple[str, ...]


def plan_runs(
    rows: Sequence[AblationRow],
    seeds: Sequence[int],
    out: Path,
    extra_overrides: Sequence[str] = (),
    seed_key: str = "train.seed",
) -> tuple[list[RunSpec], dict[str, str]]:
    """The runs of a study, and for every row the key of the row whose runs it shares.

    Rows with identical switches (Table 5's agent row is Table 4's full row) are trained once.
    ``extra_overrides`` (budget, data root, ...) come first; the row switches and seed win over them.
    """
    owner: dict[str, str] = {}
    by_switches: dict[tuple, str] = {}
    runs: list[RunSpec] = []
    for row in rows:
        sig = tuple(sorted(row.switches().items()))
        if sig in by_switches:
            owner[row.key] = by_switches[sig]
            continue
        by_switches[sig] = row.key
        owner[row.key] = row.key
        for seed in seeds:
            ov = (*extra_overrides, *row.overrides(), f"{seed_key}={seed}")
            runs.append(RunSpec(row=row, seed=seed, out=out / row.key / f"seed{seed}", overrides=tuple(ov)))
    return runs, owner


@dataclass(frozen=True)
class Stat:
    """Mean, sample standard deviation (ddof 1; NaN for one value), min and max of a metric."""

    mean: float
    std: float
    n: int
    min: float
    max: float


def aggregate(values: Sequence[float]) -> Stat:
    """Summary statistics of one metric over seeds."""
    vals = [float(v) for v in values]
    if not vals:
        raise ValueError("aggregate: no values")
    std = statistics.stdev(vals) if len(vals) > 1 else math.nan
    return Stat(mean=statistics.fmean(vals), std=std, n=len(vals), min=min(vals), max=max(vals))


def _pct(stat: Stat) -> str:
    if math.isnan(stat.std):
        return f"{100 * stat.mean:.1f}"
    return f"{100 * stat.mean:.1f} ± {100 * stat.std:.1f}"


def _cell(row: AblationRow, key: str) -> str:
    value = row.switches()[key]
    if key == "model.mask" and row.switches()["model.fep"] == "none":
        return "-"  # no FEP: the mask is not applicable
    if isinstance(value, bool):
        return "yes" if value else "-"
    return fmt_value(value)


def _paper(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def _auc(runs: Sequence[dict[str, float]]) -> str:
    """The agent's noise AUC on the holistic probe, mean ± std over the runs that have one."""
    values = [r["noise_auc"] for r in runs if "noise_auc" in r]
    if not values:
        return "-"
    stat = aggregate(values)
    return f"{stat.mean:.2f}" + ("" if math.isnan(stat.std) else f" ± {stat.std:.2f}")


def format_table(rows: Sequence[AblationRow], results: dict[str, list[dict[str, float]]]) -> str:
    """Markdown: one table per paper table among ``rows`` (with its title when there are several):
    the switches it varies, Rank-1 and mAP (percent, mean ± std over seeds), the paper's numbers; the
    erasing tables (`AUC_TABLES`) also the agent's noise AUC on the holistic probe.

    ``results`` maps a row key to its per-seed metric dicts (``rank1``, ``map`` as fractions, optional
    ``noise_auc``). Rows with no result yet are shown with ``-``.
    """
    tables = [t for t in ALL_TABLES if any(r.table == t for r in rows)]
    parts = []
    for table in tables:
        cols = COLUMNS[table]
        auc = table in AUC_TABLES
        lines = [
            "| row | "
            + " | ".join(h for _, h in cols)
            + " | seeds | Rank-1 (%) | mAP (%) |"
            + (" noise AUC |" if auc else "")
            + " paper Rank-1 | paper mAP |",
            "|---|" + ":-:|" * len(cols) + ":-:|--:|--:|" + ("--:|" if auc else "") + "--:|--:|",
        ]
        for row in (r for r in rows if r.table == table):
            runs = results.get(row.key, [])
            r1, mp = "-", "-"
            if runs:
                r1 = _pct(aggregate([r["rank1"] for r in runs]))
                mp = _pct(aggregate([r["map"] for r in runs]))
            cells = " | ".join(_cell(row, key) for key, _ in cols)
            lines.append(
                f"| {row.label} | {cells} | {len(runs)} | {r1} | {mp} |"
                + (f" {_auc(runs)} |" if auc else "")
                + f" {_paper(row.paper_rank1)} | {_paper(row.paper_map)} |"
            )
        body = "\n".join(lines) + "\n"
        parts.append(f"### {TITLES[table]}\n\n{body}" if len(tables) > 1 else body)
    return "\n".join(parts)


def read_result(run_dir: Path) -> dict[str, float] | None:
    """The stored metrics of a finished run, or None when the run has not finished."""
    path = run_dir / RESULT_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err}); delete it to rerun that run") from err
    if not isinstance(data, dict) or "rank1" not in data or "map" not in data:
        raise ValueError(f"{path}: expected a JSON object with 'rank1' and 'map'")
    return data


@dataclass
class StudyResult:
    """What ``run_study`` produced: per-row per-seed metrics and the Markdown table."""

    rows: list[AblationRow]
    results: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    table: str = ""


def run_study(
    rows: Sequence[AblationRow],
    seeds: Sequence[int],
    out: Path,
    train_fn: TrainFn | None,
    extra_overrides: Sequence[str] = (),
    seed_key: str = "train.seed",
    command_prefix: str = "ogfr train",
) -> StudyResult:
    """Train every (row, seed) run not finished yet, then aggregate and write the summary files.

    Resumable: a run whose ``result.json`` exists is not retrained. With ``train_fn=None`` nothing is
    trained: the table is made of the runs finished so far (a partial study says so by its seed counts). Writes ``OUT/summary.json`` (per-row
    metrics per seed, statistics, the command of every run) and ``OUT/ablation.md`` (the table).
    """
    out = Path(out)
    runs, owner = plan_runs(rows, seeds, out, extra_overrides, seed_key)
    per_key: dict[str, list[dict[str, float]]] = {}
    commands: dict[str, list[str]] = {}
    for i, spec in enumerate(runs, 1):
        cmd = f"{command_prefix} {' '.join(spec.overrides)} --out {spec.out}"
        commands.setdefault(spec.row.key, []).append(cmd)
        result = read_result(spec.out)
        if result is None and train_fn is None:
            log.info(
                "ablation run %d/%d: %s seed %d not finished, skipped", i, len(runs), spec.row.key, spec.seed
            )
            continue
        if result is None:
            assert train_fn is not None
            log.info("ablation run %d/%d: %s seed %d", i, len(runs), spec.row.key, spec.seed)
            t0 = time.perf_counter()
            metrics = train_fn(list(spec.overrides), spec.out)
            if "rank1" not in metrics or "map" not in metrics:
                raise ValueError(
                    f"train_fn for {spec.row.key} returned {sorted(metrics)}: need 'rank1' and 'map'"
                )
            result = {k: float(v) for k, v in metrics.items()}
            result["seconds"] = time.perf_counter() - t0
            result["seed"] = spec.seed
            atomic_write_json(spec.out / RESULT_FILE, result, sort_keys=True)
        else:
            log.info("ablation run %d/%d: %s seed %d already done", i, len(runs), spec.row.key, spec.seed)
        per_key.setdefault(spec.row.key, []).append(result)
    results = {row.key: per_key.get(owner[row.key], []) for row in rows}
    table = format_table(rows, results)
    summary = {
        "seeds": list(seeds),
        "extra_overrides": list(extra_overrides),
        "rows": {
            row.key: {
                "label": row.label,
                "table": row.table,
                "switches": row.switches(),
                "shares_runs_of": owner[row.key],
                "runs": results[row.key],
                "commands": commands.get(owner[row.key], []),
                "rank1": _stat_dict([r["rank1"] for r in results[row.key]]),
                "map": _stat_dict([r["map"] for r in results[row.key]]),
                "paper": {"rank1": row.paper_rank1, "map": row.paper_map},
            }
            for row in rows
        },
    }
    atomic_write_json(out / "summary.json", summary, sort_keys=True)
    atomic_write_text(out / "ablation.md", table)
    return StudyResult(rows=list(rows), results=results, table=table)


def _stat_dict(values: Sequence[float]) -> dict[str, float] | None:
    if not values:
        return None
    s = aggregate(values)
    return {
        "mean": s.mean,
        "std": s.std if not math.isnan(s.std) else None,
        "n": s.n,
        "min": s.min,
        "max": s.max,
    }


def resolve_preset(preset: str | Path) -> Path:
    """A preset name (``demo`` -> ``configs/demo.yaml`` of this checkout) or a YAML path, checked."""
    path = Path(preset)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise FileNotFoundError(f"preset {path}: no such file")
        return path
    from ogfr.engine.config import find_preset

    return find_preset(str(preset))


def engine_train_fn(preset: Path, progress: bool = True) -> TrainFn:
    """A ``TrainFn`` that trains ``preset`` + overrides with ``ogfr.engine.train`` and returns the metrics
    of its final evaluation (query/gallery of the data set: the occluded queries for the synthetic set)."""

    def train_fn(overrides: list[str], out: Path) -> dict[str, float]:
        from ogfr.engine import load_config, train

        cfg = load_config(preset, overrides)
        resume = (Path(out) / "last.pt").is_file()  # an interrupted run continues where it stopped
        if resume:
            log.info("resuming the interrupted run in %s", out)
        result = train(cfg, out, resume=resume, progress=progress)
        final = result.final
        if "rank1" not in final or "mAP" not in final:
            raise ValueError(f"training run {out} finished without an evaluation (got {sorted(final)})")
        metrics = {"rank1": final["rank1"], "map": final["mAP"], "steps": float(result.steps)}
        metrics.update({k: final[k] for k in ("rank5", "rank10", "mINP") if k in final})
        last = result.history[-1] if result.history else {}
        for key, name in (("stat_noise_auc_holistic", "noise_auc"), ("stat_noise_auc_hp", "noise_auc_train")):
            if key in last:  # the teacher's agent against the ground truth (synthetic data)
                metrics[name] = last[key]
        return {k: float(v) for k, v in metrics.items()}

    return train_fn

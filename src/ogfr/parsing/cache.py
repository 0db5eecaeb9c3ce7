"""On-disk cache of part-label maps: built once per data set by ``ogfr parse``, read by training.

Layout of a cache folder (default ``<dataset root>/ogfr_labels/<backend>/``)::

    meta.json        {"format": "ogfr-labels", "version", "backend", "label_size", "dataset_root", ...}
    status.jsonl     one line per finished image: {"key", "status", "reason"}
    summary.json     backend, images, no_person, unreadable, visible_fraction (per coarse part), ...
    <split folder>/<stem>.png   uint8 part map (h, w), mirroring the data set's tree

Every entry is written to a temporary file and renamed into place, so a killed run leaves only whole
entries, and a second run skips them (resume). A cache made by another backend or label size is refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ogfr.images import read_image
from ogfr.io import atomic_write_bytes, atomic_write_json, check_can_create, make_dirs
from ogfr.parsing.base import Backend, ParseResult
from ogfr.parsing.codes import occlusion_code
from ogfr.parts import COARSE_NAMES, NUM_PARTS

log = logging.getLogger(__name__)

CACHE_FORMAT = "ogfr-labels"
CACHE_VERSION = 1
META_FILE = "meta.json"
STATUS_FILE = "status.jsonl"
SUMMARY_FILE = "summary.json"


def default_cache_dir(dataset_root: Path, backend: str) -> Path:
    """``<dataset root>/ogfr_labels/<backend>``."""
    return Path(dataset_root) / "ogfr_labels" / backend


def write_label_png(path: Path, labels: np.ndarray) -> None:
    """Save a (h, w) uint8 part map as a PNG, atomically."""
    import io

    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(labels, dtype=np.uint8), mode="L").save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def read_meta(root: Path) -> dict:
    """The cache's ``meta.json``; FileNotFoundError / ValueError with the path when absent or foreign."""
    path = Path(root) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: not an ogfr label cache (no meta.json); build one with `ogfr parse`"
        )
    try:
        meta = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: unreadable meta.json ({err})") from None
    if meta.get("format") != CACHE_FORMAT:
        raise ValueError(f"{path}: not an ogfr label cache (format {meta.get('format')!r})")
    if meta.get("version") != CACHE_VERSION:
        raise ValueError(
            f"{path}: cache version {meta.get('version')} but this ogfr reads version {CACHE_VERSION}; "
            "rebuild it with `ogfr parse`"
        )
    return meta


def entry_key(image_path: Path, dataset_root: Path) -> str:
    """Cache key of an image: its path relative to the data set root, with a ``.png`` suffix."""
    try:
        rel = Path(image_path).resolve().relative_to(Path(dataset_root).resolve())
    except ValueError:
        raise ValueError(f"{image_path}: image is not inside the data set root {dataset_root}") from None
    return rel.with_suffix(".png").as_posix()


class LabelCache:
    """Picklable callable ``Sample -> np.ndarray (h, w) uint8`` reading a cache built by ``build_cache``.

    ``dataset_root`` defaults to the one recorded in ``meta.json``; images outside it (a moved data set)
    are matched by their trailing path components. ``missing="none"`` returns None for images that have
    no entry instead of raising FileNotFoundError.
    """

    def __init__(
        self, root: Path | str, dataset_root: Path | str | None = None, missing: str = "error"
    ) -> None:
        if missing not in ("error", "none"):
            raise ValueError(f"missing must be 'error' or 'none', got {missing!r}")
        self.root = Path(root)
        meta = read_meta(self.root)
        self.backend: str = meta["backend"]
        self.label_size: tuple[int, int] = (int(meta["label_size"][0]), int(meta["label_size"][1]))
        self.dataset_root = Path(dataset_root) if dataset_root is not None else Path(meta["dataset_root"])
        self.missing = missing

    def entry_path(self, image_path: Path) -> Path:
        """Where the entry of ``image_path`` lives (it may not exist yet)."""
        try:
            return self.root / entry_key(image_path, self.dataset_root)
        except ValueError:
            parts = Path(image_path).with_suffix(".png").parts
            for n in range(1, min(len(parts), 4) + 1):  # split folder / stem, then deeper trees
                candidate = self.root.joinpath(*parts[-n:])
                if candidate.is_file():
                    return candidate
            return self.root.joinpath(*parts[-2:])

    def __call__(self, sample: Any) -> np.ndarray | None:
        path = self.entry_path(Path(getattr(sample, "path", sample)))
        if not path.is_file():
            if self.missing == "none":
                return None
            raise FileNotFoundError(
                f"{path}: no cached labels for {getattr(sample, 'path', sample)}; run "
                f"`ogfr parse --dataset {self.dataset_root} --backend {self.backend}` first"
            )
        labels = np.asarray(read_image(path, mode=None), dtype=np.uint8)
        if labels.shape != self.label_size or labels.max(initial=0) > NUM_PARTS:
            raise ValueError(
                f"{path}: expected a {self.label_size[0]}x{self.label_size[1]} map of part ids 0..{NUM_PARTS}, "
                f"got shape {labels.shape} max {labels.max(initial=0)}"
            )
        return labels

    def __repr__(self) -> str:
        return f"LabelCache({str(self.root)!r}, backend={self.backend!r}, label_size={self.label_size})"


def _open_or_create(out: Path, backend: Backend, dataset_root: Path, dataset: str) -> dict:
    meta = {
        "format": CACHE_FORMAT,
        "version": CACHE_VERSION,
        "backend": backend.name,
        "backend_config": backend.config(),
        "label_size": list(backend.label_size),
        "dataset_root": str(Path(dataset_root).resolve()),
        "dataset": dataset,
    }
    check_can_create(out, f"label cache folder {out}")
    if (out / META_FILE).exists():
        old = read_meta(out)
        for key in ("backend", "label_size"):
            if old.get(key) != meta[key]:
                raise ValueError(
                    f"{out}: this cache was built with {key}={old.get(key)!r}, not {meta[key]!r}; "
                    "choose another --out folder (or delete this one to rebuild it)"
                )
        if old.get("backend_config") != meta["backend_config"]:
            log.warning("%s: backend settings differ from the ones that started this cache", out)
        return old
    make_dirs(out)
    atomic_write_json(out / META_FILE, meta, sort_keys=True)
    return meta


def read_status(out: Path) -> dict[str, dict]:
    """``key -> {"status", "reason"}`` from ``status.jsonl`` (a torn last line of a killed run is ignored)."""
    path = out / STATUS_FILE
    records: dict[str, dict] = {}
    if not path.is_file():
        return records
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
            records[rec["key"]] = rec
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return records


def summarize(
    out: Path,
    keys: Sequence[str],
    backend: str,
    num_coarse: int = 4,
    lam: float = 5.0,
    max_problems: int = 50,
) -> dict:
    """Summary of the entries ``keys`` of a cache: counts per status and visible fraction per coarse part."""
    status = read_status(out)
    counts = {"ok": 0, "no_person": 0, "unreadable": 0}
    visible = np.zeros(num_coarse, dtype=np.int64)
    problems = []
    for key in keys:
        labels = np.asarray(read_image(out / key, mode=None), dtype=np.uint8)
        rec = status.get(key) or {"status": "ok" if labels.any() else "no_person", "reason": ""}
        counts[rec["status"]] = counts.get(rec["status"], 0) + 1
        visible += 1 - occlusion_code(labels, num_coarse, lam)[0]
        if rec["status"] != "ok" and len(problems) < max_problems:
            problems.append({"key": key, "status": rec["status"], "reason": rec.get("reason", "")})
    n = len(keys)
    names = COARSE_NAMES[num_coarse]
    return {
        "backend": backend,
        "images": n,
        "ok": counts["ok"],
        "no_person": counts["no_person"],
        "unreadable": counts["unreadable"],
        "visible_fraction": {
            name: (float(v) / n if n else 0.0) for name, v in zip(names, visible, strict=True)
        },
        "num_coarse": num_coarse,
        "lam": lam,
        "problems": problems,
    }


def build_cache(
    image_paths: Iterable[Path],
    backend: Backend,
    out: Path,
    dataset_root: Path,
    dataset: str = "",
    num_coarse: int = 4,
    lam: float = 5.0,
    batch_size: int = 16,
    progress: bool = True,
) -> dict:
    """Compute and store the labels of every image (resuming a partial cache); returns the summary.

    The summary is also written to ``out/summary.json``. Raises ValueError when ``out`` holds a cache of
    another backend or label size.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    out = Path(out)
    _open_or_create(out, backend, dataset_root, dataset)
    keyed: dict[str, Path] = {}
    for p in image_paths:
        keyed.setdefault(entry_key(p, dataset_root), Path(p))
    todo = [(k, p) for k, p in keyed.items() if not (out / k).is_file()]
    if len(todo) < len(keyed):
        log.info("%s: %d of %d images already cached, resuming", out, len(keyed) - len(todo), len(keyed))
    _run_batches(todo, backend, out, batch_size, progress)
    summary = summarize(out, sorted(keyed), backend.name, num_coarse, lam)
    atomic_write_json(out / SUMMARY_FILE, summary, sort_keys=True)
    return summary


def _run_batches(
    todo: list[tuple[str, Path]], backend: Backend, out: Path, batch_size: int, progress: bool
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (
        TextColumn(f"parse ({backend.name})", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]} img/s"),
        TimeRemainingColumn(),
    )
    with (
        Progress(*columns, disable=not progress or not todo) as bar,
        open(out / STATUS_FILE, "a", encoding="utf-8") as status_log,
    ):
        task = bar.add_task("parse", total=len(todo), rate="-")
        for start in range(0, len(todo), batch_size):
            chunk = todo[start : start + batch_size]
            results = backend.parse([p for _, p in chunk])
            if len(results) != len(chunk):
                raise RuntimeError(
                    f"backend {backend.name} returned {len(results)} results for {len(chunk)} images"
                )
            for (key, _), res in zip(chunk, results, strict=True):
                _store(out, key, res, backend.label_size)
                status_log.write(json.dumps({"key": key, "status": res.status, "reason": res.reason}) + "\n")
                if res.status != "ok":
                    log.debug("%s: %s (%s)", key, res.status, res.reason)
            status_log.flush()
            bar.update(task, advance=len(chunk))
            speed = bar.tasks[0].speed
            bar.update(task, rate=f"{speed:.1f}" if speed else "-")


def _store(out: Path, key: str, res: ParseResult, label_size: tuple[int, int]) -> None:
    if res.labels.shape != tuple(label_size) or res.labels.dtype != np.uint8:
        raise RuntimeError(
            f"{key}: backend returned labels {res.labels.shape} {res.labels.dtype}, want {label_size}"
        )
    write_label_png(out / key, res.labels)

"""A faiss index on the global feature that shortlists candidates for the exact eq. 25 re-ranking.

Features are L2-normalised, so L2 order equals cosine order. Small galleries use an exact flat index;
large ones an inverted file (IVF, ``nlist`` ~ 4 sqrt(N) lists, ``nprobe`` lists visited per query).
faiss is an optional dependency (``pip install ogfr[search]``); a clear error says so when it is absent.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ogfr.io import atomic_path

log = logging.getLogger(__name__)

IVF_FROM = 20_000  # kind="auto": flat below this many rows, IVF from here up


def _faiss() -> Any:
    try:
        import faiss
    except ImportError as err:  # pragma: no cover - faiss is installed with the search extra
        raise ValueError(
            "faiss is not installed: pip install 'ogfr[search]' (faiss-cpu), or use --faiss off"
        ) from err
    return faiss


def _as_f32(x: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    return np.ascontiguousarray(arr, dtype=np.float32)


def build_faiss_index(
    features: torch.Tensor | np.ndarray,
    kind: Literal["auto", "flat", "ivf"] = "auto",
    nlist: int | None = None,
    seed: int = 0,
) -> Any:
    """A faiss L2 index over ``features`` (N, D): ``flat`` (exact) or ``ivf`` (approximate, trained here)."""
    faiss = _faiss()
    x = _as_f32(features)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError(f"build_faiss_index: features must be a non-empty (N, D) array, got shape {x.shape}")
    if kind not in ("auto", "flat", "ivf"):
        raise ValueError(f"kind must be auto, flat or ivf, got {kind!r}")
    n, d = x.shape
    if kind == "flat" or (kind == "auto" and n < IVF_FROM):
        index = faiss.IndexFlatL2(d)
        index.add(x)
        return index
    nlist = nlist or max(1, min(int(4 * math.sqrt(n)), n // 39))
    quantizer = faiss.IndexFlatL2(d)
    index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_L2)
    rng = np.random.default_rng(seed)
    train = x[rng.choice(n, size=min(n, 64 * nlist), replace=False)]
    index.cp.seed = seed
    index.train(train)
    index.add(x)
    log.info("faiss IVF index: %d rows, %d lists", n, nlist)
    return index


def faiss_candidates(index: Any, query: torch.Tensor | np.ndarray, k: int, nprobe: int = 32) -> np.ndarray:
    """(Q, k) candidate rows per query, nearest first by L2 on the global feature; -1 where fewer exist."""
    if hasattr(index, "nprobe"):
        index.nprobe = min(nprobe, index.nlist)
    k = min(k, index.ntotal)
    _, ids = index.search(_as_f32(query), k)
    return ids


def cached_faiss_index(index_dir: Path, features: torch.Tensor) -> Any:
    """The faiss index of an ogfr index folder, built once per gallery size and kept as ``faiss-<N>.index``.

    An ogfr index only grows, so its row count identifies its content; stale files are removed.
    """
    faiss = _faiss()
    n = len(features)
    file = Path(index_dir) / f"faiss-{n}.index"
    if file.is_file():
        index = faiss.read_index(str(file))
        if index.ntotal == n and index.d == features.shape[1]:
            return index
        log.warning("ignoring stale faiss file %s", file)
    index = build_faiss_index(features)
    with atomic_path(file, mkdir=False) as tmp:
        faiss.write_index(index, str(tmp))
    for old in Path(index_dir).glob("faiss-*.index"):
        if old != file:
            old.unlink(missing_ok=True)
    return index

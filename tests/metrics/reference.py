"""Loads the reference rank modules of torchreid 0.2.5 and fast-reid 1.4.0 without their packages' __init__.

Their package ``__init__`` files import scipy, cv2, gdown, ... (not installed); the rank modules need only
numpy, so each is loaded straight from its file. Their Cython extensions are not built, so the pure-Python
code paths are used (they warn once about that; the warning is silenced here).
"""

from __future__ import annotations

import importlib.util
import sys
import types
import warnings
from pathlib import Path
from types import ModuleType


def _package_dir(name: str) -> Path | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _load(modname: str, path: Path, parents: list[tuple[str, Path]]) -> ModuleType:
    for pname, pdir in parents:  # empty parent packages, so relative imports resolve without __init__
        if pname not in sys.modules or getattr(sys.modules[pname], "__file__", None):
            pkg = types.ModuleType(pname)
            pkg.__path__ = [str(pdir)]
            sys.modules.setdefault(pname, pkg)
    spec = importlib.util.spec_from_file_location(modname, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec.loader.exec_module(mod)
    return mod


_CACHE: dict[str, ModuleType] = {}


def torchreid_rank() -> ModuleType | None:
    """``torchreid/reid/metrics/rank.py`` as a module, or None when torchreid is not installed."""
    if "torchreid" not in _CACHE:
        root = _package_dir("torchreid")
        if root is None:
            return None
        _CACHE["torchreid"] = _load("_ref_torchreid_rank", root / "reid" / "metrics" / "rank.py", [])
    return _CACHE["torchreid"]


def fastreid_rank() -> ModuleType | None:
    """``fastreid/evaluation/rank.py`` as a module, or None when fast-reid is not installed."""
    if "fastreid" not in _CACHE:
        root = _package_dir("fastreid")
        if root is None:
            return None
        parents = [("_ref_fastreid", root), ("_ref_fastreid.evaluation", root / "evaluation")]
        _CACHE["fastreid"] = _load("_ref_fastreid.evaluation.rank", root / "evaluation" / "rank.py", parents)
    return _CACHE["fastreid"]


def fastreid_rank_cy() -> ModuleType | None:
    """fast-reid's compiled Cython rank module if it was built (benchmarks/eval_speed.py builds it)."""
    return _CACHE.get("fastreid_cy")

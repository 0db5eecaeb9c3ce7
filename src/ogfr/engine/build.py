"""Builders that turn a :class:`Config` into data sets, part labels, loaders and the model."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ogfr.engine.config import Config
from ogfr.parsing.codes import CodeSettings

log = logging.getLogger(__name__)

__all__ = ["build_model", "code_settings", "ensure_labels", "load_data", "make_backend"]


def load_data(cfg: Config, test: bool = False):
    """The configured data set (``test=True``: the evaluation data set, which may differ)."""
    from ogfr.data import load_dataset

    name, root = cfg.data.name, cfg.data.root
    if test and cfg.data.test_name:
        name, root = cfg.data.test_name, cfg.data.test_root or cfg.data.root
    if not root:
        raise ValueError(f"data.root is not set: point it at the {name} data set (data.root=/path/to/{name})")
    return load_dataset(name, root)


def make_backend(name: str, label_size: tuple[int, int], dataset_root: Path):
    """A parsing backend by name (see ``ogfr.parsing``)."""
    import ogfr.parsing as parsing

    if hasattr(parsing, "make_backend"):
        return parsing.make_backend(name, label_size=label_size, dataset_root=dataset_root)
    if name != "synthetic":
        raise ValueError(f"parsing.backend={name!r} is not available in this build; use 'synthetic'")
    return parsing.SyntheticBackend(label_size=label_size, dataset_root=dataset_root)


def ensure_labels(
    cfg: Config,
    root: Path,
    samples: Sequence[Any],
    dataset: str,
    is_main: bool = True,
    cache_option: str = "parsing.cache",
):
    """The part-label cache of ``samples``: built on first use (rank 0), then only read.

    A complete cache is opened as is: labels are never recomputed per run or per epoch. ``cache_option``
    names the setting that chooses the cache folder in messages (``--labels`` for eval / extract).
    """
    from ogfr.parsing import LabelCache, build_cache, default_cache_dir

    root = Path(root)
    out = Path(cfg.parsing.cache) if cfg.parsing.cache else default_cache_dir(root, cfg.parsing.backend)
    label_size = tuple(cfg.model.label_size)
    if is_main:
        missing = [s.path for s in samples if not _cached(out, root, s.path)]
        if missing:
            log.info("building %s part labels for %d images in %s", cfg.parsing.backend, len(missing), out)
            backend = make_backend(cfg.parsing.backend, label_size, root)
            build_cache(
                missing,
                backend,
                out,
                dataset_root=root,
                dataset=dataset,
                num_coarse=cfg.model.num_coarse,
                lam=cfg.parsing.lam,
            )
    cache = LabelCache(out, dataset_root=root, missing="none")
    if tuple(cache.label_size) != label_size:
        raise ValueError(
            f"{out}: label cache is at {cache.label_size}, the model wants model.label_size={list(label_size)}; "
            f"set {cache_option} to another folder or rebuild it"
        )
    return cache


def _cached(out: Path, root: Path, path: Path) -> bool:
    from ogfr.parsing.cache import entry_key

    try:
        return (out / entry_key(Path(path), root)).is_file()
    except ValueError:
        return False


def code_settings(cfg: Config) -> CodeSettings:
    """How this config turns part labels into z: C and the label size of the model, lambda of the parsing."""
    return CodeSettings(cfg.model.num_coarse, cfg.parsing.lam, tuple(cfg.model.label_size))


def build_model(cfg: Config, num_classes: int, num_cameras: int) -> torch.nn.Module:
    """OGFR for ``num_classes`` training identities; ImageNet weights from ``train.pretrained`` and, for
    the hybrid stem, MobileNetV2 weights from ``train.stem_weights``."""
    from ogfr.model import OGFR
    from ogfr.model.mobilenet_weights import resolve_weights
    from ogfr.model.weights import load_stem_weights

    model = OGFR(cfg.model, num_classes=num_classes, num_cameras=num_cameras)
    if cfg.model.patch_embed == "hybrid" and cfg.train.stem_weights != "none":
        path = resolve_weights(cfg.train.stem_weights or None)  # never downloads: says how to fetch it
        load_stem_weights(model.backbone, path)
    if cfg.train.pretrained:
        path = Path(cfg.train.pretrained)
        if not path.is_file():
            raise FileNotFoundError(
                f"train.pretrained: ImageNet weights not found at {path} (ogfr never downloads them; "
                "set train.pretrained='' to train from scratch)"
            )
        report = model.load_pretrained(str(path))
        log.info("loaded ImageNet weights from %s: %s", path, report)
    return model

"""Checkpoints: atomic writes, safe reads (``weights_only=True``), RNG state, inference loading.

A checkpoint is a dict saved with ``torch.save``::

    {"format": "ogfr-checkpoint", "version": 1,
     "model": state_dict, "config": plain nested dict (Config), "meta": {...},
     # training state, only in resumable checkpoints (last.pt):
     "optimizer": ..., "criterion": ..., "scaler": ..., "rng": {...}}

``meta`` holds ``num_classes``, ``num_cameras``, ``occlusion_code`` (C, lambda and the label size z was
made with: ``ogfr.parsing.CodeSettings.as_dict()``), ``epoch`` (epochs completed), ``step`` (optimizer
steps done), ``batch_in_epoch`` (batches of the current epoch done), ``metrics`` and ``best``; a
mid-epoch ``last.pt`` also ``running`` (the epoch's loss sums, batch and image counts and time so far).
"""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ogfr.io import atomic_path, load_tensors

__all__ = [
    "FORMAT",
    "capture_rng",
    "load_checkpoint",
    "load_for_inference",
    "load_weights",
    "restore_rng",
    "save_checkpoint",
]

FORMAT = "ogfr-checkpoint"
VERSION = 1


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> Path:
    """Write ``state`` (plus the format tag) to ``path`` atomically: temp file, fsync, os.replace."""
    path = Path(path)
    payload = {"format": FORMAT, "version": VERSION, **state}
    with atomic_path(path, fsync=True) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read an ogfr checkpoint safely; a missing, truncated or foreign file raises a clear error."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder; give a checkpoint file such as {path / 'best.pt'}")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    data = load_tensors(path, "ogfr checkpoint", map_location)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        keys = sorted(data)[:6] if isinstance(data, dict) else type(data).__name__
        raise ValueError(
            f"{path}: not an ogfr checkpoint (no 'format: {FORMAT}' tag; found {keys}). "
            "ImageNet backbone weights go to train.pretrained, not --checkpoint."
        )
    if data.get("version") != VERSION:
        raise ValueError(
            f"{path}: checkpoint version {data.get('version')} is not supported (expected {VERSION})"
        )
    for key in ("model", "config", "meta"):
        if key not in data:
            raise ValueError(f"{path}: ogfr checkpoint lacks its {key!r} entry (incomplete file)")
    return data


def load_for_inference(path: str | os.PathLike, map_location: str | torch.device = "cpu"):
    """``(model, cfg, meta)``: the OGFR model in eval mode, its :class:`Config`, the checkpoint meta.

    ``meta["occlusion_code"]`` always holds the model's code settings (read them with
    ``CodeSettings.from_dict``); checkpoints written before they were stored get those of their config.
    """
    from ogfr.engine.build import code_settings
    from ogfr.engine.config import Config, from_dict
    from ogfr.model import OGFR
    from ogfr.parsing.codes import CodeSettings

    data = load_checkpoint(path, map_location=map_location)
    cfg = from_dict(Config, data["config"])
    meta = dict(data["meta"])
    if "occlusion_code" not in meta:
        meta["occlusion_code"] = code_settings(cfg).as_dict()
    try:
        codes = CodeSettings.from_dict(meta["occlusion_code"])
    except ValueError as err:
        raise ValueError(f"{path}: {err}") from err
    if codes.num_coarse != cfg.model.num_coarse:
        raise ValueError(
            f"{path}: stored occlusion code has C = {codes.num_coarse}, the model takes "
            f"C = {cfg.model.num_coarse} bits"
        )
    model = OGFR(cfg.model, num_classes=int(meta["num_classes"]), num_cameras=int(meta["num_cameras"]))
    load_weights(model, data["model"], f"{path}: weights do not fit the model its config describes")
    model.to(map_location).eval()
    return model, cfg, meta


def load_weights(model: nn.Module, state: Mapping[str, Any], error: str) -> None:
    """``model.load_state_dict(state)``, strict; keys or shapes that do not fit raise ValueError(``error`` ...)."""
    own = model.state_dict()
    if not isinstance(state, Mapping) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{error}: the model entry is not a mapping of tensors")
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} in the file, {tuple(v.shape)} in the model"
        for k, v in own.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        found = [
            f"{what} {items[:3]}{f' (+{len(items) - 3} more)' if len(items) > 3 else ''}"
            for what, items in (("missing", missing), ("unexpected", unexpected), ("other shapes:", shapes))
            if items
        ]
        raise ValueError(f"{error} ({'; '.join(found)})")
    model.load_state_dict(state)


def capture_rng() -> dict[str, Any]:
    """Every RNG a training step touches: torch (CPU, CUDA), numpy, Python ``random``."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached": float(np_state[4]),
        },
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng`."""
    torch.set_rng_state(state["torch"].cpu())
    npst = state["numpy"]
    keys = npst["keys"].numpy().astype(np.uint32)
    np.random.set_state(("MT19937", keys, npst["pos"], npst["has_gauss"], npst["cached"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])

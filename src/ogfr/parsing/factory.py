"""``make_backend``: build a parsing backend by name (the explicit table of every backend there is)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ogfr.parsing.base import Backend

BACKENDS: tuple[str, ...] = ("synthetic", "files", "pose", "torchvision")


def make_backend(
    name: str,
    label_size: tuple[int, int] = (64, 32),
    dataset_root: Path | None = None,
    *,
    model: Path | None = None,
    workers: int = 0,
    masks: Path | None = None,
    masks_format: str | None = None,
    mask_weights: Path | None = None,
    keypoint_weights: Path | None = None,
    device: str = "cpu",
) -> Backend:
    """The backend ``name`` at ``label_size`` (h, w).

    ``synthetic`` and ``files`` need ``dataset_root``; ``model`` is the pose model file (default: the
    fetched one) and ``workers`` its parallel interpreters (0 = one per CPU core); ``masks`` / ``masks_format`` configure ``files``; ``mask_weights`` /
    ``keypoint_weights`` / ``device`` configure ``torchvision``. Heavy imports happen only here.
    """
    if name in ("synthetic", "files") and dataset_root is None:
        raise ValueError(f"the {name} backend needs the data set root")
    if name == "synthetic":
        from ogfr.parsing.synthetic import SyntheticBackend

        return SyntheticBackend(label_size, dataset_root=dataset_root)
    if name == "files":
        from ogfr.parsing.files import FilesBackend

        return FilesBackend(dataset_root, label_size, masks_root=masks, fmt=masks_format)  # type: ignore[arg-type]
    if name == "pose":
        from ogfr.parsing.pose import PoseBackend, PoseConfig

        return PoseBackend(label_size, model=model, cfg=PoseConfig(workers=workers))
    if name == "torchvision":
        from ogfr.parsing.tv import TorchvisionBackend

        return TorchvisionBackend(label_size, mask_weights, keypoint_weights, device=device)
    raise ValueError(f"unknown parsing backend {name!r}; known: {', '.join(BACKENDS)}")


def backend_options(args: Any) -> dict:
    """The ``make_backend`` keyword options found as attributes of ``args`` (e.g. an argparse namespace)."""
    keys = ("model", "workers", "masks", "masks_format", "mask_weights", "keypoint_weights", "device")
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}

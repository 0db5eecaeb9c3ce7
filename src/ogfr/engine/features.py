"""The one path from images to student features: :class:`FeatureExtractor`.

images (paths or PIL images) + occlusion codes z + cameras -> ``ogfr.metrics.Features``: the student
branch's pre-BN global and part features, L2-normalised, and the part visibility of eq. 24. Evaluation,
``ogfr extract``, the index, the search, the figures and the demo all go through it.

z is given, or made per image from a label source (a data set's label cache, or a parsing backend for new
images) by the one rule of ``ogfr.parsing.CodeSettings`` (eq. 2; no label source -> z = 0). An image's
features depend on that image alone, so a list of images can be split into parts (e.g. one per torchrun
rank), each part embedded on its own, and the parts' Features concatenated in order
(``ogfr.metrics.features.concat_features``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ogfr.data.transforms import EvalTransform
from ogfr.images import UnreadableImage, read_image
from ogfr.metrics.features import Features
from ogfr.parsing.codes import CodeSettings

log = logging.getLogger(__name__)

__all__ = ["CachedLabels", "FeatureExtractor", "ImageItem", "LabelSource", "ModelInputs", "ParsedLabels"]

ImageItem = str | os.PathLike | Image.Image
# (image path or None, decoded image) -> part-label map (h, w) at the label size, or None (no label: z = 0)
LabelSource = Callable[[str | None, Image.Image], "np.ndarray | None"]


@dataclass(frozen=True)
class CachedLabels:
    """Label source reading a data set's label cache (``ogfr.parsing.LabelCache``) by image path."""

    cache: Callable[[Any], np.ndarray | None]

    def __call__(self, path: str | None, image: Image.Image) -> np.ndarray | None:
        if path is None:
            raise ValueError("cached part labels are found by image path: give the images as paths")
        return self.cache(path)


@dataclass(frozen=True)
class ParsedLabels:
    """Label source running a parsing backend: ``parse_images`` on the pixels, or ``parse`` on the file.

    A backend that finds no person returns an all-background map: every coarse part is then occluded.
    """

    backend: Any

    def __call__(self, path: str | None, image: Image.Image) -> np.ndarray:
        if hasattr(self.backend, "parse_images"):
            result = self.backend.parse_images([np.asarray(image.convert("RGB"))])[0]
        elif path is not None:
            result = self.backend.parse([Path(path)])[0]
        else:
            name = getattr(self.backend, "name", type(self.backend).__name__)
            raise ValueError(f"parsing backend {name!r} reads files: give image paths, not PIL images")
        if result.status != "ok":
            log.debug("%s: %s (%s): every coarse part coded occluded", path, result.status, result.reason)
        return result.labels


class ModelInputs(NamedTuple):
    """One batch of student-branch inputs on the extractor's device."""

    img: torch.Tensor  # (B, 3, H, W) float, normalised with mean = std = 0.5
    z: torch.Tensor  # (B, C) int64 occlusion code
    camid: torch.Tensor  # (B,) int64


class _Images(torch.utils.data.Dataset):
    """Item i: image i preprocessed, its part-label map at the label size (all -1 without labels), or an error."""

    def __init__(
        self,
        images: Sequence[ImageItem],
        paths: Sequence[str | None],
        transform: EvalTransform,
        labels: LabelSource | None,
        label_size: tuple[int, int],
    ) -> None:
        self.images, self.paths, self.transform = images, paths, transform
        self.labels, self.label_size = labels, label_size

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Any]:
        # Errors are returned, and raised by the main process: a DataLoader worker's exception loses its type.
        try:
            return self._item(i)
        except UnreadableImage as err:
            return {"unreadable": (err.path, err.reason)}
        except (ValueError, OSError) as err:
            return {"failed": str(err)}

    def _item(self, i: int) -> dict[str, Any]:
        item, path = self.images[i], self.paths[i]
        pil = item if isinstance(item, Image.Image) else read_image(item)
        labels = None if self.labels is None else self.labels(path, pil)
        if labels is None:
            lab = torch.full(self.label_size, -1, dtype=torch.int64)
        else:
            lab = torch.from_numpy(np.asarray(labels).astype(np.int64))
            if tuple(lab.shape) != self.label_size:
                raise ValueError(
                    f"{path or f'image {i}'}: part labels are {tuple(lab.shape)}, expected the label size "
                    f"{self.label_size}"
                )
        return {"img": self.transform(pil)[0], "labels": lab}


def _ids(values: Sequence[int] | torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(values if torch.is_tensor(values) else list(values), dtype=torch.long)


def _autocast(device: torch.device, amp: str):
    if amp == "none" or device.type != "cuda":
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)


class FeatureExtractor:
    """A trained OGFR's student branch as a function from images to :class:`ogfr.metrics.Features`.

    ``codes``: how labels become z (default: the model's C and label size with lambda = 5; a checkpoint's
    own settings come from ``meta["occlusion_code"]``). ``labels``: where each image's part labels come
    from (:class:`CachedLabels`, :class:`ParsedLabels`; None = no labels, z = 0). ``camid``: the camera
    given to images without one. ``model_id`` is recorded in the Features (``Features.model``).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        codes: CodeSettings | None = None,
        *,
        labels: LabelSource | None = None,
        camid: int = 0,
        batch_size: int = 128,
        num_workers: int = 0,
        device: str | torch.device = "cpu",
        amp: str = "none",
        model_id: str = "",
    ) -> None:
        cfg = model.cfg
        self.codes = codes or CodeSettings(int(cfg.num_coarse), label_size=tuple(cfg.label_size))
        if self.codes.num_coarse != int(cfg.num_coarse):
            raise ValueError(f"codes have C = {self.codes.num_coarse}, the model takes C = {cfg.num_coarse}")
        if batch_size < 1 or num_workers < 0:
            raise ValueError(f"batch_size must be >= 1 and num_workers >= 0, got {batch_size}, {num_workers}")
        if amp not in ("none", "bf16", "fp16"):
            raise ValueError(f"amp must be none, bf16 or fp16, got {amp!r}")
        num_cameras = int(getattr(model, "num_cameras", 1))
        if not 0 <= camid < num_cameras:
            raise ValueError(
                f"camid {camid} is not one of the model's {num_cameras} cameras (0..{num_cameras - 1})"
            )
        self.device = torch.device(device)
        self.model = model.to(self.device)
        self.image_size = tuple(cfg.image_size)
        self.labels, self.camid, self.model_id = labels, camid, model_id
        self.batch_size, self.num_workers, self.amp = batch_size, num_workers, amp
        self.transform = EvalTransform(size=self.image_size, label_size=self.codes.label_size)

    # ------------------------------------------------------------------ inputs
    def _dataset(
        self, images: Sequence[ImageItem], paths: Sequence[str | None], with_labels: bool
    ) -> _Images:
        labels = self.labels if with_labels else None
        return _Images(images, paths, self.transform, labels, self.codes.label_size)

    def _batch(self, items: list[dict[str, Any]], z: torch.Tensor | None, camid: torch.Tensor) -> ModelInputs:
        for item in items:
            if "unreadable" in item:
                raise UnreadableImage(*item["unreadable"])
            if "failed" in item:
                raise ValueError(item["failed"])
        zb = self.codes.code(torch.stack([i["labels"] for i in items])) if z is None else z
        img = torch.stack([i["img"] for i in items])
        dev = self.device
        return ModelInputs(img.to(dev, non_blocking=True), zb.to(dev, torch.long), camid.to(dev, torch.long))

    def _check(
        self, n: int, z: Any, camids: Any, paths: Any, pids: Any
    ) -> tuple[torch.Tensor | None, torch.Tensor]:
        if n == 0:
            raise ValueError("no images given")
        c = self.codes.num_coarse
        if z is not None:
            z = torch.as_tensor(z, dtype=torch.long)
            if tuple(z.shape) != (n, c):
                raise ValueError(f"z must be (N={n}, C={c}), got {tuple(z.shape)}")
        for name, value in (("camids", camids), ("paths", paths), ("pids", pids)):
            if value is not None and len(value) != n:
                raise ValueError(f"{name} has {len(value)} entries for {n} images")
        return z, torch.full((n,), self.camid) if camids is None else _ids(camids)

    @staticmethod
    def _paths(images: Sequence[ImageItem], paths: Sequence[str | os.PathLike] | None) -> list[str | None]:
        if paths is not None:
            return [str(p) for p in paths]
        return [None if isinstance(i, Image.Image) else str(i) for i in images]

    def inputs(
        self,
        images: Sequence[ImageItem],
        *,
        paths: Sequence[str | os.PathLike] | None = None,
        z: torch.Tensor | None = None,
        camids: Sequence[int] | torch.Tensor | None = None,
    ) -> ModelInputs:
        """The model inputs of a few images (one batch), e.g. to draw figures from other model outputs."""
        z, cams = self._check(len(images), z, camids, paths, None)
        data = self._dataset(images, self._paths(images, paths), with_labels=z is None)
        return self._batch([data[i] for i in range(len(data))], z, cams)

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def embed(
        self,
        images: ImageItem | Sequence[ImageItem],
        *,
        paths: Sequence[str | os.PathLike] | None = None,
        z: torch.Tensor | None = None,
        camids: Sequence[int] | torch.Tensor | None = None,
        pids: Sequence[int] | torch.Tensor | None = None,
        progress: bool = False,
        description: str = "features",
        skip_unreadable: bool = False,
    ) -> Features:
        """Features of ``images`` (paths or PIL images), in batches; an unreadable image raises UnreadableImage.

        ``paths`` name PIL images (for file-reading label sources and ``Features.paths``); ``z`` (N, C)
        overrides the codes; ``camids`` the camera (default ``camid``); ``pids`` are recorded.
        ``skip_unreadable``: leave unreadable images out instead (a warning each; the Features hold the
        readable images' rows, ids and paths, in order), never substituting another image.
        """
        items = [images] if isinstance(images, str | os.PathLike | Image.Image) else list(images)
        z, cams = self._check(len(items), z, camids, paths, pids)
        names = self._paths(items, paths)
        loader = torch.utils.data.DataLoader(
            self._dataset(items, names, with_labels=z is None),
            batch_size=self.batch_size,
            num_workers=self.num_workers,
            collate_fn=list,
            pin_memory=self.device.type == "cuda",
            generator=torch.Generator().manual_seed(0),  # leaves the global RNG (training state) untouched
        )
        was_training = self.model.training
        self.model.eval()
        glob, parts, vis, codes, kept = [], [], [], [], []
        try:
            with _progress(description, len(items), progress) as advance:
                for start, batch in zip(range(0, len(items), self.batch_size), loader, strict=True):
                    size, rows = len(batch), list(range(start, start + len(batch)))
                    if skip_unreadable:
                        for item in batch:
                            if "unreadable" in item:
                                log.warning(
                                    "%s: %s; left out of the %s features", *item["unreadable"], description
                                )
                        rows = [r for r, item in zip(rows, batch, strict=True) if "unreadable" not in item]
                        batch = [item for item in batch if "unreadable" not in item]
                        if not batch:
                            advance(size)
                            continue
                    kept += rows
                    x = self._batch(batch, None if z is None else z[rows], cams[rows])
                    with _autocast(self.device, self.amp):
                        out = self.model(x.img, x.z, x.camid)
                    glob.append(F.normalize(out["global"].float(), dim=-1).cpu())
                    parts.append(F.normalize(out["parts"].float(), dim=-1).cpu())
                    vis.append(out["visibility"].bool().cpu())
                    codes.append(x.z.cpu())
                    advance(size)
        finally:
            self.model.train(was_training)
        if not kept:
            raise ValueError(f"{description}: none of the {len(items)} images is readable")
        names = [names[r] for r in kept]
        return Features(
            torch.cat(glob),
            torch.cat(parts),
            torch.cat(vis),
            z=torch.cat(codes),
            pids=None if pids is None else _ids(pids)[kept],
            camids=cams[kept],
            paths=None if None in names else tuple(names),  # type: ignore[arg-type]
            model=self.model_id,
            name=description,
        )


@contextlib.contextmanager
def _progress(description: str, total: int, enabled: bool):
    """A rich progress bar over ``total`` images, advanced by the returned callable (a no-op when disabled)."""
    if not enabled:
        yield lambda n: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.update(task, advance=n)

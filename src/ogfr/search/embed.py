"""Images -> student features (global, parts, visibility) with a trained OGFR, in batches.

The model also needs each image's occlusion code z (eq. 1-2). For new images it comes from a parsing
backend (``occlusion="pose"``: BlazePose, the offline default for real photos) when that backend can be
built; ``occlusion="visible"`` gives z = 0 (every coarse part visible) without parsing; ``"auto"`` tries
``pose`` and falls back to ``visible`` with a warning (the fallback is recorded in ``Embedder.occlusion``).
Camera ids: crops of unknown origin use camera 0 (``camid`` argument), see docs/search.md.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ogfr.images import read_image
from ogfr.search.records import Embeddings, FeatureLayout, ModelIdentity, sha256_file, state_dict_sha256

log = logging.getLogger(__name__)

Occlusion = Literal["auto", "pose", "visible"]
ImageInput = str | Path | Image.Image


class Embedder:
    """A trained OGFR's student branch behind a simple ``embed(images)``; see ``ogfr.load``."""

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        identity: ModelIdentity | None = None,
        occlusion: Occlusion | Any = "auto",
        camid: int = 0,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
        lam: float = 5.0,
    ) -> None:
        cfg = model.cfg
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.image_size = tuple(cfg.image_size)
        self.num_coarse = int(cfg.num_coarse)
        self.label_size = tuple(cfg.label_size)
        self.lam = lam
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = batch_size
        num_cameras = int(getattr(model, "num_cameras", 1))
        if not 0 <= camid < num_cameras:
            raise ValueError(
                f"camid {camid} is not one of the model's {num_cameras} cameras (0..{num_cameras - 1})"
            )
        self.camid = camid
        layout = model_layout(model)
        self.identity = identity or ModelIdentity(state_dict_sha256(model), layout)
        if self.identity.layout != layout:
            raise ValueError(
                f"identity layout {self.identity.layout} does not describe this model ({layout})"
            )
        from ogfr.data import EvalTransform

        self.transform = EvalTransform(size=self.image_size, label_size=self.label_size)
        self.backend, self.occlusion = self._make_backend(occlusion)

    @classmethod
    def from_checkpoint(
        cls, checkpoint: str | Path, device: str | torch.device = "cpu", **kwargs: Any
    ) -> Embedder:
        """Load an ``ogfr train`` checkpoint (safely, weights only); its sha256 becomes the model identity."""
        from ogfr.engine.checkpoint import load_for_inference

        model, _cfg, _meta = load_for_inference(checkpoint, map_location=device)
        identity = ModelIdentity(sha256_file(checkpoint), model_layout(model))  # K = 0 for the baseline
        return cls(model, identity=identity, device=device, **kwargs)

    def _make_backend(self, occlusion: Occlusion | Any) -> tuple[Any, str]:
        if occlusion == "visible":
            return None, "visible"
        if not isinstance(occlusion, str):
            if not hasattr(occlusion, "parse"):
                raise ValueError(
                    "occlusion must be 'auto', 'pose', 'visible' or a parsing backend with .parse(paths)"
                )
            return occlusion, str(getattr(occlusion, "name", type(occlusion).__name__))
        if occlusion not in ("auto", "pose"):
            raise ValueError(f"occlusion must be 'auto', 'pose' or 'visible', got {occlusion!r}")
        try:
            from ogfr.parsing.pose import PoseBackend

            return PoseBackend(label_size=self.label_size), "pose"
        except (ImportError, FileNotFoundError, ValueError, RuntimeError) as err:
            if occlusion == "pose":
                raise ValueError(f"the pose parsing backend is not available: {err}") from err
            log.warning(
                "pose parsing backend unavailable (%s); using z = 0 (all parts visible) for new images", err
            )
            return None, "visible"

    # ------------------------------------------------------------------ features
    @torch.no_grad()
    def embed_tensors(
        self, img: torch.Tensor, z: torch.Tensor, camid: torch.Tensor | None = None
    ) -> Embeddings:
        """Features of preprocessed images ``img`` (B, 3, H, W) with codes ``z`` (B, C); L2-normalised."""
        if img.ndim != 4 or tuple(img.shape[2:]) != self.image_size:
            raise ValueError(
                f"img must be (B, 3, {self.image_size[0]}, {self.image_size[1]}), got {tuple(img.shape)}"
            )
        if tuple(z.shape) != (img.shape[0], self.num_coarse):
            raise ValueError(f"z must be (B={img.shape[0]}, C={self.num_coarse}), got {tuple(z.shape)}")
        if camid is None:
            camid = torch.full((img.shape[0],), self.camid, dtype=torch.long)
        out = self.model(
            img.to(self.device), z.to(self.device, torch.long), camid.to(self.device, torch.long)
        )
        return Embeddings(
            F.normalize(out["global"].float(), dim=-1).cpu(),
            F.normalize(out["parts"].float(), dim=-1).cpu(),
            out["visibility"].bool().cpu(),
            self.identity,
            z.to(torch.long).cpu(),
        )

    def preprocess(self, image: Image.Image) -> torch.Tensor:
        """(3, H, W) model input: the evaluation transform (bicubic resize, mean = std = 0.5)."""
        return self.transform(image.convert("RGB"))[0]

    def codes(self, images: Sequence[Image.Image], paths: Sequence[Path] | None = None) -> torch.Tensor:
        """Occlusion codes z (N, C) of eq. 2: from the parsing backend, or zeros (all visible)."""
        if self.backend is None:
            return torch.zeros((len(images), self.num_coarse), dtype=torch.long)
        from ogfr.parsing import occlusion_code

        if hasattr(self.backend, "parse_images"):
            results = self.backend.parse_images([np.asarray(im.convert("RGB")) for im in images])
        elif paths is not None:
            results = self.backend.parse(list(paths))
        else:
            raise ValueError(
                f"parsing backend {self.occlusion!r} reads files: give image paths, not PIL images"
            )
        labels = torch.stack([torch.from_numpy(r.labels.astype(np.int64)) for r in results])  # (N, h, w)
        bad = sum(r.status != "ok" for r in results)
        if bad:
            log.info(
                "parsing found no person in %d of %d image(s): all their parts are coded occluded",
                bad,
                len(results),
            )
        return occlusion_code(labels, self.num_coarse, self.lam)

    def embed(
        self,
        images: ImageInput | Sequence[ImageInput],
        z: torch.Tensor | None = None,
        camids: Sequence[int] | None = None,
        progress: bool = False,
    ) -> Embeddings:
        """Features of images (paths or PIL images), in batches.

        ``z`` (N, C) overrides the occlusion codes (needed for PIL inputs when a parsing backend is used);
        ``camids`` overrides the camera (default ``self.camid`` for all).
        """
        items = [images] if isinstance(images, str | Path | Image.Image) else list(images)
        if not items:
            raise ValueError("embed: no images given")
        if z is not None and tuple(z.shape) != (len(items), self.num_coarse):
            raise ValueError(f"z must be (N={len(items)}, C={self.num_coarse}), got {tuple(z.shape)}")
        if camids is not None and len(camids) != len(items):
            raise ValueError(f"camids has {len(camids)} entries for {len(items)} images")
        chunks = []
        starts = range(0, len(items), self.batch_size)
        for s in _track(starts, progress, "embedding"):
            batch = items[s : s + self.batch_size]
            pil = [i if isinstance(i, Image.Image) else read_image(i) for i in batch]
            img = torch.stack([self.preprocess(p) for p in pil])
            paths = None if any(isinstance(i, Image.Image) for i in batch) else [Path(i) for i in batch]
            zb = z[s : s + len(batch)] if z is not None else self.codes(pil, paths)
            cb = (
                None
                if camids is None
                else torch.as_tensor(list(camids[s : s + len(batch)]), dtype=torch.long)
            )
            chunks.append(self.embed_tensors(img, zb, cb))
        return Embeddings.concat(chunks)


def model_layout(model: torch.nn.Module) -> FeatureLayout:
    """The feature layout of an OGFR model: D, K (0 for the plain-ViT baseline), C and the input size."""
    cfg = model.cfg
    return FeatureLayout(int(cfg.embed_dim), int(model.num_parts), int(cfg.num_coarse), tuple(cfg.image_size))


def _track(seq: range, enabled: bool, label: str):
    if not enabled:
        return seq
    from rich.progress import track

    return track(seq, description=label)

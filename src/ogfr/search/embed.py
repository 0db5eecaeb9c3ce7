"""``Embedder``: the feature producer (``ogfr.engine.features``) for new images, with the model's identity.

The model needs each image's occlusion code z (eq. 1-2). For new images it comes from a parsing backend
(``occlusion="pose"``: BlazePose, the offline default for real photos) when that backend can be built;
``occlusion="visible"`` gives z = 0 (every coarse part visible) without parsing; ``"auto"`` tries
``pose`` and falls back to ``visible`` with a warning (the fallback is recorded in ``Embedder.occlusion``).
lambda, C and the label size are the ones stored with the checkpoint. Camera ids: crops of unknown origin
use camera 0 (``camid`` argument), see docs/search.md.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

import torch

from ogfr.engine.features import FeatureExtractor, LabelSource, ParsedLabels
from ogfr.parsing.codes import CodeSettings
from ogfr.search.records import FeatureLayout, ModelIdentity, sha256_file, state_dict_sha256

log = logging.getLogger(__name__)

Occlusion = Literal["auto", "pose", "visible"]


class Embedder(FeatureExtractor):
    """A trained OGFR's student branch behind ``embed(images) -> Features``; see ``ogfr.load``.

    ``identity`` (default: a hash of the state dict) names the model in the features and the index;
    ``codes`` default to the model's C and label size with lambda = 5 (``from_checkpoint`` reads the
    stored ones).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        *,
        identity: ModelIdentity | None = None,
        codes: CodeSettings | None = None,
        occlusion: Occlusion | Any = "auto",
        camid: int = 0,
        batch_size: int = 32,
        device: str | torch.device = "cpu",
    ) -> None:
        layout = model_layout(model)
        identity = identity or ModelIdentity(state_dict_sha256(model), layout)
        if identity.layout != layout:
            raise ValueError(f"identity layout {identity.layout} does not describe this model ({layout})")
        codes = codes or CodeSettings(int(model.cfg.num_coarse), label_size=tuple(model.cfg.label_size))
        labels, self.occlusion = occlusion_labels(occlusion, codes.label_size)
        super().__init__(
            model,
            codes,
            labels=labels,
            camid=camid,
            batch_size=batch_size,
            device=device,
            model_id=identity.checkpoint_sha256,
        )
        self.identity = identity
        self.model.eval()

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: str | Path,
        device: str | torch.device = "cpu",
        *,
        lam: float | None = None,
        lam_source: str = "--lam",
        **kwargs: Any,
    ) -> Embedder:
        """Load an ``ogfr train`` checkpoint (safely, weights only) with its stored code settings.

        Its sha256 becomes the model identity; ``lam`` overrides the stored lambda (with a warning naming
        ``lam_source``).
        """
        from ogfr.engine.checkpoint import load_for_inference

        model, _cfg, meta = load_for_inference(checkpoint, map_location=device)
        codes = CodeSettings.from_dict(meta["occlusion_code"]).with_lam(lam, lam_source)
        identity = ModelIdentity(sha256_file(checkpoint), model_layout(model))
        return cls(model, identity=identity, codes=codes, device=device, **kwargs)


def occlusion_labels(
    occlusion: Occlusion | Any, label_size: tuple[int, int]
) -> tuple[LabelSource | None, str]:
    """(label source, its name) for ``occlusion``: 'auto', 'pose', 'visible' or a parsing backend object."""
    if occlusion == "visible":
        return None, "visible"
    if not isinstance(occlusion, str):
        if not hasattr(occlusion, "parse"):
            raise ValueError(
                "occlusion must be 'auto', 'pose', 'visible' or a parsing backend with .parse(paths)"
            )
        return ParsedLabels(occlusion), str(getattr(occlusion, "name", type(occlusion).__name__))
    if occlusion not in ("auto", "pose"):
        raise ValueError(f"occlusion must be 'auto', 'pose' or 'visible', got {occlusion!r}")
    try:
        from ogfr.parsing.pose import PoseBackend

        return ParsedLabels(PoseBackend(label_size=label_size)), "pose"
    except (ImportError, FileNotFoundError, ValueError, RuntimeError) as err:
        if occlusion == "pose":
            raise ValueError(f"the pose parsing backend is not available: {err}") from err
        log.warning(
            "pose parsing backend unavailable (%s); using z = 0 (all parts visible) for new images", err
        )
        return None, "visible"


def model_layout(model: torch.nn.Module) -> FeatureLayout:
    """The feature layout of an OGFR model: D, K (0 for the plain-ViT baseline), C and the input size."""
    cfg = model.cfg
    return FeatureLayout(int(cfg.embed_dim), int(model.num_parts), int(cfg.num_coarse), tuple(cfg.image_size))

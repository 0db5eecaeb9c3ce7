"""The small Python API for practitioners, mirroring ``ogfr index`` / ``ogfr search``::

import ogfr
from ogfr.search import Index

model = ogfr.load("runs/demo/best.pt")             # an Embedder: the student branch of a trained OGFR
feats = model.embed(["query/0001_c1s1_001051_00.jpg"])
hits = Index.open("gallery_index", model=model.identity).search(feats, top=10)
for hit in hits[0]:
    print(hit.rank, hit.path, f"{hit.distance:.3f}", len(hit.shared_parts))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ogfr.search.embed import Embedder, Occlusion


def load(
    checkpoint: str | Path,
    device: str | torch.device = "cpu",
    occlusion: Occlusion | Any = "auto",
    camid: int = 0,
    batch_size: int = 32,
) -> Embedder:
    """Load a trained OGFR checkpoint for inference; ``.embed(images)`` returns ``ogfr.metrics.Features``.

    ``occlusion``: where the occlusion code z of new images comes from: ``"pose"`` (BlazePose parsing),
    ``"visible"`` (z = 0), ``"auto"`` (pose when available, else visible with a warning), or a parsing
    backend object. ``camid``: camera id given to the model for every image (0 = the first training camera).
    """
    return Embedder.from_checkpoint(
        checkpoint, device=device, occlusion=occlusion, camid=camid, batch_size=batch_size
    )

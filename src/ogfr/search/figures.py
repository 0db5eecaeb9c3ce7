"""Figures from a trained model and images: what ``ogfr show`` and ``ogfr demo`` call.

The drawing lives in ``ogfr.viz`` (arrays in, PNG out); this module gets the arrays through the one
feature producer (the embedder's ``embed`` and ``inputs``) and the index's search.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ogfr.data.datasets import parse_market_name
from ogfr.engine.features import FeatureExtractor
from ogfr.images import read_image
from ogfr.search.embed import Embedder
from ogfr.search.index import Index


def ranked_figure(
    embedder: Embedder,
    index: Index,
    queries: Sequence[str | Path],
    out_path: str | Path,
    top: int = 5,
    faiss: str = "auto",
) -> Path:
    """Figure 8: each query with its top-``top`` gallery images (green/red borders when ids are known).

    Gallery images are opened only through ``Index.resolve``, which refuses paths outside the indexed root.
    """
    from ogfr.viz.ranked import RankedRow, ranked_list_figure

    queries = [Path(q) for q in queries]
    hits = index.search(embedder.embed(queries), top=top, faiss=faiss)
    rows = []
    for q, row in zip(queries, hits, strict=True):
        pid, _ = parse_market_name(q.name) or (-1, -1)
        rows.append(
            RankedRow(
                query=read_image(q),
                gallery=[read_image(index.resolve(h.path)) for h in row],
                query_pid=pid,
                gallery_pids=[h.pid for h in row],
                distances=[h.distance for h in row],
                label=q.name[:24],
            )
        )
    return ranked_list_figure(rows, out_path)


@torch.no_grad()
def visibility_figure_for(
    embedder: FeatureExtractor,
    images: Sequence[str | Path],
    out_path: str | Path,
    z: torch.Tensor | None = None,
    camids: Sequence[int] | None = None,
) -> Path:
    """Figure 6(b): each image's occlusion code z (coarse parts) and the student's part maps.

    ``z`` (N, C) and ``camids`` (N,) default to the embedder's parsing backend and camera.
    """
    from ogfr.viz.visibility import visibility_figure

    if embedder.model.num_parts == 0:
        raise ValueError("this model has no part tokens (plain-ViT baseline): no part maps to show")
    pil = [read_image(p) for p in images]
    x = embedder.inputs(pil, paths=images, z=z, camids=camids)
    out = embedder.model.eval()(*x)
    maps, vis = out["part_maps"].cpu().numpy(), out["visibility"].cpu().numpy()
    return visibility_figure([np.asarray(p) for p in pil], x.z.cpu().numpy(), maps, out_path, vis)


@torch.no_grad()
def erasing_figure_for(
    embedder: FeatureExtractor,
    images: Sequence[str | Path],
    out_path: str | Path,
    z: torch.Tensor | None = None,
    camids: Sequence[int] | None = None,
) -> Path:
    """Figure 7: the FEP agent's kept / replaced patches over each (holistic) image; for synthetic images
    (ground-truth scene labels beside them) also the noise patches and the image's noise AUC."""
    from ogfr.data.truth import scene_map
    from ogfr.metrics.erasing import noise_auc, patch_truth
    from ogfr.viz.erasing import erasing_figure

    model = embedder.model.eval()
    if not hasattr(model, "erasing_mask"):
        raise ValueError("this model does not expose erasing_mask(img, z, camid)")
    pil = [read_image(p) for p in images]
    m = model.erasing_mask(*embedder.inputs(pil, paths=images, z=z, camids=camids))  # (B, gh, gw) eq. 7
    cfg = model.cfg
    overlap = getattr(cfg, "patch_embed", "overlap") == "overlap"
    scenes = [scene_map(p) for p in images]
    noise, aucs = None, None
    if all(s is not None for s in scenes):
        truths = [patch_truth(torch.from_numpy(s.astype(np.int64))[None], m.shape[1:]) for s in scenes]
        noise = np.stack([t.noise[0].reshape(m.shape[1:]).numpy() for t in truths])
        aucs = [noise_auc(1 - m[i : i + 1].flatten(1).cpu(), t) for i, t in enumerate(truths)]
    return erasing_figure(
        [np.asarray(p) for p in pil],
        m.cpu().numpy(),
        out_path,
        patch=cfg.patch_size if overlap else None,
        stride=cfg.stride if overlap else None,
        input_size=tuple(cfg.image_size) if overlap else None,
        noise=noise,
        aucs=aucs,
    )

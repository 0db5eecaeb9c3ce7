"""Figures from a trained model and images: what ``ogfr show`` and ``ogfr demo`` call.

The drawing lives in ``ogfr.viz`` (arrays in, PNG out); this module runs the model to get the arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ogfr.search.build import parse_market_name
from ogfr.search.embed import Embedder, load_image
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
        pid, _ = parse_market_name(q.name)
        rows.append(
            RankedRow(
                query=load_image(q),
                gallery=[load_image(index.resolve(h.path)) for h in row],
                query_pid=pid,
                gallery_pids=[h.pid for h in row],
                distances=[h.distance for h in row],
                label=q.name[:24],
            )
        )
    return ranked_list_figure(rows, out_path)


def _inputs(embedder: Embedder, images: Sequence[str | Path]) -> tuple[list, torch.Tensor, torch.Tensor]:
    pil = [load_image(p) for p in images]
    img = torch.stack([embedder.preprocess(p) for p in pil])
    z = embedder.codes(pil, [Path(p) for p in images])
    return pil, img, z


@torch.no_grad()
def visibility_figure_for(embedder: Embedder, images: Sequence[str | Path], out_path: str | Path) -> Path:
    """Figure 6(b): each image's occlusion code z (coarse parts) and the student's part maps."""
    from ogfr.viz.visibility import visibility_figure

    if embedder.model.num_parts == 0:
        raise ValueError("this model has no part tokens (plain-ViT baseline): no part maps to show")
    pil, img, z = _inputs(embedder, images)
    cam = torch.full((len(pil),), embedder.camid, dtype=torch.long)
    out = embedder.model(img.to(embedder.device), z.to(embedder.device), cam.to(embedder.device))
    return visibility_figure(
        [np.asarray(p) for p in pil],
        z.numpy(),
        out["part_maps"].cpu().numpy(),
        out_path,
        out["visibility"].cpu().numpy(),
    )


@torch.no_grad()
def erasing_figure_for(embedder: Embedder, images: Sequence[str | Path], out_path: str | Path) -> Path:
    """Figure 7: the FEP agent's kept / replaced patches over each (holistic) image."""
    from ogfr.viz.erasing import erasing_figure

    model = embedder.model
    if not hasattr(model, "erasing_mask"):
        raise ValueError("this model does not expose erasing_mask(img, z, camid)")
    pil, img, z = _inputs(embedder, images)
    cam = torch.full((len(pil),), embedder.camid, dtype=torch.long)
    m = model.erasing_mask(
        img.to(embedder.device), z.to(embedder.device), cam.to(embedder.device)
    )  # (B, gh, gw)
    cfg = model.cfg
    overlap = getattr(cfg, "patch_embed", "overlap") == "overlap"
    return erasing_figure(
        [np.asarray(p) for p in pil],
        m.cpu().numpy(),
        out_path,
        patch=cfg.patch_size if overlap else None,
        stride=cfg.stride if overlap else None,
        input_size=tuple(cfg.image_size) if overlap else None,
    )

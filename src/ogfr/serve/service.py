"""What the search page asks for, without HTTP: gallery pages, queries (uploads or gallery images), results.

A query is analysed once when it arrives: its student features (for eq. 25), its occlusion code z, the
student's K visibility flags (eq. 24), the argmax of its part maps drawn over the crop, and the FEP
agent's erasing mask when the model has an agent. Queries live in a small least-recently-used store so
that paging, camera filters and the pictures do not run the model again.

Gallery images are opened only through ``Index.resolve`` (which refuses paths outside the indexed root)
and uploads only through ``ogfr.images.read_image``; every image sent back is re-encoded from decoded
pixels, never the stored or uploaded bytes.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections import OrderedDict, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ogfr.data.datasets import parse_market_name
from ogfr.images import read_image
from ogfr.metrics import Features
from ogfr.parts import COARSE_NAMES, PART_COLORS
from ogfr.search.embed import Embedder
from ogfr.search.index import Index
from ogfr.search.records import Hit, part_names
from ogfr.viz.erasing import erased_overlay

DISPLAY_HEIGHT = 256  # pixels of the query pictures (crop, part map, erasing mask)
THUMBNAIL_SIDE = 512  # gallery images are sent back at most this large
PER_PAGE_MAX = 100


class NotFound(LookupError):
    """A query id or gallery row that does not exist (the page shows the message; HTTP 404)."""


@dataclass
class Query:
    """One analysed query image and, once searched, its ranking."""

    id: str
    label: str  # file name shown on the page
    image: Image.Image  # the crop at display size
    features: Features  # one row
    code: list[int]  # occlusion code z (C bits, 1 = occluded)
    visibility: list[bool]  # eq. 24 flags of the K parts
    part_map: Image.Image | None  # argmax of the part maps over the crop (None: no part features)
    erasing: Image.Image | None  # replaced patches in white (None: no agent)
    erasing_note: str  # why there is no erasing mask, or the kept fraction
    pid: int = -1  # identity from the gallery record or a Market-style upload name; -1 = unknown
    row: int | None = None  # gallery row when the query is a gallery image (left out of its own results)
    hits: list[Hit] | None = field(default=None, repr=False)


class SearchService:
    """The page's operations over one index and the checkpoint it was built with."""

    def __init__(
        self,
        embedder: Embedder,
        index: Index,
        *,
        max_results: int = 1000,
        faiss: str = "auto",
        cache_size: int = 64,
    ) -> None:
        if why := index.model.mismatch(embedder.identity):
            raise ValueError(f"the checkpoint is not the one index {index.path} was built with: {why}")
        if max_results < 1 or cache_size < 1:
            raise ValueError(f"max_results and cache_size must be >= 1, got {max_results}, {cache_size}")
        self.embedder = embedder
        self.index = index
        self.max_results = max_results
        self.faiss = faiss
        self.records, _ = index.load()  # checks every shard against its sha256 now, not at the first query
        self.by_camera: dict[int, list[int]] = defaultdict(list)
        for row, rec in enumerate(self.records):
            self.by_camera[rec.camid].append(row)
        self._queries: OrderedDict[str, Query] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()  # one model call / ranking at a time; the store is shared

    # ----------------------------------------------------------------- gallery
    def info(self) -> dict[str, Any]:
        layout = self.index.model.layout
        return {
            "images": len(self.records),
            "root": str(self.index.root),
            "index": str(self.index.path),
            "checkpoint": Path(str(self.index.info.get("checkpoint", "?"))).name,
            "occlusion": self.embedder.occlusion,
            "camera": self.embedder.camid,
            "dim": layout.dim,
            "parts": list(part_names(torch.ones(layout.num_parts, dtype=torch.bool))),
            "coarse": list(_coarse_names(layout.num_coarse)),
            "cameras": [{"id": c, "images": len(rows)} for c, rows in sorted(self.by_camera.items())],
            "max_results": self.max_results,
        }

    def gallery_page(self, page: int, per_page: int, camera: int | None) -> dict[str, Any]:
        """One page of gallery images (optionally of one camera), in index order."""
        rows = self._camera_rows(camera)
        start = _page_start(page, per_page, len(rows))
        items = [self._row_item(r) for r in rows[start : start + per_page]]
        return {"total": len(rows), "page": page, "per_page": per_page, "items": items}

    def gallery_image(self, row: int) -> bytes:
        """A gallery image as JPEG, at most ``THUMBNAIL_SIDE`` pixels on its longer side."""
        image = read_image(self.index.resolve(self._record(row).path))
        image.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        return _encode(image, "JPEG")

    # ----------------------------------------------------------------- queries
    def query_from_upload(self, data: bytes, name: str) -> Query:
        """Analyse an uploaded image (decoded by ``read_image``; an ``UnreadableImage`` names ``name``)."""
        label = Path(name).name[:80] or "upload"
        image = read_image(data, name=label)
        qid = "u" + hashlib.sha256(data).hexdigest()[:16]
        return self._analysed(qid, lambda: self._analyse(qid, label, image, None, None))

    def query_from_row(self, row: int) -> Query:
        """Analyse a gallery image as a query (its own row is left out of its results)."""
        rec = self._record(row)
        path = self.index.resolve(rec.path)
        qid = f"g{row}"
        return self._analysed(qid, lambda: self._analyse(qid, rec.path, read_image(path), path, row))

    def query(self, qid: str) -> Query:
        with self._lock:
            if qid not in self._queries:
                raise NotFound(
                    f"query {qid!r} is not (or no longer) held by the server: pick or upload it again"
                )
            self._queries.move_to_end(qid)
            return self._queries[qid]

    def describe(self, q: Query) -> dict[str, Any]:
        """What the page shows about a query, as JSON."""
        layout = self.index.model.layout
        coarse = _coarse_names(layout.num_coarse)
        names = part_names(torch.ones(layout.num_parts, dtype=torch.bool))
        return {
            "id": q.id,
            "label": q.label,
            "pid": q.pid,
            "row": q.row,
            "code": "".join(map(str, q.code)),
            "coarse": [{"name": n, "occluded": bool(b)} for n, b in zip(coarse, q.code, strict=True)],
            "visibility": [{"name": n, "visible": v} for n, v in zip(names, q.visibility, strict=True)],
            "part_map": q.part_map is not None,
            "erasing": q.erasing is not None,
            "erasing_note": q.erasing_note,
        }

    def picture(self, qid: str, kind: str) -> bytes:
        """The query's ``image`` (JPEG), ``part_map`` or ``erasing`` picture (PNG)."""
        q = self.query(qid)
        if kind == "image":
            return _encode(q.image, "JPEG")
        pic = {"part_map": q.part_map, "erasing": q.erasing}.get(kind)
        if pic is None:
            raise NotFound(f"query {qid!r} has no {kind!r} picture")
        return _encode(pic, "PNG")

    def results(self, qid: str, page: int, per_page: int, camera: int | None) -> dict[str, Any]:
        """One page of the query's ranking by eq. 25, optionally restricted to one gallery camera."""
        q = self.query(qid)
        hits = ranked = self._ranking(q)
        if camera is not None:
            self._camera_rows(camera)  # refuses a camera the gallery does not have
            hits = [h for h in hits if h.camid == camera]
        start = _page_start(page, per_page, len(hits))
        shown = [
            {
                **self._row_item(h.index),
                "rank": i,
                "distance": h.distance,
                "shared_parts": list(h.shared_parts),
            }
            for i, h in enumerate(hits[start : start + per_page], start=start + 1)
        ]
        return {
            "query": q.id,
            "total": len(hits),
            "ranked": len(ranked),
            "gallery": len(self.records),
            "truncated": len(ranked) < len(self.records) - (q.row is not None),
            "page": page,
            "per_page": per_page,
            "hits": shown,
        }

    # ----------------------------------------------------------------- internals
    def _analysed(self, qid: str, make) -> Query:
        with self._lock:
            if qid in self._queries:
                self._queries.move_to_end(qid)
                return self._queries[qid]
            q = make()
            self._queries[qid] = q
            while len(self._queries) > self._cache_size:
                self._queries.popitem(last=False)
            return q

    @torch.no_grad()
    def _analyse(self, qid: str, label: str, image: Image.Image, path: Path | None, row: int | None) -> Query:
        emb = self.embedder
        model = emb.model
        paths = [path] if path is not None else None
        x = emb.inputs([image], paths=paths)  # the model inputs: z parsed once
        z = x.z.cpu()
        features = emb.embed([image], paths=paths, z=z)
        shown = image.resize((_display_width(emb.image_size), DISPLAY_HEIGHT), Image.BICUBIC)
        part_map = None
        if features.has_parts:
            part_map = part_overlay(shown, model(*x)["part_maps"][0].cpu().numpy())
        try:
            keep = model.erasing_mask(*x)[0].cpu().numpy()  # eq. 7
        except (AttributeError, ValueError) as err:
            erasing, note = None, f"no erasing mask: {err}"
        else:
            cfg = model.cfg
            overlap = getattr(cfg, "patch_embed", "overlap") == "overlap"
            erasing = Image.fromarray(
                erased_overlay(
                    shown,
                    keep,
                    patch=cfg.patch_size if overlap else None,
                    stride=cfg.stride if overlap else None,
                    input_size=tuple(cfg.image_size) if overlap else None,
                )
            )
            note = f"the agent keeps {float((keep > 0.5).mean()):.0%} of the patches (replaced: white)"
        return Query(
            id=qid,
            label=label,
            image=shown,
            features=features,
            code=[int(b) for b in z[0].tolist()],
            visibility=[bool(v) for v in features.visibility[0].tolist()],
            part_map=part_map,
            erasing=erasing,
            erasing_note=note,
            pid=self.records[row].pid if row is not None else (parse_market_name(label) or (-1, -1))[0],
            row=row,
        )

    def _ranking(self, q: Query) -> list[Hit]:
        with self._lock:
            if q.hits is None:
                top = min(self.max_results + (q.row is not None), len(self.records))
                hits = self.index.search(q.features, top=top, faiss=self.faiss)[0]
                q.hits = [h for h in hits if h.index != q.row][: self.max_results]
            return q.hits

    def _record(self, row: int):
        if not 0 <= row < len(self.records):
            raise NotFound(f"gallery row {row} does not exist (the index has {len(self.records)} images)")
        return self.records[row]

    def _row_item(self, row: int) -> dict[str, Any]:
        rec = self.records[row]
        return {"row": row, "path": rec.path, "pid": rec.pid, "camid": rec.camid, "code": rec.code}

    def _camera_rows(self, camera: int | None) -> list[int]:
        if camera is None:
            return list(range(len(self.records)))
        if camera not in self.by_camera:
            raise ValueError(
                f"camera {camera} has no images in this gallery (cameras: {sorted(self.by_camera)})"
            )
        return self.by_camera[camera]


def part_overlay(image: Image.Image, part_maps: np.ndarray, alpha: float = 0.55) -> Image.Image:
    """``image`` with the argmax of the (K+1, h, w) part maps painted in ``ogfr.parts.PART_COLORS``
    where a part wins; where the background (map 0) wins the image is left as it is."""
    winner = part_maps.argmax(axis=0)
    colours = np.array(PART_COLORS, dtype=np.uint8)[winner % len(PART_COLORS)]
    size = image.size
    painted = np.asarray(Image.fromarray(colours).resize(size, Image.NEAREST), dtype=np.float32)
    part = np.asarray(Image.fromarray((winner > 0).astype(np.uint8)).resize(size, Image.NEAREST), dtype=bool)
    base = np.asarray(image.convert("RGB"), dtype=np.float32)
    out = np.where(part[..., None], (1 - alpha) * base + alpha * painted, base)
    return Image.fromarray(np.round(out).astype(np.uint8))


def _coarse_names(c: int) -> tuple[str, ...]:
    return COARSE_NAMES.get(c, tuple(f"part{i}" for i in range(c)))


def _display_width(image_size: tuple[int, int]) -> int:
    h, w = image_size
    return max(1, round(DISPLAY_HEIGHT * w / h))


def _page_start(page: int, per_page: int, total: int) -> int:
    if page < 0:
        raise ValueError(f"page must be >= 0, got {page}")
    if not 1 <= per_page <= PER_PAGE_MAX:
        raise ValueError(f"per_page must be between 1 and {PER_PAGE_MAX}, got {per_page}")
    start = page * per_page
    if start and start >= total:
        raise ValueError(f"page {page} is past the end ({total} item(s), {per_page} per page)")
    return start


def _encode(image: Image.Image, fmt: str) -> bytes:
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format=fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()

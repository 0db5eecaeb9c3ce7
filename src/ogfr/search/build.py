"""Index a gallery folder (or list of files): collect, embed in batches, append, resume.

What ``ogfr index`` runs. Files that are not images, unreadable, oversized (decompression bombs) or that
resolve outside the indexed root (symlinks) are skipped and listed in the index's ``skipped`` table.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ogfr.data.datasets import IMAGE_EXTENSIONS, parse_market_name
from ogfr.engine import dist
from ogfr.engine.dist import DistInfo
from ogfr.engine.shards import PartFiles, Plan, job_key
from ogfr.images import MAX_PIXELS, UnreadableImage, read_image
from ogfr.metrics import Features
from ogfr.parsing.codes import CodeSettings
from ogfr.search.embed import Embedder
from ogfr.search.index import Index
from ogfr.search.records import ImageRecord, sha256_file

log = logging.getLogger(__name__)


@dataclass
class IndexReport:
    """What one ``build_index`` call did."""

    index: Index
    added: int = 0
    already: int = 0  # files already in the index (resumed / re-run)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (relative path, reason)


def collect(
    images: str | Path, root: str | Path | None = None
) -> tuple[Path, list[Path], list[tuple[str, str]]]:
    """(root, files under root, skipped) for a folder tree or a text file listing one image path per line.

    In a list, relative paths are relative to the list's folder; the root defaults to the folder (or to the
    list's common parent folder). Files whose resolved path leaves the root are skipped.
    """
    images = Path(images)
    if images.is_dir():
        base = images
        files = sorted(Path(dp) / f for dp, _, fs in os.walk(images, followlinks=False) for f in fs)
    elif images.is_file():
        lines = images.read_text(encoding="utf-8", errors="replace").splitlines()
        files = [
            Path(s) if Path(s).is_absolute() else images.parent / s for s in (ln.strip() for ln in lines) if s
        ]
        if not files:
            raise ValueError(f"image list {images} names no files")
        base = Path(os.path.commonpath([str(f.parent.resolve()) for f in files]))
    else:
        raise FileNotFoundError(f"--images {images}: no such folder or list file")
    root_path = Path(root).resolve() if root is not None else base.resolve()
    if not root_path.is_dir():
        raise NotADirectoryError(f"index root {root_path} is not a folder")
    kept, skipped, seen = [], [], set()
    for f in files:
        resolved = f.resolve()
        try:
            shown = f.absolute().relative_to(root_path).as_posix()
        except ValueError:
            shown = str(f)
        if resolved in seen:
            continue
        seen.add(resolved)
        if not resolved.is_relative_to(root_path):
            skipped.append((shown, "resolves outside the indexed root"))
        elif not resolved.is_file():
            skipped.append((shown, "missing or not a file"))
        elif resolved.suffix.lower() not in IMAGE_EXTENSIONS:
            skipped.append((shown, f"not an image extension ({resolved.suffix or 'none'})"))
        else:
            kept.append(resolved)
    return root_path, kept, skipped


def build_index(
    embedder: Embedder,
    images: str | Path,
    out: str | Path,
    *,
    append: bool = False,
    root: str | Path | None = None,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
    info: dict | None = None,
    ranks: DistInfo | None = None,
) -> IndexReport:
    """Create (or resume, or with ``append`` extend) the index at ``out`` with the images under ``images``.

    An unfinished index (a killed run) resumes without ``append``; a finished one needs ``append=True``.
    An index built by another checkpoint or layout is refused.

    Under torchrun (``ranks`` from ``ogfr.engine.dist.init_distributed``) the batches are dealt to the ranks
    round-robin; each rank writes its finished batches as part files in the index folder and rank 0
    appends them in order, so the index is the one a single process writes (``ogfr.engine.shards``). A
    killed run resumes: finished part files are reused.
    """
    ranks = ranks or DistInfo()
    out = Path(out)
    if ranks.is_main:
        index, (root_path, files, skipped) = _open_or_create(embedder, images, out, append, root, info)
    dist.barrier(ranks)  # the index exists (and is marked unfinished) before the other ranks open it
    if not ranks.is_main:
        index = Index.open(out, model=embedder.identity)
        root_path, files, skipped = collect(images, root if root is not None else index.root)
    report = IndexReport(index)
    done = index.indexed_paths()
    listed = [(f, f.relative_to(root_path).as_posix()) for f in files]
    report.already = sum(rel in done for _, rel in listed)
    dist.barrier(ranks)  # every rank has read the same state before rank 0 appends
    if report.already and ranks.is_main:
        log.info("%d image(s) already indexed, %d to go", report.already, len(listed) - report.already)
    # Units (= batches = shards) are cut from the whole file list, so a resumed run keeps the boundaries of
    # an uninterrupted one; a unit keeps only its images not yet indexed, and an empty one is dropped.
    plan = Plan(len(listed), embedder.batch_size)
    settings = {"model": embedder.identity.as_dict(), "batch": embedder.batch_size, "max_pixels": max_pixels,
                "occlusion": embedder.occlusion, "camid": embedder.camid,
                "occlusion_code": embedder.codes.as_dict()}  # fmt: skip
    parts = PartFiles(out, job_key([], settings))
    units = [[listed[i] for i in plan.items(k) if listed[i][1] not in done] for k in range(len(plan))]
    units = [unit for unit in units if unit]
    plan = Plan(len(units), 1)  # one unit per item of this plan: dealt to the ranks in order
    names = [[rel for _, rel in unit] for unit in units]
    merged = 0  # units appended so far, in order (rank 0)

    def merge(unit: tuple[list[ImageRecord], Features | None, list]) -> None:
        nonlocal merged
        records, emb, unit_skipped = unit
        if records:
            index.append(records, emb)
        report.added += len(records)
        skipped.extend(unit_skipped)
        parts.discard(names[merged])
        bar.advance(len(units[merged]))
        merged += 1

    def merge_ready(block: bool) -> None:
        while merged < len(units):
            part = parts.wait(names[merged]) if block else parts.load(names[merged])
            if part is None:
                return
            merge(_from_part(part, embedder.identity))

    bar = _Progress(progress and ranks.is_main, sum(len(u) for u in units))
    with bar:
        for k in plan.mine(ranks.rank, ranks.world_size):
            part = parts.load(names[k])  # a resumed run reuses the units it finished
            if not ranks.distributed:  # one process: every unit in order, appended at once
                merge(
                    _from_part(part, embedder.identity)
                    if part
                    else _embed_unit(embedder, units[k], max_pixels)
                )
                continue
            if part is None:
                parts.save(names[k], *_to_part(*_embed_unit(embedder, units[k], max_pixels)))
            if ranks.is_main:
                merge_ready(block=False)  # append what the other ranks have finished so far
        if ranks.is_main and ranks.distributed:
            merge_ready(block=True)
    if ranks.is_main:
        index.add_skipped(skipped)
        index.set_complete(True)
        parts.remove()
        log.info("indexed %d new image(s) (%d in total), skipped %d", report.added, len(index), len(skipped))
    report.skipped = skipped
    return report


def _open_or_create(
    embedder: Embedder,
    images: str | Path,
    out: Path,
    append: bool,
    root: str | Path | None,
    info: dict | None,
) -> tuple[Index, tuple[Path, list[Path], list[tuple[str, str]]]]:
    """The index at ``out`` (resumed, or extended with ``append``) or a new one, marked unfinished, and
    ``collect``'s (root, files, skipped)."""
    if (out / "manifest.json").exists():
        index = Index.open(out, model=embedder.identity)
        if index.complete and not append:
            raise ValueError(f"{out} already holds a finished index; pass --append to add images to it")
        built = index.info.get("occlusion_code")
        if built is not None and CodeSettings.from_dict(built) != embedder.codes:
            raise ValueError(
                f"{out} was built with occlusion-code settings {built}, not {embedder.codes.as_dict()}: "
                "pass the same --lam"
            )
        collected = collect(images, root if root is not None else index.root)
        if collected[0] != index.root.resolve():
            raise ValueError(f"images must be under the index root {index.root} (got root {collected[0]})")
    else:
        collected = collect(images, root)
        info = {
            "occlusion": embedder.occlusion,
            "camid": embedder.camid,
            "occlusion_code": embedder.codes.as_dict(),
            **(info or {}),
        }
        index = Index.create(out, collected[0], embedder.identity, info)
    index.set_complete(False)
    return index, collected


def _embed_unit(
    embedder: Embedder, unit: list[tuple[Path, str]], max_pixels: int
) -> tuple[list[ImageRecord], Features | None, list[tuple[str, str]]]:
    """Records and features of one batch of (file, relative path); unreadable files as (path, reason)."""
    records, pil, paths, skipped = [], [], [], []
    for f, rel in unit:
        try:
            img = read_image(f, max_pixels=max_pixels)
        except UnreadableImage as err:
            skipped.append((rel, err.reason))
            continue
        pid, camid = parse_market_name(f.name) or (-1, -1)
        records.append(ImageRecord(rel, pid, camid, img.width, img.height, sha256_file(f)))
        pil.append(img)
        paths.append(f)
    if not records:
        return [], None, skipped
    feats = embedder.embed(pil, paths=paths)
    codes = ["".join(str(b) for b in row) for row in feats.z.tolist()]
    records = [dataclasses.replace(r, code=c) for r, c in zip(records, codes, strict=True)]
    return records, feats, skipped


def _to_part(records: list[ImageRecord], emb: Features | None, skipped: list) -> tuple[dict, dict]:
    tensors = {} if emb is None else {
        "global": emb.global_, "parts": emb.parts, "visibility": emb.visibility.to(torch.uint8)
    }  # fmt: skip
    return tensors, {"records": [dataclasses.asdict(r) for r in records], "skipped": skipped}


def _from_part(part: tuple[dict, dict], model) -> tuple[list[ImageRecord], Features | None, list]:
    tensors, meta = part
    records = [ImageRecord(**r) for r in meta["records"]]
    emb = None
    if records:
        vis = tensors["visibility"].bool()
        emb = Features(tensors["global"], tensors["parts"], vis, model=model.checkpoint_sha256)
    return records, emb, [tuple(x) for x in meta["skipped"]]


class _Progress:
    """A rich progress bar with images/s, or nothing."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled and total > 0
        self.total = total
        self._progress = None
        self._task = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(
                TextColumn("indexing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeRemainingColumn(),
            )
            self._progress.__enter__()
            self._task = self._progress.add_task("index", total=self.total, rate="")
            self._start = time.monotonic()
            self._done = 0
        return self

    def advance(self, n: int) -> None:
        if self._progress is not None:
            self._done += n
            rate = self._done / max(time.monotonic() - self._start, 1e-9)
            self._progress.update(self._task, advance=n, rate=f"{rate:.1f} img/s")

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

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

from ogfr.data.datasets import IMAGE_EXTENSIONS, parse_market_name
from ogfr.images import MAX_PIXELS, UnreadableImage, read_image
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
) -> IndexReport:
    """Create (or resume, or with ``append`` extend) the index at ``out`` with the images under ``images``.

    An unfinished index (a killed run) resumes without ``append``; a finished one needs ``append=True``.
    An index built by another checkpoint or layout is refused.
    """
    out = Path(out)
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
        root_path, files, skipped = collect(images, root if root is not None else index.root)
        if root_path != index.root.resolve():
            raise ValueError(f"images must be under the index root {index.root} (got root {root_path})")
    else:
        root_path, files, skipped = collect(images, root)
        info = {
            "occlusion": embedder.occlusion,
            "camid": embedder.camid,
            "occlusion_code": embedder.codes.as_dict(),
            **(info or {}),
        }
        index = Index.create(out, root_path, embedder.identity, info)
    index.set_complete(False)
    report = IndexReport(index)
    done = index.indexed_paths()
    todo = []
    for f in files:
        rel = f.relative_to(root_path).as_posix()
        if rel in done:
            report.already += 1
        else:
            todo.append((f, rel))
    if report.already:
        log.info("%d image(s) already indexed, %d to go", report.already, len(todo))
    bar = _Progress(progress, len(todo))
    with bar:
        for s in range(0, len(todo), embedder.batch_size):
            batch = todo[s : s + embedder.batch_size]
            records, pil, paths = [], [], []
            for f, rel in batch:
                try:
                    img = read_image(f, max_pixels=max_pixels)
                except UnreadableImage as err:
                    skipped.append((rel, err.reason))
                    continue
                pid, camid = parse_market_name(f.name) or (-1, -1)
                records.append(ImageRecord(rel, pid, camid, img.width, img.height, sha256_file(f)))
                pil.append(img)
                paths.append(f)
            if records:
                feats = embedder.embed(pil, paths=paths)
                codes = ["".join(str(b) for b in row) for row in feats.z.tolist()]
                records = [dataclasses.replace(r, code=c) for r, c in zip(records, codes, strict=True)]
                index.append(records, feats)
                report.added += len(records)
            bar.advance(len(batch))
    index.add_skipped(skipped)
    index.set_complete(True)
    report.skipped = skipped
    log.info("indexed %d new image(s) (%d in total), skipped %d", report.added, len(index), len(skipped))
    return report


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

"""A gallery index on disk: features in safetensors shards, metadata in SQLite, identity in a manifest.

Layout of an index folder::

    manifest.json            format, version, indexed root, model identity (checkpoint sha256 + layout)
    meta.sqlite              tables images (path relative to root, pid, camid, size, sha256, code, shard, row),
                             shards (name, rows, sha256), skipped (path, reason)
    shard-000000.safetensors global (n, D) float32, parts (n, K, D) float32, visibility (n, K) uint8
    faiss-<rows>.index       optional cached faiss index over the global features

Every append writes one shard atomically (temp file + ``os.replace``) and then records it and its rows in
one SQLite transaction, so a killed run loses at most the batch in flight: a shard file that the database
does not list is ignored and overwritten later. Everything is inspectable with ``sqlite3`` and
``safetensors``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from ogfr.io import atomic_path, atomic_write_text, make_dirs
from ogfr.metrics import Features, top_k
from ogfr.search.integrity import check_database, check_shard_arrays, shard_file
from ogfr.search.records import Hit, ImageRecord, ModelIdentity, part_names, sha256_file

log = logging.getLogger(__name__)

FORMAT = "ogfr-index"
VERSION = 1
MANIFEST = "manifest.json"
DATABASE = "meta.sqlite"
FAISS_THRESHOLD = 50_000  # --faiss auto: exact search below this many gallery images, shortlist above

_SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id INTEGER PRIMARY KEY, path TEXT UNIQUE NOT NULL, pid INTEGER NOT NULL, camid INTEGER NOT NULL,
    width INTEGER NOT NULL, height INTEGER NOT NULL, sha256 TEXT NOT NULL, code TEXT NOT NULL,
    shard TEXT NOT NULL, row INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS shards (name TEXT PRIMARY KEY, rows INTEGER NOT NULL, sha256 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS skipped (path TEXT PRIMARY KEY, reason TEXT NOT NULL);
"""


class Index:
    """A searchable gallery. Use ``Index.create`` / ``Index.open``; see the module docstring for the files."""

    def __init__(self, path: Path, manifest: dict[str, Any]) -> None:
        self.path = path
        self.manifest = manifest
        self.root = Path(manifest["root"])
        self.model = ModelIdentity.from_dict(manifest["model"])
        self.info: dict[str, Any] = dict(manifest.get("info") or {})
        self._cache: tuple[list[ImageRecord], Features] | None = None

    # ----------------------------------------------------------------- create / open
    @classmethod
    def create(
        cls, path: str | Path, root: str | Path, model: ModelIdentity, info: dict[str, Any] | None = None
    ) -> Index:
        """A new, empty index at ``path`` (created; must not hold an index yet) for images under ``root``.

        ``info``: informational settings kept in the manifest (e.g. checkpoint path, occlusion source).
        """
        path = Path(path)
        root = Path(root).resolve()
        if not root.is_dir():
            raise NotADirectoryError(f"index root {root} is not a folder")
        if (path / MANIFEST).exists():
            raise ValueError(f"{path} already holds an index; open it (or use --append) instead")
        make_dirs(path, f"index folder {path}")
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "root": str(root),
            "model": model.as_dict(),
            "complete": False,
            "info": dict(info or {}),
        }
        with closing(sqlite3.connect(path / DATABASE)) as db:
            db.executescript(_SCHEMA)
            db.commit()
        atomic_write_text(path / MANIFEST, json.dumps(manifest, indent=2))
        log.info("created index %s for images under %s", path, root)
        return cls(path, manifest)

    @classmethod
    def open(cls, path: str | Path, model: ModelIdentity | None = None) -> Index:
        """Open an existing index; with ``model`` given, refuse an index built by another model/layout."""
        path = Path(path)
        mpath = path / MANIFEST
        if not path.is_dir():
            raise FileNotFoundError(f"index folder {path} not found")
        if not mpath.is_file():
            raise FileNotFoundError(f"{path} is not an ogfr index: {MANIFEST} is missing")
        try:
            manifest = json.loads(mpath.read_text(encoding="utf-8"))
            if not isinstance(manifest, dict):
                raise ValueError(f"{mpath} must hold a JSON object, got a {type(manifest).__name__}")
            if manifest.get("format") != FORMAT:
                raise ValueError(f"format is {manifest.get('format')!r}, expected {FORMAT!r}")
            if manifest.get("version") != VERSION:
                raise ValueError(f"version {manifest.get('version')} is not supported (expected {VERSION})")
            index = cls(path, manifest)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"corrupt index {path}: {MANIFEST} is unreadable ({err})") from err
        if not (path / DATABASE).is_file():
            raise ValueError(f"corrupt index {path}: {DATABASE} is missing")
        try:
            with index._db() as db:
                tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as err:
            raise ValueError(
                f"corrupt index {path}: {DATABASE} is not a readable SQLite database ({err})"
            ) from err
        if not {"images", "shards", "skipped"} <= tables:
            raise ValueError(f"corrupt index {path}: {DATABASE} lacks the images/shards/skipped tables")
        with index._db() as db:
            check_database(path, db)
        if model is not None and (why := index.model.mismatch(model)):
            raise ValueError(
                f"index {path} was built by another model: {why}. Build a new index with this checkpoint "
                "(ogfr index --out NEW_DIR) or search with the checkpoint the index was built with."
            )
        return index

    @contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path / DATABASE)
        try:
            yield db
        finally:
            db.close()

    # ----------------------------------------------------------------- writing
    def _check_features(self, feats: Features, what: str) -> None:
        """Refuse features of another model (by ``Features.model``) or of another (D, K)."""
        if feats.model and feats.model != self.model.checkpoint_sha256:
            raise ValueError(
                f"{what}: features come from another model than index {self.path}: checkpoint sha256 "
                f"{feats.model[:16]}... differs from the index's {self.model.checkpoint_sha256[:16]}..."
            )
        layout = self.model.layout
        if feats.global_.shape[1] != layout.dim or feats.num_parts != layout.num_parts:
            raise ValueError(
                f"{what}: features are (D={feats.global_.shape[1]}, K={feats.num_parts}), the index "
                f"{self.path} holds (D={layout.dim}, K={layout.num_parts})"
            )

    def append(self, records: Sequence[ImageRecord], emb: Features) -> None:
        """Add one batch: its shard is written atomically, then its rows are committed in one transaction."""
        if len(records) != len(emb):
            raise ValueError(f"append: {len(records)} records but {len(emb)} feature rows")
        if not records:
            return
        self._check_features(emb, "append")
        with self._db() as db:
            n_shards = db.execute("SELECT COUNT(*) FROM shards").fetchone()[0]
            name = f"shard-{n_shards:06d}.safetensors"
            arrays = {
                "global": emb.global_.detach().cpu().float().contiguous().numpy(),
                "parts": emb.parts.detach().cpu().float().contiguous().numpy(),
                "visibility": emb.visibility.detach().cpu().numpy().astype(np.uint8),
            }
            with atomic_path(self.path / name, mkdir=False) as tmp:
                save_file(arrays, str(tmp))
                digest = sha256_file(tmp)
            with db:  # one transaction: the shard and its rows appear together or not at all
                db.execute("INSERT INTO shards VALUES (?, ?, ?)", (name, len(records), digest))
                db.executemany(
                    "INSERT INTO images (path, pid, camid, width, height, sha256, code, shard, row) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        (r.path, r.pid, r.camid, r.width, r.height, r.sha256, r.code, name, i)
                        for i, r in enumerate(records)
                    ],
                )
                db.executemany("DELETE FROM skipped WHERE path = ?", [(r.path,) for r in records])
        self._cache = None

    def add_skipped(self, items: Sequence[tuple[str, str]]) -> None:
        """Record files that were not indexed, as (path relative to root, reason)."""
        with self._db() as db, db:
            db.executemany("INSERT OR REPLACE INTO skipped VALUES (?, ?)", list(items))

    def set_complete(self, complete: bool = True) -> None:
        """Mark the index finished (``ogfr index`` then needs ``--append`` to add more)."""
        self.manifest["complete"] = bool(complete)
        atomic_write_text(self.path / MANIFEST, json.dumps(self.manifest, indent=2))

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete", False))

    # ----------------------------------------------------------------- reading
    def __len__(self) -> int:
        with self._db() as db:
            return int(db.execute("SELECT COUNT(*) FROM images").fetchone()[0])

    def indexed_paths(self) -> set[str]:
        """Relative paths already in the index (for resuming)."""
        with self._db() as db:
            return {r[0] for r in db.execute("SELECT path FROM images")}

    def skipped(self) -> list[tuple[str, str]]:
        """Files that were not indexed, as (path relative to root, reason)."""
        with self._db() as db:
            return [(r[0], r[1]) for r in db.execute("SELECT path, reason FROM skipped ORDER BY path")]

    def load(self) -> tuple[list[ImageRecord], Features]:
        """All rows in index order: their records and features (cached; checked against the shard hashes)."""
        if self._cache is not None:
            return self._cache
        with self._db() as db:
            shards = db.execute("SELECT name, rows, sha256 FROM shards ORDER BY name").fetchall()
            rows = db.execute(
                "SELECT path, pid, camid, width, height, sha256, code, shard, row FROM images ORDER BY id"
            ).fetchall()
        arrays: dict[str, dict[str, np.ndarray]] = {}
        layout = self.model.layout
        for name, n_rows, digest in shards:
            file = shard_file(self.path, name)  # confined to the index folder before it is opened
            if not file.is_file():
                raise ValueError(f"corrupt index {self.path}: shard {name} is missing")
            if sha256_file(file) != digest:
                raise ValueError(
                    f"corrupt index {self.path}: shard {name} does not match its recorded sha256"
                )
            try:
                data = load_file(file)
            except Exception as err:  # safetensors raises its own error types
                raise ValueError(f"corrupt index {self.path}: shard {name} is unreadable ({err})") from err
            check_shard_arrays(self.path, name, data, n_rows, layout.dim, layout.num_parts)
            arrays[name] = data
        records, order = [], []
        starts, offset = {}, 0
        for name, n_rows, _ in shards:
            starts[name] = offset
            offset += n_rows
        for path, pid, camid, width, height, digest, code, shard, row in rows:
            if shard not in starts:
                raise ValueError(f"corrupt index {self.path}: image {path} points to unknown shard {shard}")
            records.append(ImageRecord(path, pid, camid, width, height, digest, code))
            order.append(starts[shard] + row)
        if shards:
            cat = {
                k: np.concatenate([arrays[s[0]][k] for s in shards])
                for k in ("global", "parts", "visibility")
            }
        else:
            cat = {
                "global": np.zeros((0, layout.dim), np.float32),
                "parts": np.zeros((0, layout.num_parts, layout.dim), np.float32),
                "visibility": np.zeros((0, layout.num_parts), np.uint8),
            }
        idx = torch.as_tensor(order, dtype=torch.long)
        emb = Features(
            torch.from_numpy(cat["global"])[idx],
            torch.from_numpy(cat["parts"])[idx],
            torch.from_numpy(cat["visibility"])[idx].bool(),
            pids=torch.tensor([r.pid for r in records], dtype=torch.long),
            camids=torch.tensor([r.camid for r in records], dtype=torch.long),
            paths=tuple(r.path for r in records),
            model=self.model.checkpoint_sha256,
            name="gallery",
        )
        self._cache = (records, emb)
        return self._cache

    def resolve(self, relpath: str) -> Path:
        """The absolute path of an indexed image; refuses anything that resolves outside the indexed root."""
        root = self.root.resolve()
        candidate = (root / relpath).resolve()
        if Path(relpath).is_absolute() or not candidate.is_relative_to(root):
            raise ValueError(
                f"index {self.path}: image path {relpath!r} resolves outside the indexed root {root}"
            )
        return candidate

    # ----------------------------------------------------------------- search
    def search(
        self,
        query: Features,
        top: int = 10,
        faiss: Literal["auto", "on", "off"] = "auto",
        shortlist: int = 1000,
        nprobe: int = 32,
    ) -> list[list[Hit]]:
        """Top-``top`` gallery images per query by the visibility-weighted distance of eq. 25.

        ``faiss``: ``off`` = exact over the whole gallery; ``on`` = a faiss index on the global feature
        shortlists ``shortlist`` candidates per query, re-ranked exactly with eq. 25; ``auto`` = ``on`` from
        ``FAISS_THRESHOLD`` gallery images up. Features from another model are refused.
        """
        if top < 1:
            raise ValueError(f"top must be >= 1, got {top}")
        if faiss not in ("auto", "on", "off"):
            raise ValueError(f"faiss must be auto, on or off, got {faiss!r}")
        self._check_features(query, "search")
        records, gallery = self.load()
        if not records:
            return [[] for _ in range(len(query))]
        candidates = None
        if faiss == "on" or (faiss == "auto" and len(records) >= FAISS_THRESHOLD):
            from ogfr.search.faiss_shortlist import cached_faiss_index, faiss_candidates

            fidx = cached_faiss_index(self.path, gallery.global_)
            found = faiss_candidates(fidx, query.global_, max(shortlist, top), nprobe=nprobe)
            candidates = torch.from_numpy(np.asarray(found, dtype=np.int64))
        result = top_k(query, gallery, top, candidates=candidates)
        hits = []
        for qi in range(len(query)):
            row = []
            for r, (gi, d, shared) in enumerate(result.row(qi), start=1):
                rec = records[gi]
                row.append(Hit(r, gi, rec.path, d, part_names(shared), rec.pid, rec.camid))
            hits.append(row)
        return hits

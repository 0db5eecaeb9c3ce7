"""Consistency checks of an index folder, run when it is opened and loaded, before any file it names is read.

An index is a folder a user may have copied from anywhere, so its database and shards are input like any
other: shard names must be the index's own file names inside its folder (a tampered ``/etc/passwd`` or
``../x`` is refused before it is opened or hashed), image rows must point to distinct existing shard rows
and together cover every row, ids and sizes must be integers, image paths must stay under the indexed
root, and shard arrays must have the shapes the manifest's model layout says. Each failure is a
``ValueError`` starting ``corrupt index <folder>:`` and naming what is wrong.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import numpy as np

__all__ = ["check_database", "check_shard_arrays", "shard_file"]

SHARD_NAME = re.compile(r"shard-\d{6}\.safetensors")  # what Index.append writes


def shard_file(index: Path, name: str) -> Path:
    """The file of shard ``name``: one of the index's own shard names, inside its folder (not yet opened)."""
    file = index / str(name)
    if not SHARD_NAME.fullmatch(str(name)) or not file.resolve().is_relative_to(index.resolve()):
        raise ValueError(
            f"corrupt index {index}: shard name {name!r} is not a shard-NNNNNN.safetensors file inside the "
            "index folder (refused without opening it)"
        )
    return file


def _first(db: sqlite3.Connection, query: str) -> tuple | None:
    return db.execute(query).fetchone()


def check_database(index: Path, db: sqlite3.Connection) -> None:
    """Rows, counts, ids and names of ``meta.sqlite`` agree with each other (SQL only; no shard is read)."""
    where = f"corrupt index {index}"
    for (name,) in db.execute("SELECT name FROM shards"):
        shard_file(index, name)
    bad = _first(
        db,
        "SELECT path, pid, camid, width, height, row FROM images WHERE typeof(pid) != 'integer' "
        "OR typeof(camid) != 'integer' OR typeof(width) != 'integer' OR typeof(height) != 'integer' "
        "OR typeof(row) != 'integer' OR typeof(path) != 'text' LIMIT 1",
    )
    if bad is not None:
        fields = zip(("pid", "camid", "width", "height", "row"), bad[1:], strict=True)
        shown = ", ".join(f"{k}={v!r}" for k, v in fields if not isinstance(v, int))
        raise ValueError(
            f"{where}: image {bad[0]!r} has {shown or 'a path that is not text'}; pid, camid, width, "
            "height and row must be integers"
        )
    bad = _first(  # absolute, or climbing out with ".." (Index.resolve also checks before opening one)
        db,
        "SELECT path FROM images WHERE path LIKE '/%' OR path = '..' OR path LIKE '../%' "
        "OR path LIKE '%/../%' OR path LIKE '%/..' LIMIT 1",
    )
    if bad is not None:
        raise ValueError(f"{where}: image path {bad[0]!r} resolves outside the indexed root")
    bad = _first(
        db,
        "SELECT i.path, i.shard, i.row, s.rows FROM images i LEFT JOIN shards s ON s.name = i.shard "
        "WHERE s.name IS NULL OR i.row < 0 OR i.row >= s.rows LIMIT 1",
    )
    if bad is not None:
        held = "is not listed" if bad[3] is None else f"holds {bad[3]} rows"
        raise ValueError(f"{where}: image {bad[0]!r} points to row {bad[2]} of shard {bad[1]}, which {held}")
    bad = _first(
        db, "SELECT shard, row, COUNT(*) FROM images GROUP BY shard, row HAVING COUNT(*) > 1 LIMIT 1"
    )
    if bad is not None:
        raise ValueError(
            f"{where}: row {bad[1]} of {bad[0]} is claimed by more than one image ({bad[2]}); every image "
            "has its own feature row"
        )
    (images,), (rows,) = _first(db, "SELECT COUNT(*) FROM images"), _first(db, "SELECT SUM(rows) FROM shards")
    if images != (rows or 0):
        raise ValueError(
            f"{where}: the database lists {images} images but its shards hold {rows or 0} feature rows"
        )


def check_shard_arrays(
    index: Path, name: str, arrays: dict[str, np.ndarray], rows: int, dim: int, parts: int
) -> None:
    """A loaded shard holds ``global`` (rows, D), ``parts`` (rows, K, D), ``visibility`` (rows, K)."""
    want = {"global": (rows, dim), "parts": (rows, parts, dim), "visibility": (rows, parts)}
    got = {k: tuple(a.shape) for k, a in arrays.items()}
    if got != want:
        raise ValueError(
            f"corrupt index {index}: shard {name} holds arrays {got}, expected {want} "
            f"(D={dim}, K={parts} from the manifest's model layout, {rows} rows)"
        )

"""Atomic file writes: every file ogfr writes (checkpoints, caches, indexes, reports, figures) goes through
a temporary file in the same folder and ``os.replace``, so a killed process never leaves a half-written
file under the final name."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = False, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error it replaces ``path``.

    The temporary name keeps ``path``'s suffix, so writers that pick a format from the extension
    (Pillow, matplotlib) behave the same. On error the temporary file is removed and the error re-raised.
    """
    path = Path(path)
    if mkdir:
        path.parent.mkdir(parents=True, exist_ok=True)
    elif not path.parent.is_dir():
        raise FileNotFoundError(f"{path}: folder {path.parent} does not exist")
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0o600; give the usual permissions of a new file
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes, *, mkdir: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path, mkdir=mkdir) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, *, mkdir: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path, mkdir=mkdir) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def atomic_write_json(
    path: str | os.PathLike, obj: Any, *, indent: int = 2, sort_keys: bool = False, mkdir: bool = True
) -> Path:
    """Write ``obj`` as indented JSON (with a final newline) to ``path`` atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, sort_keys=sort_keys) + "\n", mkdir=mkdir)

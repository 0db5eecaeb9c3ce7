"""File plumbing every package shares.

Atomic writes: every file ogfr writes (checkpoints, caches, indexes, reports, figures) goes through a
temporary file in the same folder and ``os.replace``, so a killed process never leaves a half-written file
under the final name. Folders are created with `make_dirs`, which names a file standing in the way.
Tensor files (checkpoints, weights) are read with `load_tensors`: never unpickling code, with errors that
name the file.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = [
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_can_create",
    "load_tensors",
    "make_dirs",
]


def check_can_create(path: str | os.PathLike, what: str | None = None) -> None:
    """Raise NotADirectoryError naming the file when ``path`` or one of its parents is not a folder.

    ``what`` names the setting in the message (e.g. ``"--out /x/run"``; default: the path).
    """
    path = Path(path)
    shown = what or str(path)
    for p in (path, *path.parents):
        if p.is_dir():
            return
        if p.exists() or p.is_symlink():
            where = "" if p == path else f": {p}"
            raise NotADirectoryError(f"{shown}{where} is a file, not a folder")


def make_dirs(path: str | os.PathLike, what: str | None = None) -> Path:
    """``mkdir -p path``, with `check_can_create`'s message instead of FileExistsError / NotADirectoryError."""
    path = Path(path)
    check_can_create(path, what)
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_path(path: str | os.PathLike, *, fsync: bool = False, mkdir: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; when the block ends without error it replaces ``path``.

    The temporary name keeps ``path``'s suffix, so writers that pick a format from the extension
    (Pillow, matplotlib) behave the same. On error the temporary file is removed and the error re-raised.
    """
    path = Path(path)
    if mkdir:
        make_dirs(path.parent, f"cannot write {path}: folder {path.parent}")
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


_PICKLED_GLOBAL = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def load_tensors(path: str | os.PathLike, what: str = "tensor file", map_location: Any = "cpu") -> Any:
    """The contents of a ``torch.save`` or ``.safetensors`` file, read without running code from it.

    ``torch.load(weights_only=True)`` (tensors and plain containers only) or safetensors. A folder, a
    truncated or corrupt file, or a pickle of other Python objects raises ValueError naming the file and
    ``what`` it should have been (without torch's advice to unpickle it anyway); FileNotFoundError when absent.
    """
    import torch

    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not a {what}")
    if not path.is_file():
        raise FileNotFoundError(f"{what} not found: {path}")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            return load_file(str(path), device="cpu")
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - zip, pickle, safetensors and torch errors all mean unreadable
        text = str(err).strip()
        if "Weights only load failed" in text:  # torch refused a pickled object: do not repeat its advice
            found = _PICKLED_GLOBAL.search(text)
            name = f" ({found.group(1)})" if found else ""
            raise ValueError(
                f"{path}: not a readable {what}: it holds a pickled Python object{name} besides tensors; "
                "ogfr never unpickles objects, as that can run code"
            ) from err
        first = text.splitlines()[0] if text else ""
        raise ValueError(
            f"{path}: not a readable {what} (truncated, corrupt or not a PyTorch / safetensors file: "
            f"{type(err).__name__}: {first})"
        ) from err

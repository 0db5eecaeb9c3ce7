"""Splitting feature extraction over torchrun ranks, and the part files their results travel in.

A job over ``n`` items (images) is cut into units of ``unit`` consecutive items, the same units a single
process would run as its batches (so every unit is computed on exactly the same batch, and the merged
result can be byte-for-byte the one-process result); unit ``k`` belongs to rank ``k % world_size``. Each
rank writes each finished unit to a part file (safetensors, atomic), rank 0 reads them in unit order and
merges. A killed run resumes: part files of the same job (same settings, same items) are reused, so only
missing units are computed again. The job key (a hash of the settings) and the unit's items are stored in
every part file, so a part of another job or unit is never mistaken for this one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ogfr.io import atomic_path

log = logging.getLogger(__name__)

__all__ = ["PartFiles", "Plan", "gather_units", "job_key"]


@dataclass(frozen=True)
class Plan:
    """``n`` items in units of ``unit`` consecutive items; unit ``k`` belongs to rank ``k % world_size``."""

    n: int
    unit: int

    def __post_init__(self) -> None:
        if self.n < 0 or self.unit < 1:
            raise ValueError(f"Plan: n must be >= 0 and unit >= 1, got n={self.n}, unit={self.unit}")

    def __len__(self) -> int:
        return -(-self.n // self.unit)

    def items(self, k: int) -> range:
        """The item indices of unit ``k``."""
        return range(k * self.unit, min((k + 1) * self.unit, self.n))

    def mine(self, rank: int, world_size: int) -> list[int]:
        """The units of ``rank`` (every ``world_size``-th, from ``rank``)."""
        return list(range(rank, len(self), world_size))


def job_key(items: Sequence[str], settings: dict[str, Any]) -> str:
    """A hex sha256 naming a job: its items in order and its settings (model identity, batch, ...)."""
    h = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for item in items:
        h.update(b"\0" + item.encode())
    return h.hexdigest()


class PartFiles:
    """One job's finished units: ``<base>/parts-<key[:16]>/unit-<hash of its items>.safetensors``.

    A unit is found by its items (the list of image paths it covers), not by its number, so a resumed
    run whose units are cut the same way reuses them, and a unit cut differently is simply computed again.
    """

    def __init__(self, base: str | Path, key: str) -> None:
        self.folder = Path(base) / f"parts-{key[:16]}"
        self.key = key

    def path(self, items: Sequence[str]) -> Path:
        return self.folder / f"unit-{job_key(items, {})[:24]}.safetensors"

    def save(self, items: Sequence[str], tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
        """Write a unit atomically (a reader sees the whole file or none)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        out = self.path(items)
        header = {"job": self.key, "items": json.dumps(list(items)), "meta": json.dumps(meta)}
        with atomic_path(out, mkdir=False) as tmp:
            save_file({name: t.detach().cpu().contiguous() for name, t in tensors.items()}, str(tmp), header)
        return out

    def load(self, items: Sequence[str]) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
        """A unit's tensors and meta, or None when it is missing, unreadable or of another job / items."""
        path = self.path(items)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as f:
                header = f.metadata() or {}
            if header.get("job") != self.key or json.loads(header.get("items", "null")) != list(items):
                return None
            return load_file(str(path)), json.loads(header["meta"])
        except (SafetensorError, OSError, KeyError, ValueError) as err:
            log.warning("%s is unreadable (%s): it will be computed again", path, err)
            return None

    def wait(self, items: Sequence[str], poll_s: float = 0.2, note_every_s: float = 60.0):
        """Block until the unit is there (another rank is computing it); returns ``load(items)``."""
        start = last_note = time.monotonic()
        while (part := self.load(items)) is None:
            if time.monotonic() - last_note > note_every_s:
                last_note = time.monotonic()
                log.info("waiting for %s (%.0f s so far)", self.path(items).name, last_note - start)
            time.sleep(poll_s)
        return part

    def discard(self, items: Sequence[str]) -> None:
        """Delete a unit once it is merged."""
        self.path(items).unlink(missing_ok=True)

    def remove(self) -> None:
        """Delete the job's folder of part files (after the merge), and the base folder if that leaves it empty."""
        shutil.rmtree(self.folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            self.folder.parent.rmdir()  # only succeeds when empty


def gather_units(
    plan: Plan,
    names: Sequence[Sequence[str]],
    compute: Callable[[int], tuple[dict[str, torch.Tensor], dict[str, Any]]],
    rank: int,
    world_size: int,
    parts: PartFiles,
) -> list[tuple[dict[str, torch.Tensor], dict[str, Any]]] | None:
    """Compute this rank's units with ``compute(k)`` (skipping those already in ``parts``); on rank 0 return
    every unit's ``(tensors, meta)`` in unit order once all ranks have written theirs, elsewhere None.

    ``names[k]`` are unit ``k``'s items (what finds its part file).
    """
    for k in plan.mine(rank, world_size):
        if parts.load(names[k]) is None:
            parts.save(names[k], *compute(k))
    if rank != 0:
        return None
    return [parts.wait(names[k]) for k in range(len(plan))]

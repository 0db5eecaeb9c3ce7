"""Helpers of the hostile-input tests: run a command expecting a refusal, tiny checkpoints, evil pickles,
and a watch on files that must never be opened."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ogfr.cli import main

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"


def refused(capsys, argv: list, *needles: str, rc: int = 1) -> str:
    """Run ``ogfr argv``; assert exit status ``rc``, every needle in stderr, and no traceback. Returns stderr."""
    capsys.readouterr()
    got = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert got == rc, f"exit {got}, expected {rc}; stderr:\n{err}"
    assert "Traceback" not in err, err
    for needle in needles:
        assert needle in err, f"{needle!r} not in stderr:\n{err}"
    return err


def tiny_config(root: Path, *overrides: str):
    from ogfr.engine import load_config

    return load_config(TINY, [f"data.root={root}", *overrides])


def write_tiny_checkpoint(path: Path, root: Path, *overrides: str, seed: int = 0) -> Path:
    """An untrained (random-init) tiny OGFR checkpoint for the data set at ``root``."""
    import torch

    from ogfr.data import load_dataset
    from ogfr.engine.build import build_model
    from ogfr.engine.checkpoint import save_checkpoint
    from ogfr.engine.config import to_dict

    cfg = tiny_config(root, *overrides)
    data = load_dataset(cfg.data.name, root)
    torch.manual_seed(seed)
    model = build_model(cfg, data.num_train_pids, data.num_cameras)
    meta = {"num_classes": data.num_train_pids, "num_cameras": data.num_cameras, "epoch": 1, "step": 1}
    return save_checkpoint(path, {"model": model.state_dict(), "config": to_dict(cfg), "meta": meta})


def no_unpickling_advice(message: str) -> None:
    """torch's advice to retry with ``weights_only=False`` (run the file's code) must not reach an ogfr user."""
    assert "weights_only=False" not in message and "trust" not in message, message


class _CreatesFile:
    """Unpickling this runs ``open(marker, "w")``: the marker file proves that code from a file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def evil_pickle(path: Path, marker: Path) -> Path:
    """A ``torch.save`` file (checkpoint-shaped) whose unpickling would create ``marker``."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": "ogfr-checkpoint", "version": 1, "model": _CreatesFile(marker)}, path)
    return path


_WATCHES: list[tuple[set[str], list[str]]] = []  # (resolved paths, opens seen) of the active `never_opened`


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _WATCHES and isinstance(args[0], str | bytes | os.PathLike):
        opened = os.path.realpath(os.fsdecode(args[0]))
        for paths, seen in _WATCHES:
            if opened in paths:
                seen.append(opened)


sys.addaudithook(_audit)  # Python's `open` audit event: builtins.open, io.open, os.open (not Rust or C code)


@contextmanager
def never_opened(*paths: Path) -> Iterator[None]:
    """Fail if Python code opens any of ``paths`` inside the block (hashing or decoding it would)."""
    watch: tuple[set[str], list[str]] = ({os.path.realpath(p) for p in paths}, [])
    _WATCHES.append(watch)
    try:
        yield
    finally:
        _WATCHES.remove(watch)
    assert not watch[1], f"opened: {watch[1]}"

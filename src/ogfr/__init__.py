"""ogfr: occluded person re-identification with OGFR (JICN 2025).

Packages, in the one direction of dependency:
``data``, ``parsing`` -> ``model`` -> ``losses`` -> ``engine`` -> ``cli``;
``metrics`` is pure math used by ``engine`` and ``search``.

``ogfr.load(checkpoint)`` (see ``ogfr.api``) returns a model with ``.embed(images)``; it is imported
lazily so that ``import ogfr`` stays light.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "load":
        from ogfr.api import load

        return load
    raise AttributeError(f"module 'ogfr' has no attribute {name!r}")

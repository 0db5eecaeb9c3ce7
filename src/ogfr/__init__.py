"""ogfr: occluded person re-identification with OGFR (JICN 2025).

Packages, in the one direction of dependency:
``data``, ``parsing`` -> ``model`` -> ``losses`` -> ``engine`` -> ``cli``;
``metrics`` is pure math used by ``engine`` and ``search``.
"""

__version__ = "0.1.0"

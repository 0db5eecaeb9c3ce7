"""Synthetic occluded Re-ID benchmark: Market-1501 layout plus ground-truth part labels and occluder masks.

>>> from ogfr.data.synth import SynthConfig, generate
>>> root = generate("data/synth_tiny", SynthConfig.tiny(seed=0))  # doctest: +SKIP
"""

from ogfr.data.synth.config import DEMO_DIFFICULTY, DIFFICULTY_KNOBS, GENERATOR_VERSION, SynthConfig
from ogfr.data.synth.generate import SPLIT_DIRS, generate, read_settings

__all__ = [
    "DEMO_DIFFICULTY",
    "DIFFICULTY_KNOBS",
    "GENERATOR_VERSION",
    "SPLIT_DIRS",
    "SynthConfig",
    "generate",
    "read_settings",
]

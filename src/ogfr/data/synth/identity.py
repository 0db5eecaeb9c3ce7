"""Identities: appearance attributes spread over body parts, drawn from limited palettes.

Each attribute lives on one body part and its palette is small and skewed (dark and white clothes are
frequent, as in street scenes), so no single part identifies a person: retrieval has to combine parts.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from ogfr.data.synth.canvas import Color

# Limited palettes (name, RGB, weight): common colours are frequent, as in street scenes, so a single
# part never identifies a person.
SKIN = [
    ((236, 200, 170), 3),
    ((222, 176, 140), 3),
    ((196, 146, 110), 2),
    ((150, 105, 75), 1),
    ((105, 72, 52), 1),
]
HAIR = [((25, 22, 22), 6), ((60, 40, 30), 3), ((105, 70, 45), 2), ((190, 160, 100), 1), ((140, 140, 140), 1)]
UPPER = [
    ((235, 235, 235), 5), ((30, 30, 35), 5), ((130, 130, 135), 3), ((40, 55, 110), 3), ((120, 170, 220), 2),
    ((190, 40, 45), 2), ((60, 140, 70), 2), ((230, 200, 60), 2), ((235, 150, 175), 2), ((120, 70, 150), 1),
    ((235, 120, 40), 1), ((120, 85, 55), 1), ((50, 150, 150), 1),
]  # fmt: skip
LOWER = [
    ((25, 25, 30), 6), ((70, 70, 75), 3), ((60, 85, 130), 4), ((125, 150, 185), 2), ((185, 165, 120), 2),
    ((225, 225, 220), 1), ((100, 70, 50), 1), ((35, 45, 80), 2), ((225, 155, 170), 1),
]  # fmt: skip
SHOES = [
    ((235, 235, 235), 4),
    ((25, 25, 25), 5),
    ((120, 120, 120), 2),
    ((110, 75, 45), 2),
    ((180, 40, 40), 1),
    ((50, 70, 140), 1),
]
BAGS = [
    ((30, 30, 30), 4),
    ((100, 65, 40), 2),
    ((170, 40, 40), 1),
    ((50, 70, 130), 1),
    ((120, 120, 120), 1),
    ((70, 110, 60), 1),
]


def _pick(rng: np.random.Generator, palette: list[tuple[Color, int]]) -> Color:
    weights = np.array([w for _, w in palette], dtype=np.float64)
    return palette[int(rng.choice(len(palette), p=weights / weights.sum()))][0]


@dataclass(frozen=True)
class Identity:
    """Appearance of one person; each attribute lives on one body part."""

    skin: Color
    hair_color: Color
    hair_style: Literal["short", "long", "bald"]
    hat: Color | None
    upper_color: Color
    upper_pattern: Literal["plain", "stripes", "logo", "two_tone"]
    pattern_color: Color
    long_sleeves: bool
    lower_kind: Literal["trousers", "shorts", "skirt"]
    lower_color: Color
    shoe_color: Color
    bag: Literal["none", "backpack", "shoulder"]
    bag_color: Color
    height: float  # relative body height
    width: float  # relative body width
    leg_ratio: float  # relative leg length
    head_size: float


def sample_identity(rng: np.random.Generator) -> Identity:
    """Draw one identity's attributes from the limited palettes."""
    upper = _pick(rng, UPPER)
    pattern_color = _pick(rng, UPPER)
    while pattern_color == upper:
        pattern_color = _pick(rng, UPPER)
    lower_kind = ("trousers", "shorts", "skirt")[int(rng.choice(3, p=[0.62, 0.23, 0.15]))]
    hair_style = ("short", "long", "bald")[int(rng.choice(3, p=[0.6, 0.33, 0.07]))]
    return Identity(
        skin=_pick(rng, SKIN),
        hair_color=_pick(rng, HAIR),
        hair_style=hair_style,
        hat=_pick(rng, UPPER) if rng.random() < 0.15 else None,
        upper_color=upper,
        upper_pattern=("plain", "stripes", "logo", "two_tone")[int(rng.choice(4, p=[0.5, 0.2, 0.18, 0.12]))],
        pattern_color=pattern_color,
        long_sleeves=bool(rng.random() < 0.45),
        lower_kind=lower_kind,
        lower_color=_pick(rng, LOWER),
        shoe_color=_pick(rng, SHOES),
        bag=("none", "backpack", "shoulder")[int(rng.choice(3, p=[0.55, 0.28, 0.17]))],
        bag_color=_pick(rng, BAGS),
        height=float(rng.uniform(0.92, 1.05)),
        width=float(rng.uniform(0.85, 1.2)),
        leg_ratio=float(rng.uniform(0.93, 1.07)),
        head_size=float(rng.uniform(0.92, 1.08)),
    )


def jitter_identity(ident: Identity, rng: np.random.Generator, amount: float) -> Identity:
    """Per-image appearance change (lighting on fabric, clothes creases, slight shape change)."""
    if amount <= 0:
        return ident

    def col(c: Color) -> Color:
        f = 1.0 + rng.normal(0.0, 0.07 * amount) + rng.normal(0.0, 0.03 * amount, size=3)
        return tuple(int(np.clip(c[i] * f[i] + rng.normal(0, 4 * amount), 0, 255)) for i in range(3))  # type: ignore[return-value]

    return replace(
        ident,
        skin=col(ident.skin),
        hair_color=col(ident.hair_color),
        hat=col(ident.hat) if ident.hat is not None else None,
        upper_color=col(ident.upper_color),
        pattern_color=col(ident.pattern_color),
        lower_color=col(ident.lower_color),
        shoe_color=col(ident.shoe_color),
        bag_color=col(ident.bag_color),
        width=ident.width * float(1 + rng.normal(0, 0.03 * amount)),
    )

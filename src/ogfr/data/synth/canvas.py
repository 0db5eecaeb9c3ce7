"""A supersampled drawing surface that paints colour and a layer-id map with the same shapes.

Every shape is drawn twice with the same geometry: into an RGB image (what the camera sees) and into an
8-bit layer map (what the pixel belongs to). Downsampling averages the RGB blocks (anti-aliasing) and
samples the layer map at pixel centres, so the part-label map is exact for the pixel centre.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

Point = tuple[float, float]
Color = tuple[int, int, int]

# Layer ids painted into the layer map. 1..8 are the target person's parts (ogfr.parts.PART_NAMES).
BACKGROUND = 0
OCCLUDER = 9  # anything drawn in front of the target person: objects and other pedestrians
SKIP = 255  # "do not touch the layer map" (colour-only detail inside an already labelled region)


class Canvas:
    """RGB image + layer map at ``scale`` times the output size; coordinates are output pixels."""

    def __init__(self, height: int, width: int, scale: int, fill: Color = (128, 128, 128)) -> None:
        self.height, self.width, self.scale = height, width, scale
        self.rgb = Image.new("RGB", (width * scale, height * scale), fill)
        self.layer = Image.new("L", (width * scale, height * scale), BACKGROUND)
        self._draw_rgb = ImageDraw.Draw(self.rgb)
        self._draw_layer = ImageDraw.Draw(self.layer)

    def _xy(self, points: Sequence[Point]) -> list[tuple[float, float]]:
        s = self.scale
        return [(x * s, y * s) for x, y in points]

    def polygon(self, points: Sequence[Point], color: Color, layer: int) -> None:
        xy = self._xy(points)
        if len(xy) < 3:
            return
        self._draw_rgb.polygon(xy, fill=color)
        if layer != SKIP:
            self._draw_layer.polygon(xy, fill=layer)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, color: Color, layer: int) -> None:
        s = self.scale
        box = [(cx - rx) * s, (cy - ry) * s, (cx + rx) * s, (cy + ry) * s]
        if box[2] <= box[0] or box[3] <= box[1]:
            return
        self._draw_rgb.ellipse(box, fill=color)
        if layer != SKIP:
            self._draw_layer.ellipse(box, fill=layer)

    def rect(self, x0: float, y0: float, x1: float, y1: float, color: Color, layer: int) -> None:
        self.polygon([(x0, y0), (x1, y0), (x1, y1), (x0, y1)], color, layer)

    def line(self, p: Point, q: Point, width: float, color: Color, layer: int) -> None:
        self.capsule(p, q, width / 2, width / 2, color, layer)

    def capsule(self, p: Point, q: Point, r0: float, r1: float, color: Color, layer: int) -> None:
        """A tapered limb: the hull of a circle of radius r0 at p and one of radius r1 at q."""
        dx, dy = q[0] - p[0], q[1] - p[1]
        length = math.hypot(dx, dy)
        if length < 1e-6:
            self.ellipse(p[0], p[1], max(r0, r1), max(r0, r1), color, layer)
            return
        nx, ny = -dy / length, dx / length  # unit normal
        quad = [
            (p[0] + nx * r0, p[1] + ny * r0),
            (q[0] + nx * r1, q[1] + ny * r1),
            (q[0] - nx * r1, q[1] - ny * r1),
            (p[0] - nx * r0, p[1] - ny * r0),
        ]
        self.polygon(quad, color, layer)
        self.ellipse(p[0], p[1], r0, r0, color, layer)
        self.ellipse(q[0], q[1], r1, r1, color, layer)

    def ring(self, cx: float, cy: float, r: float, width: float, color: Color, layer: int) -> None:
        s = self.scale
        box = [(cx - r) * s, (cy - r) * s, (cx + r) * s, (cy + r) * s]
        w = max(1, round(width * s))
        self._draw_rgb.ellipse(box, outline=color, width=w)
        if layer != SKIP:
            self._draw_layer.ellipse(box, outline=layer, width=w)

    def set_images(self, rgb: Image.Image, layer: Image.Image) -> None:
        """Replace both images (e.g. to undo a drawing step from a copy)."""
        self.rgb, self.layer = rgb, layer
        self._draw_rgb = ImageDraw.Draw(self.rgb)
        self._draw_layer = ImageDraw.Draw(self.layer)

    def layer_array(self) -> np.ndarray:
        return np.asarray(self.layer)

    def finish(
        self, shaded: Sequence[int], strength: float, light: float, rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Output-size RGB (float32, box-averaged) and layer map (uint8, sampled at pixel centres).

        Pixels of the ``shaded`` layers get a rounded look: darker near layer boundaries, a sideways
        light ramp and a faint cloth texture (computed at output size, where it is cheap).
        """
        s = self.scale
        rgb = np.asarray(self.rgb.reduce(s) if s > 1 else self.rgb, dtype=np.float32)
        layer_hr = np.asarray(self.layer)
        c = s // 2
        layer = np.ascontiguousarray(layer_hr[c::s, c::s][: self.height, : self.width])
        lut = np.zeros(256, dtype=np.uint8)
        lut[list(shaded)] = 255
        mask_hr = Image.fromarray(lut[layer_hr])
        mask = np.asarray(mask_hr.reduce(s) if s > 1 else mask_hr, dtype=np.float32) / 255.0
        if not mask.any():
            return rgb, layer
        edges = Image.fromarray(layer).filter(ImageFilter.FIND_EDGES).point(lambda v: 255 if v else 0)
        blur = np.asarray(edges.filter(ImageFilter.GaussianBlur(radius=1.4)), dtype=np.float32) / 255.0
        ramp = np.linspace(-1.0, 1.0, self.width, dtype=np.float32)[None, :] * light  # light from one side
        fine = rng.normal(0.0, 0.025, size=(self.height, self.width)).astype(np.float32)  # cloth texture
        factor = 1.0 - strength * np.clip(blur * 2.0, 0.0, 1.0) + 0.12 * ramp + fine
        factor = mask * factor + (1.0 - mask)
        return rgb * factor[..., None], layer


def mix(a: Color, b: Color, t: float) -> Color:
    """Linear blend of two colours (t = 0 gives a)."""
    return tuple(int(round(a[i] + (b[i] - a[i]) * t)) for i in range(3))  # type: ignore[return-value]


def scale_color(c: Color, f: float) -> Color:
    return tuple(int(max(0, min(255, round(v * f)))) for v in c)  # type: ignore[return-value]


def clip_band(poly: Sequence[Point], y0: float, y1: float) -> list[Point]:
    """The part of a polygon between the horizontal lines y0 <= y <= y1 (Sutherland-Hodgman)."""

    def clip(points: list[Point], keep, cross) -> list[Point]:
        out: list[Point] = []
        for i, cur in enumerate(points):
            prev = points[i - 1]
            if keep(cur):
                if not keep(prev):
                    out.append(cross(prev, cur))
                out.append(cur)
            elif keep(prev):
                out.append(cross(prev, cur))
        return out

    def at_y(y: float):
        def cross(a: Point, b: Point) -> Point:
            t = (y - a[1]) / (b[1] - a[1])
            return (a[0] + t * (b[0] - a[0]), y)

        return cross

    pts = clip(list(poly), lambda p: p[1] >= y0, at_y(y0))
    if not pts:
        return []
    return clip(pts, lambda p: p[1] <= y1, at_y(y1))

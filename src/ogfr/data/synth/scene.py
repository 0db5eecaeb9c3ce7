"""Cameras (scene style, illumination, optics), backgrounds with clutter, and occluders."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageFilter

from ogfr.data.synth.canvas import BACKGROUND, OCCLUDER, Canvas, Color, mix, scale_color
from ogfr.data.synth.identity import sample_identity
from ogfr.data.synth.person import View, draw_person, sample_pose

PASSER_BY = 10  # layer offset of pedestrians behind the target (their parts are background)
OCCLUDING_PERSON = 20  # layer offset of pedestrians in front of the target (occluders)

WALLS = [(200, 195, 185), (170, 160, 150), (150, 140, 135), (205, 200, 205), (120, 110, 105), (180, 150, 125),
         (140, 150, 160), (215, 205, 180)]  # fmt: skip
GROUNDS = [(150, 145, 140), (120, 118, 115), (170, 160, 150), (110, 100, 95), (160, 150, 120), (95, 95, 100)]
GREENS = [(60, 100, 50), (80, 120, 60), (45, 80, 45), (100, 130, 70)]
CARS = [(200, 200, 205), (30, 30, 35), (150, 20, 25), (40, 60, 120), (120, 125, 130), (230, 230, 230)]
OBJECTS = [
    (40, 90, 60),
    (90, 90, 95),
    (150, 110, 60),
    (200, 160, 40),
    (60, 60, 140),
    (170, 60, 40),
    (220, 220, 220),
]


@dataclass(frozen=True)
class Camera:
    """Everything that stays fixed for one camera: scene style, light, optics and viewpoint habits."""

    walls: tuple[Color, ...]  # the camera sees a few facades / ground surfaces, one behind each crop
    grounds: tuple[Color, ...]
    horizon: float  # ground line as a share of the image height
    windows: float  # probabilities of scene elements behind a crop
    vegetation: float
    bikes: float
    railing: float
    gain: float  # global brightness
    cast: tuple[float, float, float]  # per-channel colour gain
    contrast: float
    blur: float  # Gaussian blur radius in output pixels
    noise: float  # sensor noise sigma (0..255 scale)
    jpeg_pre: int  # quality of an earlier lossy compression step (100 = none)
    view_prior: tuple[float, float, float]  # P(front), P(back), P(side)
    scale: float  # mean person height as a share of the box height


def sample_cameras(rng: np.random.Generator, num: int, shift: float) -> list[Camera]:
    """Draw ``num`` distinct cameras; ``shift`` scales how much light and optics differ between them."""
    cams = []
    for i in range(num):
        prior = rng.dirichlet([2.0, 2.0, 1.5])
        cams.append(
            Camera(
                walls=tuple(WALLS[int(k)] for k in rng.choice(len(WALLS), size=3, replace=False)),
                grounds=tuple(GROUNDS[int(k)] for k in rng.choice(len(GROUNDS), size=2, replace=False)),
                horizon=float(rng.uniform(0.35, 0.65)),
                windows=float(rng.uniform(0.1, 0.7)),
                vegetation=float(rng.uniform(0.2, 0.8)),
                bikes=float(rng.uniform(0.0, 0.6)),
                railing=float(rng.uniform(0.0, 0.4)),
                gain=float(1.0 + shift * rng.uniform(-0.18, 0.15)),
                cast=tuple(float(1.0 + shift * c) for c in rng.uniform(-0.07, 0.07, size=3)),  # type: ignore[arg-type]
                contrast=float(1.0 + shift * rng.uniform(-0.25, 0.1)),
                blur=float(shift * rng.uniform(0.15, 0.8)),
                noise=float(shift * rng.uniform(1.0, 5.0)),
                jpeg_pre=int(rng.integers(45, 80)) if shift > 0 and i % 2 == 1 else 100,
                view_prior=(float(prior[0]), float(prior[1]), float(prior[2])),
                scale=float(rng.uniform(0.84, 0.93)),
            )
        )
    return cams


def sample_view(rng: np.random.Generator, cam: Camera) -> View:
    k = int(rng.choice(3, p=np.array(cam.view_prior) / sum(cam.view_prior)))
    if k < 2:
        return ("front", "back")[k]
    return "left" if rng.random() < 0.5 else "right"


def _jit(rng: np.random.Generator, c: Color, amount: float = 0.08) -> Color:
    return scale_color(c, float(1.0 + rng.uniform(-amount, amount)))


def draw_background(canvas: Canvas, cam: Camera, rng: np.random.Generator, clutter: float) -> None:
    """Wall, windows, pavement, vegetation, railings, parked bikes and passers-by (all background)."""
    H, W = canvas.height, canvas.width
    gy = H * float(np.clip(cam.horizon + rng.normal(0, 0.05), 0.2, 0.85))
    # a camera sees a wide scene: mostly its own facades and ground, sometimes another building or surface
    walls = WALLS if rng.random() < 0.35 else cam.walls
    grounds = GROUNDS if rng.random() < 0.25 else cam.grounds
    wall = _jit(rng, walls[int(rng.integers(len(walls)))], 0.12)
    ground = _jit(rng, grounds[int(rng.integers(len(grounds)))], 0.1)
    canvas.rect(-1, -1, W + 1, gy, wall, BACKGROUND)
    canvas.rect(-1, gy, W + 1, H + 1, ground, BACKGROUND)
    # wall structure: horizontal bands, windows or panels
    if rng.random() < cam.windows:
        ww, wh = rng.uniform(0.25, 0.5) * W, rng.uniform(0.12, 0.25) * H
        ox, oy = rng.uniform(-ww, 0), rng.uniform(-wh, 0.1 * H)
        glass = mix((60, 70, 85), wall, float(rng.uniform(0.0, 0.35)))
        y = oy
        while y < gy - 0.05 * H:
            x = ox
            while x < W:
                canvas.rect(x, y, x + ww * 0.8, min(y + wh * 0.75, gy), scale_color(wall, 0.8), BACKGROUND)
                canvas.rect(x + 1, y + 1, x + ww * 0.8 - 1, min(y + wh * 0.75 - 1, gy), glass, BACKGROUND)
                x += ww
            y += wh
    else:
        for _ in range(int(rng.integers(1, 4))):
            y = rng.uniform(0, gy)
            canvas.rect(-1, y, W + 1, y + rng.uniform(0.5, 3.0), scale_color(wall, 0.85), BACKGROUND)
    # pavement joints
    step = rng.uniform(6, 14)
    y = gy + step * 0.5
    while y < H:
        canvas.rect(-1, y, W + 1, y + 0.5, scale_color(ground, 0.85), BACKGROUND)
        step *= 1.25
        y += step
    slant = rng.uniform(-0.6, 0.6)
    for x in np.arange(rng.uniform(0, 20), W + 40, rng.uniform(14, 30)):
        canvas.line((x, gy), (x + slant * (H - gy) - 10, H), 0.5, scale_color(ground, 0.88), BACKGROUND)
    n_clutter = rng.poisson(2.5 * clutter)
    if rng.random() < cam.vegetation and clutter > 0:
        for _ in range(int(rng.integers(1, 4))):
            _bush(
                canvas,
                rng,
                float(rng.uniform(0, W)),
                gy + rng.uniform(-2, 6),
                rng.uniform(0.2, 0.5) * W,
                BACKGROUND,
            )
    if rng.random() < cam.railing and clutter > 0:
        ry = gy - rng.uniform(0.05, 0.15) * H
        col = _jit(rng, (80, 85, 90), 0.3)
        canvas.rect(-1, ry, W + 1, ry + 1.2, col, BACKGROUND)
        canvas.rect(-1, ry + 6, W + 1, ry + 7, col, BACKGROUND)
        for x in np.arange(rng.uniform(0, 10), W, rng.uniform(8, 16)):
            canvas.rect(x, ry, x + 1.2, gy, col, BACKGROUND)
    if rng.random() < cam.bikes and clutter > 0:
        for _ in range(int(rng.integers(1, 3))):
            _bicycle(
                canvas,
                rng,
                float(rng.uniform(-0.2, 1.2) * W),
                gy + rng.uniform(0.0, 0.12) * H,
                0.3 * W,
                BACKGROUND,
            )
    for _ in range(n_clutter):
        kind = rng.integers(3)
        x = rng.uniform(-0.1, 1.1) * W
        if kind == 0:  # pole / tree trunk
            canvas.rect(
                x,
                -1,
                x + rng.uniform(1.5, 5),
                gy + rng.uniform(0, 8),
                _jit(rng, (90, 80, 70), 0.3),
                BACKGROUND,
            )
        elif kind == 1:  # box / bin / sign
            w, h = rng.uniform(0.1, 0.3) * W, rng.uniform(0.05, 0.2) * H
            canvas.rect(x, gy - h, x + w, gy + 2, OBJECTS[int(rng.integers(len(OBJECTS)))], BACKGROUND)
        else:  # far passer-by
            ph = rng.uniform(0.35, 0.7) * H
            pose = sample_pose(rng, ("front", "back", "left", "right")[int(rng.integers(4))], 1.0)
            draw_person(canvas, sample_identity(rng), pose, x, gy + ph * 0.35, ph, offset=PASSER_BY)


def add_shadow(rgb: np.ndarray, layer: np.ndarray, cx: float, foot_y: float, width: float) -> np.ndarray:
    """Darken background pixels softly around the feet (a cast shadow)."""
    h, w = layer.shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    dark = 0.4 * np.exp(-(((x - cx) / width) ** 2) - ((y - foot_y) / (0.18 * width)) ** 2)
    return rgb * np.where(layer == BACKGROUND, 1.0 - dark, 1.0)[..., None]


def texture_background(
    rgb: np.ndarray, layer: np.ndarray, rng: np.random.Generator, amount: float
) -> np.ndarray:
    """Low-frequency shading and grain on background pixels (output resolution)."""
    h, w = layer.shape
    low = Image.fromarray((rng.uniform(0, 255, size=(6, 4))).astype(np.uint8)).resize((w, h), Image.BILINEAR)
    field = 1.0 + amount * (np.asarray(low, dtype=np.float32) / 255.0 - 0.5) * 0.35
    grain = rng.normal(0.0, 6.0 * amount, size=(h, w, 1)).astype(np.float32)
    bg = (layer == BACKGROUND)[..., None]
    return np.where(bg, rgb * field[..., None] + grain, rgb)


def _bush(
    canvas: Canvas, rng: np.random.Generator, cx: float, base_y: float, width: float, layer: int
) -> None:
    green = GREENS[int(rng.integers(len(GREENS)))]
    for _ in range(int(rng.integers(6, 12))):
        r = width * rng.uniform(0.15, 0.35)
        x = cx + rng.uniform(-0.5, 0.5) * width
        y = base_y - rng.uniform(0.0, 0.6) * width
        canvas.ellipse(x, y, r, r * rng.uniform(0.7, 1.0), _jit(rng, green, 0.25), layer)


def _bicycle(
    canvas: Canvas,
    rng: np.random.Generator,
    cx: float,
    base_y: float,
    size: float,
    layer: int,
    heavy: bool = False,
) -> None:
    """A bicycle; ``heavy``: a close one with thick tyres and a basket (an occluder in front of the person)."""
    col = _jit(rng, OBJECTS[int(rng.integers(len(OBJECTS)))], 0.2)
    r = size * rng.uniform(0.32, 0.42)
    x0, x1 = cx - size * 0.55, cx + size * 0.55
    tyre = (25, 25, 25)
    tw = max(1.2, r * (0.22 if heavy else 0.14))
    canvas.ring(x0, base_y - r, r, tw, tyre, layer)
    canvas.ring(x1, base_y - r, r, tw, tyre, layer)
    top = base_y - 2.1 * r
    t = max(1.0, r * (0.16 if heavy else 0.12))
    canvas.line((x0, base_y - r), (cx, base_y - r), t, col, layer)
    canvas.line((cx, base_y - r), (cx - 0.1 * size, top), t, col, layer)
    canvas.line((x0, base_y - r), (cx - 0.1 * size, top), t, col, layer)
    canvas.line((cx - 0.1 * size, top), (x1 - 0.1 * size, top), t, col, layer)
    canvas.line((x1, base_y - r), (x1 - 0.1 * size, top - 0.2 * r), t, col, layer)
    if heavy:  # saddle and front basket
        canvas.rect(cx - 0.2 * size, top - 0.12 * r, cx, top + 0.08 * r, (30, 30, 30), layer)
        canvas.rect(x1 - 0.3 * size, top - 0.6 * r, x1 + 0.05 * size, top, scale_color(col, 0.7), layer)


# ---- occluders ----------------------------------------------------------------------------------------------
# (kind, weight, side): bottom occluders are most frequent, as in real street scenes.
OCCLUDER_KINDS: tuple[tuple[str, float, str], ...] = (
    ("car", 0.14, "bottom"),
    ("bush", 0.12, "bottom"),
    ("box", 0.1, "bottom"),
    ("board", 0.1, "bottom"),
    ("bicycle", 0.08, "bottom"),
    ("pedestrian", 0.16, "side"),
    ("pole", 0.08, "side"),
    ("pillar", 0.08, "side"),
    ("foliage", 0.08, "top"),
    ("sign", 0.06, "top"),
)


def draw_occluder(
    canvas: Canvas, kind: str, rng: np.random.Generator, person_box: tuple[float, float, float, float]
) -> None:
    """Draw one occluder of ``kind`` in front of the person whose box is (x0, y0, x1, y1)."""
    H, W = canvas.height, canvas.width
    x0, y0, x1, y1 = person_box
    ph = y1 - y0
    cx = (x0 + x1) / 2
    if kind == "car":
        top = y1 - ph * rng.uniform(0.25, 0.6)
        left = rng.uniform(-0.6, 0.2) * W
        right = left + rng.uniform(1.0, 1.6) * W
        body = _jit(rng, CARS[int(rng.integers(len(CARS)))], 0.1)
        canvas.rect(left, top + 0.25 * (H - top), right, H + 1, body, OCCLUDER)
        roof = top
        canvas.polygon([(left + 8, top + 0.27 * (H - top)), (left + 0.25 * W, roof), (right - 0.3 * W, roof),
                        (right - 0.1 * W, top + 0.27 * (H - top))], body, OCCLUDER)  # fmt: skip
        canvas.polygon([(left + 0.1 * W, top + 0.24 * (H - top)), (left + 0.28 * W, roof + 2),
                        (right - 0.33 * W, roof + 2), (right - 0.18 * W, top + 0.24 * (H - top))],
                       (50, 60, 70), OCCLUDER)  # fmt: skip
        canvas.rect(
            left, top + 0.55 * (H - top), right, top + 0.58 * (H - top), scale_color(body, 0.7), OCCLUDER
        )
    elif kind == "bush":
        _bush(canvas, rng, cx + rng.uniform(-0.25, 0.25) * W, H + 4, rng.uniform(0.6, 1.0) * W, OCCLUDER)
        if rng.random() < 0.4:  # a hedge: solid lower band
            canvas.rect(
                -1, y1 - ph * rng.uniform(0.1, 0.3), W + 1, H + 1, _jit(rng, GREENS[0], 0.2), OCCLUDER
            )
    elif kind == "box":
        w, h = rng.uniform(0.35, 0.8) * W, ph * rng.uniform(0.2, 0.45)
        bx = cx - w * rng.uniform(0.15, 0.85)
        col = _jit(rng, OBJECTS[int(rng.integers(len(OBJECTS)))], 0.15)
        if rng.random() < 0.5:  # suitcase / bag with a handle
            hx = bx + w * rng.uniform(0.3, 0.6)
            top, dark = H - h - 0.15 * h, scale_color(col, 0.6)
            canvas.rect(hx, top, hx + 0.25 * w, top + 1.5, dark, OCCLUDER)
            canvas.rect(hx, top, hx + 1.5, H - h + 1, dark, OCCLUDER)
            canvas.rect(hx + 0.25 * w - 1.5, top, hx + 0.25 * w, H - h + 1, dark, OCCLUDER)
        canvas.rect(bx, H - h, bx + w, H + 1, col, OCCLUDER)
        canvas.rect(bx, H - h, bx + w, H - h + 2.5, scale_color(col, 0.75), OCCLUDER)
    elif kind == "board":
        w, h = rng.uniform(0.5, 1.0) * W, ph * rng.uniform(0.2, 0.4)
        bx, by = rng.uniform(-0.3, 0.6) * W, y1 - ph * rng.uniform(0.3, 0.75)
        col = _jit(rng, OBJECTS[int(rng.integers(len(OBJECTS)))], 0.1)
        canvas.rect(bx + 0.1 * w, by, bx + 0.1 * w + 2, H + 1, (70, 70, 70), OCCLUDER)
        canvas.rect(bx + 0.9 * w - 2, by, bx + 0.9 * w, H + 1, (70, 70, 70), OCCLUDER)
        canvas.rect(bx, by, bx + w, by + h, col, OCCLUDER)
        for k in range(1, 4):  # lines of "text"
            ty = by + h * k / 4.5
            canvas.rect(
                bx + 0.15 * w, ty, bx + rng.uniform(0.5, 0.85) * w, ty + 1.5, scale_color(col, 0.4), OCCLUDER
            )
    elif kind == "bicycle":
        _bicycle(
            canvas,
            rng,
            cx + rng.uniform(-0.3, 0.3) * W,
            H + rng.uniform(-2, 4),
            rng.uniform(0.7, 1.1) * W,
            OCCLUDER,
            heavy=True,
        )
    elif kind == "pedestrian":
        side = -1.0 if rng.random() < 0.5 else 1.0
        ph2 = ph * rng.uniform(0.95, 1.2)
        px = cx + side * W * rng.uniform(0.2, 0.55)
        pose = sample_pose(rng, ("front", "back", "left", "right")[int(rng.integers(4))], 1.0)
        draw_person(
            canvas, sample_identity(rng), pose, px, y1 + rng.uniform(0, 0.1) * H, ph2, offset=OCCLUDING_PERSON
        )
    elif kind == "pole":
        w = rng.uniform(0.08, 0.25) * W
        px = cx + rng.uniform(-0.35, 0.35) * W - w / 2
        col = _jit(rng, (110, 110, 115), 0.3)
        canvas.rect(px, -1, px + w, H + 1, col, OCCLUDER)
        canvas.rect(px + 0.65 * w, -1, px + w, H + 1, scale_color(col, 0.8), OCCLUDER)
    elif kind == "pillar":
        w = rng.uniform(0.25, 0.55) * W
        px = -1 if rng.random() < 0.5 else W + 1 - w
        col = _jit(rng, WALLS[int(rng.integers(len(WALLS)))], 0.1)
        canvas.rect(px, -1, px + w, H + 1, col, OCCLUDER)
        edge = px + w - 1.5 if px < 0 else px
        canvas.rect(edge, -1, edge + 1.5, H + 1, scale_color(col, 0.7), OCCLUDER)
    elif kind == "foliage":
        fx = cx + rng.uniform(-0.5, 0.5) * W
        _bush(canvas, rng, fx, y0 + ph * rng.uniform(0.1, 0.35), rng.uniform(0.5, 0.9) * W, OCCLUDER)
    elif kind == "sign":
        w, h = rng.uniform(0.6, 1.1) * W, ph * rng.uniform(0.12, 0.3)
        bx, by = rng.uniform(-0.4, 0.4) * W, y0 + ph * rng.uniform(-0.05, 0.15)
        col = _jit(rng, OBJECTS[int(rng.integers(len(OBJECTS)))], 0.1)
        canvas.rect(bx, -1, bx + w, by + h, col, OCCLUDER)
        canvas.rect(bx, by + h - 2, bx + w, by + h, scale_color(col, 0.6), OCCLUDER)
    else:
        raise ValueError(f"unknown occluder kind {kind!r}; known: {[k for k, _, _ in OCCLUDER_KINDS]}")


def camera_pipeline(rgb: np.ndarray, cam: Camera, rng: np.random.Generator, shift: float) -> Image.Image:
    """Illumination, colour cast, contrast, blur, noise and an earlier lossy compression of one camera."""
    gain = cam.gain * float(1.0 + shift * rng.normal(0.0, 0.06))
    out = rgb * gain * np.asarray(cam.cast, dtype=np.float32)
    mean = out.mean()
    out = (out - mean) * cam.contrast + mean
    img = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    if cam.blur > 0.05:
        img = img.filter(ImageFilter.GaussianBlur(radius=cam.blur * float(rng.uniform(0.7, 1.3))))
    if cam.noise > 0:
        arr = np.asarray(img, dtype=np.float32) + rng.normal(0.0, cam.noise, size=(img.height, img.width, 3))
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if cam.jpeg_pre < 100:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=cam.jpeg_pre)
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img

"""``pose`` backend: BlazePose's landmark model run directly on the person crop with LiteRT.

A Re-ID crop already is a person box, so mediapipe's person detector is skipped: the crop is letterboxed
to a square (12.5% margin on each side, replicated border), resized to 256 x 256 RGB in [0, 1] and fed to
``pose_landmark_full.tflite``. Outputs used: 33 landmarks (x, y in input pixels, visibility logit),
the pose presence probability and a 256 x 256 person-mask logit map. Every person pixel goes to its
nearest body segment (``SEGMENTS``); segments with a low-visibility end point are dropped; a presence
below the threshold means no person (all background).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ogfr.parsing.base import ParseResult, empty_labels, parse_loaded
from ogfr.parts import PART_NAMES

INPUT_SIZE = 256
NUM_LANDMARKS = 33

# BlazePose landmark ids (person's left / right). Segments per part id of ogfr.parts.PART_NAMES.
NOSE, L_EYE, R_EYE, L_EAR, R_EAR, MOUTH_L, MOUTH_R = 0, 2, 5, 7, 8, 9, 10
L_SH, R_SH, L_EL, R_EL, L_WR, R_WR = 11, 12, 13, 14, 15, 16
L_PINKY, R_PINKY, L_INDEX, R_INDEX = 17, 18, 19, 20
L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = 23, 24, 25, 26, 27, 28
L_HEEL, R_HEEL, L_TOE, R_TOE = 29, 30, 31, 32

SEGMENTS: tuple[tuple[int, int, int], ...] = (
    # (part id, landmark a, landmark b)
    (1, L_EAR, R_EAR),
    (1, L_EYE, R_EYE),
    (1, MOUTH_L, MOUTH_R),
    (1, NOSE, L_EAR),
    (1, NOSE, R_EAR),
    (2, L_SH, L_EL),
    (2, L_EL, L_WR),
    (2, L_WR, L_PINKY),
    (2, L_WR, L_INDEX),
    (3, R_SH, R_EL),
    (3, R_EL, R_WR),
    (3, R_WR, R_PINKY),
    (3, R_WR, R_INDEX),
    (4, L_SH, R_SH),
    (4, L_HIP, R_HIP),
    (4, L_SH, L_HIP),
    (4, R_SH, R_HIP),
    (4, L_SH, R_HIP),
    (4, R_SH, L_HIP),
    (5, L_HIP, L_KNEE),
    (5, L_KNEE, L_ANK),
    (6, R_HIP, R_KNEE),
    (6, R_KNEE, R_ANK),
    (7, L_ANK, L_HEEL),
    (7, L_HEEL, L_TOE),
    (7, L_ANK, L_TOE),
    (8, R_ANK, R_HEEL),
    (8, R_HEEL, R_TOE),
    (8, R_ANK, R_TOE),
)
TORSO_QUAD = (L_SH, R_SH, R_HIP, L_HIP)


@dataclass(frozen=True)
class PoseConfig:
    """Settings of the ``pose`` backend."""

    presence_threshold: float = 0.1  # pose presence below this -> no person (blank images score < 0.01)
    visibility_threshold: float = 0.5  # a landmark below this drops every segment it ends
    mask_threshold: float = 0.5  # person-mask probability above this is a person pixel
    margin: float = 0.125  # letterbox margin on each side, as a fraction of the longer side
    # Speed only (the labels do not depend on them; benchmarks/pose_throughput.py measured the defaults):
    batch_size: int = 1  # images per interpreter call (larger batches are slower with XNNPACK on CPU)
    num_threads: int = 1  # LiteRT threads per interpreter
    workers: int = 0  # interpreters running in parallel threads (LiteRT releases the GIL); 0 = one per core

    def __post_init__(self) -> None:
        for name in ("presence_threshold", "visibility_threshold", "mask_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"PoseConfig.{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.0 <= self.margin < 1.0:
            raise ValueError(f"PoseConfig.margin must be in [0, 1), got {self.margin}")
        if self.batch_size < 1 or self.num_threads < 1 or self.workers < 0:
            raise ValueError("PoseConfig.batch_size and num_threads must be >= 1, workers >= 0")

    def labels_config(self) -> dict:
        """The settings the labels depend on (recorded in a label cache's meta.json)."""
        names = ("presence_threshold", "visibility_threshold", "mask_threshold", "margin")
        return {n: getattr(self, n) for n in names}


@dataclass(frozen=True)
class Letterbox:
    """Where the crop sits inside the square model input: ``side`` pixels, crop at (``top``, ``left``)."""

    side: int
    top: int
    left: int
    height: int
    width: int


def letterbox(rgb: np.ndarray, margin: float = 0.125) -> tuple[np.ndarray, Letterbox]:
    """(H, W, 3) uint8 -> (256, 256, 3) float32 in [0, 1], with replicated borders, and its geometry."""
    h, w = rgb.shape[:2]
    side = int(round(max(h, w) * (1 + 2 * margin)))
    top, left = (side - h) // 2, (side - w) // 2
    square = np.pad(rgb, ((top, side - h - top), (left, side - w - left), (0, 0)), mode="edge")
    resized = Image.fromarray(square).resize((INPUT_SIZE, INPUT_SIZE), Image.BILINEAR)
    return np.asarray(resized, dtype=np.float32) / 255.0, Letterbox(side, top, left, h, w)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -60, 60)))


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of each point (N, 2) to the segment a-b."""
    ab = b - a
    denom = float(ab @ ab)
    t = np.zeros(len(points)) if denom < 1e-9 else np.clip((points - a) @ ab / denom, 0.0, 1.0)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


def _inside_quad(points: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Points (N, 2) inside the polygon ``quad`` (4, 2) by the even-odd ray test."""
    inside = np.zeros(len(points), dtype=bool)
    x, y = points[:, 0], points[:, 1]
    for i in range(len(quad)):
        (x1, y1), (x2, y2) = quad[i], quad[i - 1]
        crosses = (y1 > y) != (y2 > y)
        with np.errstate(divide="ignore", invalid="ignore"):
            x_at = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
        inside ^= crosses & (x < x_at)
    return inside


def keep_main_components(mask: np.ndarray, min_fraction: float = 0.3) -> np.ndarray:
    """Keep the largest 4-connected component of ``mask`` (h, w) and any at least ``min_fraction`` of its size."""
    h, w = mask.shape
    flat = mask.astype(bool).ravel().tolist()  # plain lists: much faster than numpy scalars in this loop
    comp = [-1] * (h * w)
    sizes: list[int] = []
    for start in np.flatnonzero(mask).tolist():
        if comp[start] >= 0:
            continue
        label, stack, size = len(sizes), [start], 0
        comp[start] = label
        while stack:  # flood fill
            i = stack.pop()
            size += 1
            x = i % w
            for j in (i - w, i + w, i - 1 if x > 0 else -1, i + 1 if x < w - 1 else -1):
                if 0 <= j < h * w and flat[j] and comp[j] < 0:
                    comp[j] = label
                    stack.append(j)
        sizes.append(size)
    if len(sizes) <= 1:
        return mask.astype(bool)
    keep = np.append(np.array(sizes) >= min_fraction * max(sizes), False)  # index -1 -> not kept
    return keep[np.array(comp)].reshape(h, w)


def supported_by_mask(landmarks: np.ndarray, person: np.ndarray, radius: int = 1) -> np.ndarray:
    """(L,) bool: the landmark lies on the grid and a person pixel is within ``radius`` pixels of it."""
    h, w = person.shape
    out = np.zeros(len(landmarks), dtype=bool)
    for i, (x, y) in enumerate(landmarks):
        if not (0 <= x < w and 0 <= y < h):
            continue
        cx, cy = int(x), int(y)
        window = person[max(cy - radius, 0) : cy + radius + 1, max(cx - radius, 0) : cx + radius + 1]
        out[i] = bool(window.any())
    return out


def landmarks_to_parts(
    landmarks: np.ndarray,
    visibility: np.ndarray,
    person: np.ndarray,
    visibility_threshold: float = 0.5,
    segments: Sequence[tuple[int, int, int]] = SEGMENTS,
    torso_quad: tuple[int, int, int, int] = TORSO_QUAD,
) -> np.ndarray:
    """Assign every person pixel to the part of its nearest visible body segment.

    ``landmarks`` (L, 2): x, y in label-grid pixel units (pixel centres at i + 0.5); ``visibility`` (L,)
    scores compared with ``visibility_threshold``; ``person`` (h, w) bool; ``segments`` (part id, a, b)
    over landmark ids (BlazePose's by default); pixels inside the ``torso_quad`` polygon are torso when
    its four corners are visible. Returns (h, w) uint8 part ids (0 where no segment is usable).
    """
    h, w = person.shape
    labels = np.zeros((h, w), dtype=np.uint8)
    ys, xs = np.nonzero(person)
    if len(ys) == 0:
        return labels
    pts = np.stack([xs + 0.5, ys + 0.5], axis=1).astype(np.float64)  # (N, 2) x, y
    visible = visibility >= visibility_threshold
    usable = [(part, a, b) for part, a, b in segments if visible[a] and visible[b]]
    if not usable:
        return labels
    dist = np.stack([_segment_distance(pts, landmarks[a], landmarks[b]) for _, a, b in usable])  # (S, N)
    parts = np.array([part for part, _, _ in usable], dtype=np.uint8)
    assigned = parts[dist.argmin(0)]
    if all(visible[i] for i in torso_quad):
        assigned[_inside_quad(pts, landmarks[list(torso_quad)])] = PART_NAMES.index("torso")
    labels[ys, xs] = assigned
    return labels


class PoseBackend:
    """BlazePose landmarks + person mask -> part-label maps at ``label_size`` (h, w)."""

    name = "pose"

    def __init__(
        self,
        label_size: tuple[int, int] = (64, 32),
        model: Path | str | None = None,
        cfg: PoseConfig | None = None,
    ) -> None:
        from ogfr.parsing.pose_model import resolve_model

        try:
            from ai_edge_litert.interpreter import Interpreter
        except ImportError:
            raise ValueError(
                "the pose backend needs the LiteRT runtime: pip install 'ogfr[parsing]' (ai-edge-litert)"
            ) from None
        self.label_size = (int(label_size[0]), int(label_size[1]))
        self.cfg = cfg or PoseConfig()
        self.model_path = resolve_model(model)
        self._interpreter_cls = Interpreter
        self.workers = self.cfg.workers or os.cpu_count() or 1
        self._local = threading.local()  # per thread: one interpreter per batch length (a resize re-plans)
        self._pool: ThreadPoolExecutor | None = None

    def config(self) -> dict:
        return self.cfg.labels_config()

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_local"], state["_pool"] = None, None  # interpreters and threads are rebuilt after pickling
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._local = threading.local()

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(B, 256, 256, 3) -> landmarks (B, 33, 5), presence (B,), mask logits (B, 256, 256)."""
        if not hasattr(self._local, "interps"):
            self._local.interps = {}
        interps = self._local.interps
        interp = interps.get(len(batch))
        if interp is None:
            interp = self._interpreter_cls(model_path=str(self.model_path), num_threads=self.cfg.num_threads)
            if len(batch) != 1:
                interp.resize_tensor_input(interp.get_input_details()[0]["index"], list(batch.shape))
            interp.allocate_tensors()
            interps[len(batch)] = interp
        out = {d["name"]: d["index"] for d in interp.get_output_details()}
        interp.set_tensor(interp.get_input_details()[0]["index"], batch)
        interp.invoke()
        lms = interp.get_tensor(out["Identity"]).reshape(len(batch), -1, 5)[:, :NUM_LANDMARKS]
        presence = interp.get_tensor(out["Identity_1"]).reshape(len(batch))
        mask = interp.get_tensor(out["Identity_2"]).reshape(len(batch), INPUT_SIZE, INPUT_SIZE)
        return lms.copy(), presence.copy(), mask.copy()

    def _to_labels(
        self, lms: np.ndarray, presence: float, mask_logits: np.ndarray, box: Letterbox
    ) -> ParseResult:
        if presence < self.cfg.presence_threshold:
            return ParseResult(empty_labels(self.label_size), "no_person", f"pose presence {presence:.2f}")
        h, w = self.label_size
        scale = box.side / INPUT_SIZE  # input pixels -> letterboxed-square pixels
        # Person mask: crop the image region out of the square, average it onto the label grid.
        prob = _sigmoid(mask_logits)
        y0, x0 = box.top / scale, box.left / scale
        y1, x1 = (box.top + box.height) / scale, (box.left + box.width) / scale
        region = Image.fromarray(prob.astype(np.float32), mode="F").resize(
            (w, h), Image.BILINEAR, box=(x0, y0, x1, y1)
        )
        person = np.asarray(region) > self.cfg.mask_threshold
        # Landmarks: input pixels -> image pixels -> label-grid units.
        xy = np.empty((NUM_LANDMARKS, 2))
        xy[:, 0] = (lms[:, 0] * scale - box.left) * w / box.width
        xy[:, 1] = (lms[:, 1] * scale - box.top) * h / box.height
        person = keep_main_components(person)
        # A landmark counts only when the model calls it visible AND it sits on the person mask
        # (BlazePose guesses hidden joints, e.g. knees behind an obstacle, with high visibility at times).
        visibility = np.where(supported_by_mask(xy, person), _sigmoid(lms[:, 3]), 0.0)
        labels = landmarks_to_parts(xy, visibility, person, self.cfg.visibility_threshold)
        if not labels.any():
            return ParseResult(labels, "no_person", "no person pixel near a visible body segment")
        return ParseResult(labels)

    def _parse_chunk(self, chunk: Sequence[np.ndarray]) -> list[ParseResult]:
        boxed = [letterbox(np.asarray(img, dtype=np.uint8), self.cfg.margin) for img in chunk]
        lms, presence, masks = self._run(np.stack([b[0] for b in boxed]))
        return [
            self._to_labels(lms[i], float(presence[i]), masks[i], box) for i, (_, box) in enumerate(boxed)
        ]

    def parse_images(self, images: Sequence[np.ndarray]) -> list[ParseResult]:
        """Parse (H, W, 3) uint8 RGB arrays (at least 8 pixels a side): batches of ``cfg.batch_size``
        run on ``workers`` threads, each with its own interpreter; results keep the input order."""
        bs = self.cfg.batch_size
        chunks = [images[i : i + bs] for i in range(0, len(images), bs)]
        if self.workers == 1 or len(chunks) == 1:
            done = map(self._parse_chunk, chunks)
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="ogfr-pose")
            done = self._pool.map(self._parse_chunk, chunks)
        return [r for part in done for r in part]

    def parse(self, paths: Sequence[Path]) -> list[ParseResult]:
        return parse_loaded(self.parse_images, self.label_size, [Path(p) for p in paths])

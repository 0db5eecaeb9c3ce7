"""``files`` backend: precomputed per-image masks, in one of two formats.

``pifpaf`` (default when ``<root>/masks/pifpaf_maskrcnn_filtering`` exists): the public BPBreID release,
one ``(36, h, w)`` float array per image (17 COCO keypoint confidence fields, then 19 limb fields in
``PIFPAF_FIELDS`` order), at about a quarter of the image size. Fields are grouped into the 8 parts
(max over each part's fields), bilinearly resized to the label size, and each pixel takes the best part;
background where that best score is below ``threshold`` (0.5).

``plain``: one array per image in a tree mirroring the data set's (``<masks>/<split folder>/<stem>.npy``
or ``.png``): either a ``(K+1, H, W)`` score / one-hot stack (argmax) or an ``(H, W)`` map of part ids
0..K, e.g. an ``ogfr parse`` cache folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from ogfr.images import UnreadableImage, read_image
from ogfr.parsing.base import ParseResult, failed
from ogfr.parts import NUM_PARTS, PART_NAMES, resize_labels

PIFPAF_SUBDIR = Path("masks") / "pifpaf_maskrcnn_filtering"
COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
COCO_LIMBS = (
    ("left_ankle", "left_knee"),
    ("left_knee", "left_hip"),
    ("right_ankle", "right_knee"),
    ("right_knee", "right_hip"),
    ("left_hip", "right_hip"),
    ("left_shoulder", "left_hip"),
    ("right_shoulder", "right_hip"),
    ("left_shoulder", "right_shoulder"),
    ("left_shoulder", "left_elbow"),
    ("right_shoulder", "right_elbow"),
    ("left_elbow", "left_wrist"),
    ("right_elbow", "right_wrist"),
    ("left_eye", "right_eye"),
    ("nose", "left_eye"),
    ("nose", "right_eye"),
    ("left_eye", "left_ear"),
    ("right_eye", "right_ear"),
    ("left_ear", "left_shoulder"),
    ("right_ear", "right_shoulder"),
)  # fmt: skip  (COCO person skeleton, PifPaf's limb-field order)
PIFPAF_FIELDS: tuple[str, ...] = COCO_KEYPOINTS + tuple(f"{a}_to_{b}" for a, b in COCO_LIMBS)
_FACE = ("nose", "left_eye", "right_eye", "left_ear", "right_ear")


def _part_of_field(name: str) -> int:
    """Fine part id (1..K) that a PifPaf keypoint or limb field belongs to (the DESIGN.md grouping)."""
    ends = name.split("_to_")
    if all(e in _FACE for e in ends) or (len(ends) == 2 and ends[0].endswith("ear")):
        return PART_NAMES.index("head")  # face keypoints, face limbs, ear-shoulder limbs
    if "ankle" in name and len(ends) == 1:
        return PART_NAMES.index(f"{name.split('_')[0]}_foot")
    if any("knee" in e for e in ends) or (len(ends) == 2 and "ankle" in name):
        return PART_NAMES.index(f"{ends[0].split('_')[0]}_leg")
    if any("elbow" in e or "wrist" in e for e in ends):
        return PART_NAMES.index(f"{ends[0].split('_')[0]}_arm")
    return PART_NAMES.index("torso")  # shoulders, hips, and the limbs between them


PIFPAF_GROUPS: dict[int, tuple[int, ...]] = {
    part: tuple(i for i, f in enumerate(PIFPAF_FIELDS) if _part_of_field(f) == part)
    for part in range(1, NUM_PARTS + 1)
}


def pifpaf_to_labels(fields: np.ndarray, label_size: tuple[int, int], threshold: float = 0.5) -> np.ndarray:
    """(36, h, w) PifPaf confidence fields -> (label h, label w) uint8 part ids."""
    t = torch.from_numpy(np.ascontiguousarray(fields, dtype=np.float32))
    scores = torch.stack([t[list(PIFPAF_GROUPS[p])].amax(0) for p in range(1, NUM_PARTS + 1)])  # (K, h, w)
    scores = F.interpolate(scores[None], size=label_size, mode="bilinear", align_corners=False)[0]
    best, part = scores.max(0)
    labels = torch.where(best >= threshold, part + 1, torch.zeros_like(part))
    return labels.to(torch.uint8).numpy()


def _image_size(path: Path) -> tuple[int, int] | None:
    try:
        im = read_image(path, mode=None)
    except UnreadableImage:
        return None
    return im.height, im.width


class FilesBackend:
    """Per-image mask files -> part-label maps at ``label_size`` (h, w).

    ``masks_root`` is the folder mirroring the data set's tree (default: the BPBreID folder
    ``<dataset_root>/masks/pifpaf_maskrcnn_filtering``); ``fmt`` is ``pifpaf`` or ``plain``.
    ``aspect_tolerance``: a mask whose height/width ratio differs from its image's by more than this
    fraction belongs to another image size and is refused.
    """

    name = "files"

    def __init__(
        self,
        dataset_root: Path,
        label_size: tuple[int, int] = (64, 32),
        masks_root: Path | None = None,
        fmt: Literal["pifpaf", "plain"] | None = None,
        threshold: float = 0.5,
        aspect_tolerance: float = 0.2,
    ) -> None:
        self.dataset_root = Path(dataset_root)
        self.label_size = (int(label_size[0]), int(label_size[1]))
        self.masks_root = Path(masks_root) if masks_root is not None else self.dataset_root / PIFPAF_SUBDIR
        if not self.masks_root.is_dir():
            raise FileNotFoundError(
                f"{self.masks_root}: mask folder not found; put the BPBreID masks at "
                f"<dataset>/{PIFPAF_SUBDIR}/<split>/<image>.npy or pass --masks DIR"
            )
        if fmt is None:
            fmt = "pifpaf" if self.masks_root.name == PIFPAF_SUBDIR.name else "plain"
        if fmt not in ("pifpaf", "plain"):
            raise ValueError(f"files backend format must be 'pifpaf' or 'plain', got {fmt!r}")
        self.fmt, self.threshold, self.aspect_tolerance = fmt, float(threshold), float(aspect_tolerance)

    def config(self) -> dict:
        return {"format": self.fmt, "masks_root": str(self.masks_root), "threshold": self.threshold}

    def mask_candidates(self, image_path: Path) -> list[Path]:
        """Files that may hold the mask of ``image_path`` (first existing one wins)."""
        image_path = Path(image_path)
        try:
            rel = image_path.resolve().relative_to(self.dataset_root.resolve())
        except ValueError:
            rel = Path(image_path.parent.name) / image_path.name
        base = self.masks_root / rel
        names = [base.with_suffix(".npy"), base.with_name(base.name + ".npy")]
        names += [base.with_name(base.name + ".confidence_fields.npy"), base.with_suffix(".png")]
        return names

    def read(self, image_path: Path) -> ParseResult:
        candidates = self.mask_candidates(image_path)
        path = next((c for c in candidates if c.is_file()), None)
        if path is None:
            return failed(
                self.label_size, "unreadable", f"{candidates[0]}: mask file not found for {image_path}"
            )
        try:
            arr = (
                np.asarray(read_image(path, mode=None))
                if path.suffix == ".png"
                else np.load(path, allow_pickle=False)
            )
        except (OSError, ValueError) as err:  # UnreadableImage is a ValueError
            return failed(self.label_size, "unreadable", f"{path}: unreadable mask ({err})")
        problem = self._check(arr, path, Path(image_path))
        if problem:
            return failed(self.label_size, "unreadable", problem)
        if self.fmt == "pifpaf":
            labels = pifpaf_to_labels(arr, self.label_size, self.threshold)
        elif arr.ndim == 3:
            labels = resize_labels(arr.argmax(0).astype(np.uint8), self.label_size, mode="majority")
        else:
            labels = resize_labels(arr.astype(np.uint8), self.label_size, mode="majority")
        if not labels.any():
            return ParseResult(labels, "no_person", f"{path}: no body part in the mask")
        return ParseResult(labels)

    def _check(self, arr: np.ndarray, path: Path, image_path: Path) -> str:
        """Empty string when ``arr`` is a usable mask of ``image_path``, else what is wrong."""
        if self.fmt == "pifpaf":
            if arr.ndim != 3 or arr.shape[0] != len(PIFPAF_FIELDS):
                return f"{path}: expected a ({len(PIFPAF_FIELDS)}, h, w) PifPaf field array, got shape {arr.shape}"
        elif arr.ndim == 3:
            if arr.shape[0] != NUM_PARTS + 1:
                return (
                    f"{path}: expected a ({NUM_PARTS + 1}, H, W) part stack or an (H, W) map, got {arr.shape}"
                )
        elif arr.ndim != 2:
            return f"{path}: expected a ({NUM_PARTS + 1}, H, W) part stack or an (H, W) map, got {arr.shape}"
        elif (
            not np.issubdtype(arr.dtype, np.integer)
            or arr.min(initial=0) < 0
            or arr.max(initial=0) > NUM_PARTS
        ):
            return f"{path}: an (H, W) map must hold integer part ids 0..{NUM_PARTS}"
        if not np.issubdtype(arr.dtype, np.number) or (
            np.issubdtype(arr.dtype, np.floating) and not np.isfinite(arr).all()
        ):
            return f"{path}: mask values must be finite numbers (dtype {arr.dtype})"
        size = _image_size(image_path)
        mh, mw = arr.shape[-2:]
        if size is not None and min(mh, mw) > 0:
            ratio = (mh / mw) / (size[0] / size[1])
            if abs(ratio - 1) > self.aspect_tolerance:
                return (
                    f"{path}: mask is {mh}x{mw} but the image {image_path.name} is {size[0]}x{size[1]}; "
                    "the mask belongs to another image size"
                )
        return ""

    def parse(self, paths: Sequence[Path]) -> list[ParseResult]:
        return [self.read(Path(p)) for p in paths]

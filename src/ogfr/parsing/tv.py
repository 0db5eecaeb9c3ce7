"""``torchvision`` backend: Mask R-CNN person mask + Keypoint R-CNN 17 COCO keypoints -> 8 parts.

The closest offline stand-in for the paper's Mask R-CNN + PifPaf. Weights are never downloaded here:
they come from paths the user gives or from torchvision's cache (``$TORCH_HOME/hub/checkpoints``), and
are read with ``ogfr.io.load_tensors`` (no code is unpickled; a bad file is an error naming it). The
keypoints and the mask go through the same nearest-segment assignment as the ``pose`` backend
(``COCO_SEGMENTS``); COCO has no foot keypoints, so each foot is a short segment continuing the shin
below the ankle.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ogfr.io import load_tensors
from ogfr.parsing.base import ParseResult, empty_labels, parse_loaded
from ogfr.parsing.pose import landmarks_to_parts

MASK_WEIGHTS = "maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth"
KEYPOINT_WEIGHTS = "keypointrcnn_resnet50_fpn_coco-fc266e95.pth"
WEIGHTS_URL = "https://download.pytorch.org/models/"

# COCO keypoint ids; 17 and 18 are the synthetic left / right toe points added by ``extend_feet``.
NOSE, L_EYE, R_EYE, L_EAR, R_EAR = 0, 1, 2, 3, 4
L_SH, R_SH, L_EL, R_EL, L_WR, R_WR, L_HIP, R_HIP, L_KNEE, R_KNEE, L_ANK, R_ANK = range(5, 17)
L_TOE, R_TOE = 17, 18
COCO_SEGMENTS: tuple[tuple[int, int, int], ...] = (
    (1, L_EAR, R_EAR),
    (1, L_EYE, R_EYE),
    (1, NOSE, L_EAR),
    (1, NOSE, R_EAR),
    (2, L_SH, L_EL),
    (2, L_EL, L_WR),
    (3, R_SH, R_EL),
    (3, R_EL, R_WR),
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
    (7, L_ANK, L_TOE),
    (8, R_ANK, R_TOE),
)
COCO_TORSO = (L_SH, R_SH, R_HIP, L_HIP)


def extend_feet(
    keypoints: np.ndarray, scores: np.ndarray, length: float = 0.3
) -> tuple[np.ndarray, np.ndarray]:
    """Append a toe point per foot: the ankle moved on along the knee->ankle direction by ``length`` shins."""
    kp = np.asarray(keypoints, dtype=np.float64)[:17, :2]
    toes = [kp[a] + length * (kp[a] - kp[k]) for k, a in ((L_KNEE, L_ANK), (R_KNEE, R_ANK))]
    sc = np.asarray(scores, dtype=np.float64)[:17]
    toe_scores = [min(sc[L_KNEE], sc[L_ANK]), min(sc[R_KNEE], sc[R_ANK])]
    return np.vstack([kp, toes]), np.concatenate([sc, toe_scores])


def keypoints_to_parts(
    keypoints: np.ndarray, scores: np.ndarray, person: np.ndarray, score_threshold: float = 2.0
) -> np.ndarray:
    """17 COCO keypoints (x, y in ``person``-grid pixels) + person mask (h, w) bool -> (h, w) uint8 parts.

    ``scores`` are Keypoint R-CNN's keypoint logits: a keypoint below ``score_threshold`` drops its segments.
    """
    kp, sc = extend_feet(keypoints, scores)
    return landmarks_to_parts(kp, sc, person, score_threshold, COCO_SEGMENTS, COCO_TORSO)


def _find_weights(given: Path | None, file_name: str) -> Path:
    candidates = (
        [Path(given)] if given is not None else [Path(torch.hub.get_dir()) / "checkpoints" / file_name]
    )
    for c in candidates:
        if c.is_file():
            return c
    where = candidates[0]
    raise FileNotFoundError(
        f"{where}: torchvision weights not found; download {WEIGHTS_URL}{file_name} and put it at "
        f"{Path(torch.hub.get_dir()) / 'checkpoints' / file_name} (or pass its path)"
    )


def _read_state(path: Path, what: str) -> dict[str, torch.Tensor]:
    """The state dict in ``path`` (read before any network is built, so a bad file is refused at once)."""
    state = load_tensors(path, f"torchvision {what} weights file")
    if not isinstance(state, dict) or not all(torch.is_tensor(v) for v in state.values()):
        raise ValueError(f"{path}: expected a state dict of tensors, got {type(state).__name__}")
    return state


def _load_detector(model: torch.nn.Module, state: dict[str, torch.Tensor], path: Path, what: str) -> None:
    """Load ``state`` into ``model``; keys or shapes of another network are a ValueError naming ``path``."""
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
    except RuntimeError as err:  # size mismatches
        raise ValueError(f"{path}: not the expected {what} weights ({str(err)[:300]})") from err
    if missing or unexpected:
        raise ValueError(
            f"{path}: not the expected {what} weights (missing {missing[:3]}, unexpected {unexpected[:3]})"
        )


class TorchvisionBackend:
    """Mask R-CNN + Keypoint R-CNN (ResNet-50 FPN, COCO) -> part maps at ``label_size`` (h, w).

    ``mask_weights`` / ``keypoint_weights``: state-dict files; ``random_init=True`` builds untrained
    networks (for tests of shapes and plumbing only). ``min_size``: the detectors' input resize.
    """

    name = "torchvision"

    def __init__(
        self,
        label_size: tuple[int, int] = (64, 32),
        mask_weights: Path | None = None,
        keypoint_weights: Path | None = None,
        random_init: bool = False,
        min_size: int = 512,
        det_threshold: float = 0.5,
        keypoint_threshold: float = 2.0,
        device: str = "cpu",
    ) -> None:
        self.label_size = (int(label_size[0]), int(label_size[1]))
        self.det_threshold, self.keypoint_threshold = float(det_threshold), float(keypoint_threshold)
        self.device = torch.device(device)
        paths = (None, None)
        if not random_init:
            paths = (
                _find_weights(mask_weights, MASK_WEIGHTS),
                _find_weights(keypoint_weights, KEYPOINT_WEIGHTS),
            )
        whats = ("Mask R-CNN", "Keypoint R-CNN")
        states = [None if p is None else _read_state(p, w) for p, w in zip(paths, whats, strict=True)]
        from torchvision.models.detection import keypointrcnn_resnet50_fpn, maskrcnn_resnet50_fpn

        kwargs = {"weights": None, "weights_backbone": None, "min_size": min_size, "max_size": 2 * min_size}
        self.mask_model = maskrcnn_resnet50_fpn(**kwargs)
        self.kp_model = keypointrcnn_resnet50_fpn(**kwargs)
        for model, state, path, what in zip(
            (self.mask_model, self.kp_model), states, paths, whats, strict=True
        ):
            if state is not None:
                _load_detector(model, state, path, what)
            model.eval().to(self.device)
        self._config = {
            "min_size": min_size,
            "det_threshold": det_threshold,
            "keypoint_threshold": keypoint_threshold,
        }
        self._config["random_init"] = random_init

    def config(self) -> dict:
        return dict(self._config)

    def _best_person(self, output: dict) -> int | None:
        keep = (output["labels"] == 1) & (output["scores"] >= self.det_threshold)
        if not bool(keep.any()):
            return None
        return int(torch.where(keep, output["scores"], torch.full_like(output["scores"], -1)).argmax())

    @torch.inference_mode()
    def parse_images(self, images: Sequence[np.ndarray]) -> list[ParseResult]:
        """Parse (H, W, 3) uint8 RGB arrays."""
        if not images:
            return []
        tensors = [
            torch.from_numpy(np.asarray(im, dtype=np.float32) / 255.0).permute(2, 0, 1).to(self.device)
            for im in images
        ]
        masks_out, kps_out = self.mask_model(tensors), self.kp_model(tensors)
        h, w = self.label_size
        results = []
        for img, m_out, k_out in zip(images, masks_out, kps_out, strict=True):
            mi, ki = self._best_person(m_out), self._best_person(k_out)
            if mi is None or ki is None:
                results.append(ParseResult(empty_labels(self.label_size), "no_person", "no person detected"))
                continue
            prob = m_out["masks"][mi : mi + 1].float()  # (1, 1, H, W) mask probability at image size
            person = torch.nn.functional.interpolate(prob, size=(h, w), mode="bilinear")[0, 0] > 0.5
            kp = k_out["keypoints"][ki].cpu().numpy()  # (17, 3) x, y, vis in image pixels
            kp_grid = kp[:, :2] * np.array([w / img.shape[1], h / img.shape[0]])
            labels = keypoints_to_parts(
                kp_grid,
                k_out["keypoints_scores"][ki].cpu().numpy(),
                person.cpu().numpy(),
                self.keypoint_threshold,
            )
            status = "ok" if labels.any() else "no_person"
            results.append(
                ParseResult(labels, status, "" if labels.any() else "no person pixel near a keypoint")
            )
        return results

    def parse(self, paths: Sequence[Path]) -> list[ParseResult]:
        return parse_loaded(self.parse_images, self.label_size, [Path(p) for p in paths])

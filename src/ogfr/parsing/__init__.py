"""Occlusion label estimator (paper §3.1.1): part-label backends, coarse parts, occlusion codes, cache.

- ``occlusion_code(labels, num_coarse, lam)``: eq. 1-2, on torch tensors or numpy arrays;
  ``CodeSettings`` (C, lambda, label size): how a model's z is made, stored with its checkpoint.
- Backends turn images into part-label maps (0..K) at a fixed label size: ``synthetic`` (generator
  ground truth), ``files`` (BPBreID PifPaf fields or plain arrays), ``pose`` (BlazePose via LiteRT),
  ``torchvision`` (Mask R-CNN + Keypoint R-CNN). ``make_backend(name, ...)`` builds one.
- ``build_cache(...)`` writes a resumable on-disk cache; ``LabelCache(root)`` reads it for training.
"""

from ogfr.parsing.base import Backend, ParseResult, parse_label_size
from ogfr.parsing.cache import LabelCache, build_cache, default_cache_dir
from ogfr.parsing.codes import CodeSettings, coarse_counts, coarse_lookup, occlusion_code
from ogfr.parsing.factory import BACKENDS, make_backend
from ogfr.parsing.synthetic import SyntheticBackend

__all__ = [
    "BACKENDS",
    "Backend",
    "CodeSettings",
    "LabelCache",
    "ParseResult",
    "SyntheticBackend",
    "build_cache",
    "coarse_counts",
    "coarse_lookup",
    "default_cache_dir",
    "make_backend",
    "occlusion_code",
    "parse_label_size",
]

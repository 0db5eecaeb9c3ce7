"""Training and evaluation engine: configs, the training loop, evaluation, checkpoints, DDP.

- ``load_config(path, overrides)`` -> :class:`Config` (YAML preset + ``key=value`` overrides);
  ``preset_model(name, **fields)`` -> the ``OGFRConfig`` of a preset in ``configs/``.
- ``train(cfg, out_dir, resume=False)`` -> :class:`TrainResult` (writes last.pt, best.pt,
  metrics.jsonl, curves.png, config.yaml).
- :class:`FeatureExtractor`: the one path from images to ``ogfr.metrics.Features``;
  ``split_features`` / ``evaluate_model``: features of a data set split and the eq. 25 metrics.
- ``load_for_inference(path)`` -> ``(model, cfg, meta)``.
"""

from ogfr.engine.checkpoint import load_checkpoint, load_for_inference, save_checkpoint
from ogfr.engine.config import Config, load_config, preset_model, save_config
from ogfr.engine.evaluate import evaluate_model, split_features
from ogfr.engine.features import FeatureExtractor
from ogfr.engine.train import TrainingDiverged, TrainResult, train

__all__ = [
    "Config",
    "FeatureExtractor",
    "TrainResult",
    "TrainingDiverged",
    "evaluate_model",
    "load_checkpoint",
    "load_config",
    "load_for_inference",
    "preset_model",
    "save_checkpoint",
    "save_config",
    "split_features",
    "train",
]

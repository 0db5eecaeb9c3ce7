"""Run configuration: data + parsing + model + loss + optim + train, from a YAML preset plus overrides.

A preset is a YAML file with one section per part of :class:`Config`; ``base: other.yaml`` (a path
relative to the preset) inherits another preset, deep-merged. Command-line overrides are
``section.key=value`` strings; values are parsed as YAML and checked against the field's type. A key
that does not exist is an error that lists the closest existing keys (no silent typos).
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ogfr.io import atomic_write_text
from ogfr.losses import LossConfig
from ogfr.model import OGFRConfig

__all__ = [
    "Config",
    "DataConfig",
    "OptimConfig",
    "ParsingConfig",
    "TrainConfig",
    "config_keys",
    "find_preset",
    "from_dict",
    "load_config",
    "parse_overrides",
    "preset_model",
    "save_config",
    "to_dict",
]


@dataclass
class DataConfig:
    """Where the images come from and how a training batch is drawn and augmented."""

    name: str = "synthetic"  # reader name for ogfr.data.load_dataset (market1501, occluded_duke, ...)
    root: str = ""  # data set folder (or its parent)
    test_name: str = ""  # evaluate on another data set (e.g. occluded_reid after Market); "" = same
    test_root: str = ""  # its folder
    p: int = 16  # identities per batch (per process)
    k: int = 4  # images per identity
    num_workers: int = 4  # DataLoader worker processes (0 = load in the main process)
    flip_p: float = 0.5  # horizontal flip probability
    pad: int = 10  # pixels padded before the random crop
    occlusion_p: float = 1.0  # probability that the occluded view gets a pasted obstacle
    occlusion_area: tuple[float, float] = (0.1, 0.4)  # obstacle area as a fraction of the image
    obstacle_bank: int = 500  # obstacle patches cropped from training images
    eval_batch: int = 128  # images per batch at feature extraction
    cache_images: bool = False  # keep training images decoded + resized in memory (~4 x H x W bytes each)

    def __post_init__(self) -> None:
        if self.p < 2 or self.k < 2:
            raise ValueError(
                f"data.p and data.k must be >= 2 (triplet loss needs pairs), got {self.p}, {self.k}"
            )
        if self.num_workers < 0 or self.eval_batch < 1 or self.obstacle_bank < 1 or self.pad < 0:
            raise ValueError(
                "data.num_workers, data.pad must be >= 0; data.eval_batch, data.obstacle_bank >= 1"
            )
        if not 0.0 <= self.flip_p <= 1.0 or not 0.0 <= self.occlusion_p <= 1.0:
            raise ValueError("data.flip_p and data.occlusion_p must lie in [0, 1]")
        lo, hi = self.occlusion_area
        if not 0.0 < lo <= hi < 1.0:
            raise ValueError(f"data.occlusion_area must satisfy 0 < lo <= hi < 1, got {self.occlusion_area}")


@dataclass
class ParsingConfig:
    """Part labels (occlusion label estimator) and the occlusion code z."""

    backend: str = "synthetic"  # synthetic | files | pose | torchvision (see ogfr.parsing)
    cache: str = ""  # label cache folder; "" = <data root>/ogfr_labels/<backend>
    lam: float = 5.0  # eq. 2 threshold: a coarse part with fewer pixels (at label size) is occluded

    def __post_init__(self) -> None:
        if self.lam < 0:
            raise ValueError(f"parsing.lam must be >= 0, got {self.lam}")


@dataclass
class OptimConfig:
    """SGD with warm-up and cosine (TransReID's) or step (the paper's 40/70) decay; per-epoch LR."""

    name: Literal["sgd", "adamw"] = (
        "sgd"  # SGD for the paper presets; AdamW trains from scratch faster (CPU presets)
    )
    lr: float = 0.008  # base learning rate
    momentum: float = 0.9  # SGD momentum (AdamW: beta1)
    weight_decay: float = 1e-4
    bias_lr_factor: float = 2.0  # biases get lr x this factor
    schedule: Literal["cosine", "step"] = "cosine"
    warmup_epochs: int = 5  # linear warm-up from warmup_factor x lr
    warmup_factor: float = 0.01
    min_lr_factor: float = 0.002  # cosine ends at lr x this factor
    steps: tuple[int, ...] = (40, 70)  # step schedule: epochs where the lr is multiplied by gamma
    gamma: float = 0.1
    grad_clip: float = 0.0  # max gradient norm (0 = no clipping)
    stem_lr_factor: float = 1.0  # hybrid stem: the pretrained MobileNetV2 stages train at lr x this factor
    stem_freeze_epochs: int = 0  # hybrid stem: all its pretrained stages stay fixed for the first N epochs
    stem_frozen_stages: int = 0  # hybrid stem: its first N MobileNetV2 stages never train (0 = all train)
    agent_lr_mult: float = 1.0  # learning-rate multiplier of the erasing agent's G and b (eq. 7)

    def __post_init__(self) -> None:
        if self.lr <= 0 or self.momentum < 0 or self.weight_decay < 0 or self.bias_lr_factor <= 0:
            raise ValueError("optim.lr and optim.bias_lr_factor must be > 0; momentum, weight_decay >= 0")
        if self.stem_lr_factor <= 0 or self.stem_freeze_epochs < 0 or self.stem_frozen_stages < 0:
            raise ValueError(
                "optim.stem_lr_factor must be > 0, optim.stem_freeze_epochs and stem_frozen_stages >= 0, got "
                f"{self.stem_lr_factor}, {self.stem_freeze_epochs}, {self.stem_frozen_stages}"
            )
        if self.warmup_epochs < 0 or not 0 < self.warmup_factor <= 1 or not 0 <= self.min_lr_factor <= 1:
            raise ValueError("optim.warmup_epochs >= 0, warmup_factor in (0, 1], min_lr_factor in [0, 1]")
        if list(self.steps) != sorted(self.steps) or self.gamma <= 0 or self.grad_clip < 0:
            raise ValueError("optim.steps must be increasing, optim.gamma > 0, optim.grad_clip >= 0")
        if self.agent_lr_mult < 0:
            raise ValueError(f"optim.agent_lr_mult must be >= 0, got {self.agent_lr_mult}")


@dataclass
class TrainConfig:
    """Loop, evaluation, checkpoints, device and precision."""

    epochs: int = 120
    steps_per_epoch: int = 0  # optimizer steps per epoch (0 = one pass of the P x K sampler); more than a
    # pass continues into the sampler's next shuffles (small data sets), fewer caps the epoch
    eval_every: int = 10  # evaluate on query/gallery every N epochs (and after the last; 0 = only last)
    checkpoint_every: int = 0  # also write last.pt every N optimizer steps (0 = at epoch end only)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: Literal["none", "bf16", "fp16"] = "none"  # autocast precision on CUDA
    compile: bool = False  # torch.compile the training step's model
    pretrained: str = ""  # ImageNet ViT weights file (timm .safetensors/.pth or TransReID .pth); "" = none
    # hybrid stem: MobileNetV2 weights file; "" = the verified copy `python -m ogfr.model.mobilenet_weights
    # fetch` put in the cache; "none" = random initialisation (for comparisons)
    stem_weights: str = ""
    eval_parts: bool = True  # eq. 25 with part features at evaluation (False: global feature only)
    rerank: bool = False  # k-reciprocal re-ranking at evaluation
    find_unused_parameters: bool = True  # DDP setting (ablations leave modules unused)
    agent_start_epoch: int = 0  # the erasing agent acts (erases, learns) from this epoch on (0-based)
    init_from: str = ""  # start from a previous run's weights (a checkpoint or run folder), not its optimizer

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"train.epochs must be >= 1, got {self.epochs}")
        if self.agent_start_epoch < 0:
            raise ValueError(f"train.agent_start_epoch must be >= 0, got {self.agent_start_epoch}")
        if min(self.steps_per_epoch, self.eval_every, self.checkpoint_every) < 0:
            raise ValueError("train.steps_per_epoch, eval_every, checkpoint_every must be >= 0")


@dataclass
class Config:
    """Everything one run needs. Built with :func:`load_config` or :func:`from_dict`."""

    data: DataConfig = field(default_factory=DataConfig)
    parsing: ParsingConfig = field(default_factory=ParsingConfig)
    model: OGFRConfig = field(default_factory=OGFRConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


# ----------------------------------------------------------------------------- generic dataclass <-> dict


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (converting where lossless); raise naming ``key``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is Literal:
        if value in args:
            return value
        raise ValueError(f"config key {key!r}: expected one of {list(args)}, got {value!r}")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, key)
            except ValueError as err:
                errors.append(str(err))
        raise ValueError(f"config key {key!r}: {value!r} matches none of {[_type_name(a) for a in args]}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "on", "off"):
            return value.lower() in ("true", "yes", "on")
        raise ValueError(f"config key {key!r}: expected a boolean (true/false), got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        raise ValueError(f"config key {key!r}: expected an integer, got {value!r}")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" as a string
            try:
                return float(value)
            except ValueError:
                pass
        raise ValueError(f"config key {key!r}: expected a number, got {value!r}")
    if tp is str:
        if isinstance(value, (str, os.PathLike)):
            return str(value)
        raise ValueError(f"config key {key!r}: expected a string, got {value!r}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [v for v in value.replace("x", ",").split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config key {key!r}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(value) != len(args):
                raise ValueError(f"config key {key!r}: expected {len(args)} values, got {list(value)}")
            return tuple(_coerce(v, a, key) for v, a in zip(value, args, strict=True))
        inner = args[0] if args else Any
        items = [_coerce(v, inner, key) for v in value]
        return tuple(items) if origin is tuple else items
    if dataclasses.is_dataclass(tp):
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"config key {key!r}: expected a mapping (section), got {value!r}")
        return from_dict(tp, value, prefix=key)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ValueError(f"config key {key!r}: cannot check a value of type {_type_name(tp)}: {value!r}")


def config_keys(cls: type = Config, prefix: str = "") -> list[str]:
    """Every dotted key of a config dataclass (sections and leaves), e.g. ``model.depth``."""
    keys: list[str] = []
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = f"{prefix}{f.name}"
        keys.append(name)
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            keys.extend(config_keys(tp, prefix=f"{name}."))
    return keys


def _unknown_key_error(key: str, known: Sequence[str]) -> ValueError:
    close = difflib.get_close_matches(key, known, n=4, cutoff=0.6)
    leaf = key.rsplit(".", 1)[-1]
    close += [k for k in known if k.rsplit(".", 1)[-1] == leaf and k not in close]
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return ValueError(f"unknown config key {key!r}{hint}")


def from_dict(cls: type, data: Mapping[str, Any], prefix: str = "") -> Any:
    """Build config dataclass ``cls`` from a nested mapping, type-checking every value."""
    if not isinstance(data, Mapping):
        raise ValueError(f"config section {prefix or '<root>'!r}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for name, value in data.items():
        key = f"{prefix}.{name}" if prefix else str(name)
        if name not in names:
            own = [f"{prefix}.{n}" if prefix else n for n in sorted(names)]
            leaf = [k for k in config_keys(Config) if k.rsplit(".", 1)[-1] == name and k not in own]
            raise _unknown_key_error(key, own + leaf)
        kwargs[name] = _coerce(value, hints[name], key)
    try:
        return cls(**kwargs)
    except TypeError as err:
        raise ValueError(f"config section {prefix or '<root>'!r}: {err}") from err


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain nested dict of a config dataclass (tuples as lists): YAML- and checkpoint-safe."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v) if f.init}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, Path):
            return str(v)
        return v

    return plain(cfg)


# ----------------------------------------------------------------------------- YAML presets and overrides


def _deep_merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = _deep_merge(dict(out[k]), v)
        else:
            out[k] = v
    return out


def _read_preset(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        raise ValueError(f"config {path}: 'base:' inheritance loops through {[str(p) for p in seen]}")
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise ValueError(f"config {path}: not valid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"config {path}: expected a mapping of sections at the top level")
    base = data.pop("base", None)
    sections = {f.name for f in dataclasses.fields(Config)}
    for name, value in list(data.items()):
        if name in sections and value is None:  # an empty section ("data:" and nothing under it)
            data[name] = {}
        elif name in sections and not isinstance(value, Mapping):
            raise ValueError(
                f"config {path}: section {name!r} must be a mapping of settings (key: value lines), "
                f"got {type(value).__name__} {value!r}"
            )
    if base is None:
        return data
    if not isinstance(base, str):
        raise ValueError(f"config {path}: 'base' must be a path string, got {base!r}")
    return _deep_merge(_read_preset(path.parent / base, (*seen, path)), data)


def parse_overrides(overrides: Sequence[str]) -> dict[str, Any]:
    """``["model.depth=4", "train.amp=bf16"]`` -> nested dict; values are parsed as YAML."""
    known = config_keys(Config)
    out: dict[str, Any] = {}
    for item in overrides:
        if "=" not in item:
            raise ValueError(f"override {item!r}: expected section.key=value (e.g. train.epochs=10)")
        key, raw = item.split("=", 1)
        key = key.strip()
        if key not in known:
            raise _unknown_key_error(key, known)
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        node = out
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = value
    return out


def load_config(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> Config:
    """Read a preset (with ``base:`` inheritance), apply ``key=value`` overrides, validate."""
    data = _read_preset(Path(path)) if path is not None else {}
    data = _deep_merge(data, parse_overrides(overrides))
    return from_dict(Config, data)


def save_config(cfg: Config, path: str | os.PathLike) -> Path:
    """Write the resolved config as YAML, atomically."""
    return atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))


def find_preset(name: str) -> Path:
    """``configs/<name>.yaml`` of the checkout ogfr is installed from (``pip install -e .``)."""
    configs = Path(__file__).resolve().parents[3] / "configs"
    candidate = configs / f"{name}.yaml"
    if not candidate.is_file():
        names = sorted(p.stem for p in configs.glob("*.yaml")) if configs.is_dir() else []
        raise FileNotFoundError(
            f"preset {name!r}: {candidate} not found; presets here: {names} "
            "(presets live in the configs/ folder of an ogfr checkout: ./run demo)"
        )
    return candidate


def preset_model(name: str, **overrides: Any) -> OGFRConfig:
    """The ``model:`` section of preset ``name`` (``configs/<name>.yaml``: ``tiny``, ``demo``,
    ``vit_small``, ``paper/_base``, ...) with field overrides, validated."""
    return dataclasses.replace(load_config(find_preset(name)).model, **overrides)

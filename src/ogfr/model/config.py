"""`OGFRConfig`: every architecture setting and ablation switch of the OGFR model, validated."""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import Any, Literal

from ogfr.parts import COARSE_GROUPS, NUM_PARTS

PatchEmbedKind = Literal["overlap", "conv", "hybrid"]
FepPlacement = Literal["teacher", "student", "both", "none"]
MaskKind = Literal["none", "random", "background", "agent"]
DecoderKind = Literal["customized", "conventional"]
TestFeature = Literal["pre_bn", "post_bn"]

# MobileNetV2 stages the hybrid stem keeps, per output stride P: 7 stages end at stride 8 with 32 channels,
# 14 at stride 16 with 96 channels (torchvision's `mobilenet_v2().features` numbering).
HYBRID_STAGES: dict[int, int] = {8: 7, 16: 14}


@dataclass
class OGFRConfig:
    """Architecture of OGFR (paper §3) and its ablation switches (Tables 4, 5, 6, Figure 4).

    The defaults are the paper's ViT-B/16 setting; named settings (tiny, demo, vit_small, the paper's)
    are the ``model:`` sections of the YAML presets in ``configs/`` (``ogfr.engine.preset_model``).
    """

    # --- backbone (ViT on timm blocks) ---
    image_size: tuple[int, int] = (256, 128)  # input (H, W) in pixels
    patch_size: int = 16  # P of eq. 4 (conv / hybrid stem: total downsampling factor; hybrid: 8 or 16)
    stride: int = 12  # S of eq. 4 (overlapping patches when S < P); unused by the conv and hybrid stems
    # "overlap": linear projection of PxP patches (eq. 4); "conv": 3x3 conv stem from scratch;
    # "hybrid": the first stages of ImageNet MobileNetV2 (train.stem_weights) + 1x1 projection to D
    patch_embed: PatchEmbedKind = "overlap"
    stem_frozen_bn: bool = False  # hybrid stem: BatchNorm uses its ImageNet running statistics in training
    in_chans: int = 3  # image channels
    embed_dim: int = 768  # D, token width
    depth: int = 12  # number of transformer blocks of the shared OA-ViT
    num_heads: int = 12  # attention heads (backbone and the two-layer branch heads)
    mlp_ratio: float = 4.0  # FFN hidden width / D
    qkv_bias: bool = True  # bias on the q, k, v projections (ImageNet ViTs have it)
    ln_eps: float = 1e-6  # LayerNorm epsilon (1e-6 as timm / TransReID ViTs)
    drop_rate: float = 0.0  # dropout after the embeddings and in the MLPs
    attn_drop: float = 0.0  # dropout on attention weights
    drop_path: float = 0.1  # stochastic depth, linearly increasing over the backbone blocks
    camera_embed: bool = True  # add the SIE camera embedding C_e (eq. 5)
    unknown_camera: bool = False  # one extra shared C_e row for camid -1 / unseen cameras (else: error)
    # --- OA-ViT (§3.1) ---
    num_parts: int = NUM_PARTS  # K fine body parts (K+1 part tokens incl. background)
    num_coarse: int = 4  # C coarse parts of the occlusion code z (Figure 4: 1, 2, 4, 8)
    gamma1: float = 3.0  # weight of the occlusion embedding E_o (eq. 5)
    gamma2: float = 3.0  # weight of the camera embedding C_e (eq. 5)
    label_size: tuple[int, int] = (64, 32)  # (h, w) of part-label maps and of the part maps I~ (eq. 21)
    mask_temperature: float = 0.1  # cosine similarities / T before the softmax over parts (eq. 21)
    # --- FEP (§3.2) ---
    random_keep: float = 0.5  # keep probability per patch for mask="random" (Table 5, row R)
    agent_bias: float = 2.0  # initial bias b of the agent, m = sigmoid(I G^T + b): 2.0 keeps ~88 % at first
    agent_episodes: int = 1  # masks sampled per image in training (the B episodes of eq. 11)
    # --- ablation switches ---
    oavit: bool = True  # False: plain ViT tokens [cls; patches] (no part tokens, no E_o, no L_mask)
    fep: FepPlacement = "teacher"  # which branch runs FEP; the others run two conventional layers
    kd: bool = True  # False: single branch on the occluded view (Table 4 rows 1-3)
    mask: MaskKind = "agent"  # erasing mask of FEP (Table 5)
    decoder: DecoderKind = "customized"  # FEP decoder: MHSA_fix + MHSA, or 2 x MHSA (Table 6)
    # --- inference ---
    # the retrieval feature: "pre_bn" = the branch output (TransReID's Occluded-Duke config, NECK_FEAT
    # before), "post_bn" = after each BNNeck's BatchNorm with its running statistics (BoT, fast-reid,
    # TransReID's default NECK_FEAT after); docs/model.md, "The shared direction of the features"
    test_feature: TestFeature = "pre_bn"

    def __post_init__(self) -> None:
        self.image_size = _pair("image_size", self.image_size)
        self.label_size = _pair("label_size", self.label_size)
        for name, choices in _CHOICES.items():
            value = getattr(self, name)
            if value not in choices:
                raise ValueError(f"OGFRConfig.{name} must be one of {choices}, got {value!r}")
        for name in ("patch_size", "stride", "in_chans", "embed_dim", "depth", "num_heads", "num_parts"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"OGFRConfig.{name} must be a positive integer, got {value!r}")
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"OGFRConfig.embed_dim ({self.embed_dim}) must be divisible by num_heads ({self.num_heads})"
            )
        if self.num_coarse not in COARSE_GROUPS:
            raise ValueError(
                f"OGFRConfig.num_coarse must be one of {sorted(COARSE_GROUPS)}, got {self.num_coarse}"
            )
        h, w = self.image_size
        if h < self.patch_size or w < self.patch_size:
            raise ValueError(
                f"OGFRConfig.image_size {self.image_size} is smaller than patch_size {self.patch_size}"
            )
        if self.patch_embed == "conv" and (self.patch_size < 2 or self.patch_size & (self.patch_size - 1)):
            raise ValueError(
                f"OGFRConfig.patch_size must be a power of 2 >= 2 for the conv stem, got {self.patch_size}"
            )
        if self.patch_embed == "hybrid" and (self.patch_size not in HYBRID_STAGES or self.in_chans != 3):
            raise ValueError(
                f"OGFRConfig: the hybrid stem takes RGB images (in_chans=3) at patch_size (output stride) "
                f"{sorted(HYBRID_STAGES)}, got in_chans={self.in_chans}, patch_size={self.patch_size}"
            )
        if self.mlp_ratio <= 0:
            raise ValueError(f"OGFRConfig.mlp_ratio must be > 0, got {self.mlp_ratio}")
        for name in ("drop_rate", "attn_drop", "drop_path"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"OGFRConfig.{name} must be in [0, 1), got {getattr(self, name)}")
        if (
            not isinstance(self.agent_episodes, int)
            or isinstance(self.agent_episodes, bool)
            or self.agent_episodes < 1
        ):
            raise ValueError(
                f"OGFRConfig.agent_episodes must be a positive integer, got {self.agent_episodes!r}"
            )
        if not 0.0 <= self.random_keep <= 1.0:
            raise ValueError(f"OGFRConfig.random_keep must be in [0, 1], got {self.random_keep}")
        if self.gamma1 < 0 or self.gamma2 < 0:
            raise ValueError(f"OGFRConfig.gamma1/gamma2 must be >= 0, got {self.gamma1}, {self.gamma2}")
        if self.mask_temperature <= 0:
            raise ValueError(f"OGFRConfig.mask_temperature must be > 0, got {self.mask_temperature}")
        if not self.kd and self.fep in ("teacher", "both"):
            raise ValueError(
                f"OGFRConfig.fep={self.fep!r} needs the teacher branch, but kd=False builds a single "
                "(student) branch; use fep='student' or 'none'"
            )
        if not self.oavit and self.fep != "none":
            raise ValueError(
                f"OGFRConfig.fep={self.fep!r} needs the part tokens of OA-ViT (the agent's state I, eq. 6); "
                "set oavit=True or fep='none'"
            )

    # --- derived sizes ---
    @property
    def grid_size(self) -> tuple[int, int]:
        """Patch grid (rows, cols): eq. 4 for the overlapping embedding, H/P x W/P for the conv and hybrid
        stems (both halve with 3x3 stride-2 padding-1 convolutions)."""
        h, w = self.image_size
        if self.patch_embed in ("conv", "hybrid"):
            for _ in range(self.patch_size.bit_length() - 1):
                h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1  # 3x3 conv, stride 2, padding 1
            return h, w
        s, p = self.stride, self.patch_size
        return (h + s - p) // s, (w + s - p) // s  # eq. 4

    @property
    def num_patches(self) -> int:
        """N, the number of patch tokens."""
        gh, gw = self.grid_size
        return gh * gw

    @property
    def num_part_features(self) -> int:
        """Body-part features the model outputs: K with OA-ViT, 0 for the plain-ViT baseline."""
        return self.num_parts if self.oavit else 0

    def fep_in(self, branch: Literal["teacher", "student"]) -> bool:
        """Whether the given branch runs FEP (otherwise two conventional transformer layers)."""
        return self.fep in (branch, "both")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> OGFRConfig:
        """Build from a plain dict (e.g. parsed YAML); unknown keys are an error naming them."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown OGFRConfig field(s) {unknown}; known fields: {sorted(known)}")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples become lists) for YAML / JSON."""
        out = dataclasses.asdict(self)
        out["image_size"] = list(self.image_size)
        out["label_size"] = list(self.label_size)
        return out


# The allowed values of every Literal-typed field (patch_embed, fep, mask, decoder), read off the types.
_CHOICES: dict[str, tuple[str, ...]] = {
    name: typing.get_args(tp)
    for name, tp in typing.get_type_hints(OGFRConfig).items()
    if typing.get_origin(tp) is Literal
}


def _pair(name: str, value: Any) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"OGFRConfig.{name} must be a pair of positive integers (H, W), got {value!r}"
        ) from None
    if a < 1 or b < 1:
        raise ValueError(f"OGFRConfig.{name} must be a pair of positive integers (H, W), got {value!r}")
    return a, b


__all__ = [
    "HYBRID_STAGES",
    "OGFRConfig",
    "DecoderKind",
    "FepPlacement",
    "MaskKind",
    "PatchEmbedKind",
    "TestFeature",
]

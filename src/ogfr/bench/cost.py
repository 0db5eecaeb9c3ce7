"""Parameters and FLOPs of the OGFR student, the full training graph, the baseline and TransReID (JPM)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ogfr.bench.common import (
    BASELINE_SWITCHES,
    build_model,
    count_params,
    inputs,
    model_config,
    params_by_child,
    student_params,
)


def _sdpa_cpu_flops(q_shape, k_shape, v_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(q_shape, k_shape, v_shape)


def count_flops(fn: Callable[[], Any]) -> dict[str, int]:
    """FLOPs of one call of ``fn`` (2 per multiply-add), total and per operator.

    ``FlopCounterMode`` has a formula for the CUDA attention kernels but not for the CPU flash kernel
    that ``scaled_dot_product_attention`` dispatches to on CPU; it is added here (same formula).
    """
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _sdpa_cpu_flops}
    counter = FlopCounterMode(display=False, custom_mapping=mapping)
    with counter:  # not under no_grad: the counter's module tracker hooks need autograd on
        fn()
    per_op = {
        str(op).removeprefix("aten.").split(".")[0]: int(n)
        for op, n in counter.get_flop_counts().get("Global", {}).items()
    }
    return {"total": int(counter.get_total_flops()), **per_op}


def train_step_flops(model: nn.Module, cfg, batch: dict[str, torch.Tensor]) -> int:
    """FLOPs of one training step's forward, losses and backward (no optimizer update) on ``batch``."""
    from ogfr.losses import LossConfig, OGFRCriterion

    crit = OGFRCriterion(LossConfig(), cfg)
    model.train()

    def step() -> None:
        model.zero_grad(set_to_none=True)
        crit(model.forward_train(batch), batch)["total"].backward()

    flops = count_flops(step)["total"]
    model.zero_grad(set_to_none=True)
    return flops


@dataclass
class CostRow:
    """Parameters and FLOPs per image of one model graph."""

    name: str
    params: int
    gflops: float  # FlopCounterMode count per image, 2 per multiply-add
    note: str = ""

    @property
    def gmacs(self) -> float:
        return self.gflops / 2


def cost_table(
    size: str = "vit_base", num_classes: int = 702, num_cameras: int = 8, stride: int | None = None
) -> dict:
    """Params and FLOPs of the OGFR student, the full OGFR train graph, and the baseline.

    Returns a dict with ``rows`` (list of ``CostRow`` as dicts), the config used, and a breakdown of the
    full model's parameters by child module.
    """
    over = {} if stride is None else {"stride": stride}
    cfg_full = model_config(size, **over)
    cfg_base = dataclasses.replace(cfg_full, **BASELINE_SWITCHES)
    torch.manual_seed(0)
    full = build_model(cfg_full, num_classes, num_cameras).eval()
    base = build_model(cfg_base, num_classes, num_cameras).eval()
    batch = inputs(cfg_full, 2, num_classes, num_cameras)
    one = {k: v[:1] for k, v in batch.items()}

    f_student = count_flops(lambda: full(one["img_o"], one["z_o"], one["camid"]))["total"]
    f_base = count_flops(lambda: base(one["img_o"], one["z_o"], one["camid"]))["total"]
    # The train graph needs a batch of 2 (BatchNorm in train mode); FLOPs reported per image pair.
    full.train()
    f_train = count_flops(lambda: full.forward_train(batch))["total"] / 2
    base.train()
    f_base_train = count_flops(lambda: base.forward_train(batch))["total"] / 2
    step_full = train_step_flops(full, cfg_full, batch) / 2
    step_base = train_step_flops(base, cfg_base, batch) / 2
    full.eval()
    base.eval()
    # TransReID's JPM runs its extra last block on 4 groups of N/4 patches + the cls token (its b1 replaces
    # the backbone's own last block, so the global branch costs what the baseline costs).
    group = torch.randn(1, 1 + cfg_base.num_patches // 4, cfg_base.embed_dim)
    f_group = count_flops(lambda: base.backbone.blocks[-1](group))["total"]
    rows = [
        CostRow(
            "OGFR student (inference)",
            student_params(full, batch),
            f_student / 1e9,
            "params reaching the output",
        ),
        CostRow(
            "OGFR full (train graph)",
            count_params(full),
            f_train / 1e9,
            "forward of both views + FEP + heads",
        ),
        CostRow(
            "baseline (inference)", student_params(base, batch), f_base / 1e9, "params reaching the output"
        ),
        CostRow("baseline (train graph)", count_params(base), f_base_train / 1e9, "one view + heads"),
        CostRow(
            "OGFR training step",
            count_params(full),
            step_full / 1e9,
            "forward + losses + backward, per image pair",
        ),
        CostRow(
            "baseline training step",
            count_params(base),
            step_base / 1e9,
            "forward + losses + backward, per image",
        ),
    ]
    return {
        "size": size,
        "config": {
            k: getattr(cfg_full, k)
            for k in (
                "image_size",
                "patch_size",
                "stride",
                "patch_embed",
                "embed_dim",
                "depth",
                "num_heads",
                "num_parts",
                "num_coarse",
            )
            if hasattr(cfg_full, k)
        },
        "num_classes": num_classes,
        "num_cameras": num_cameras,
        "rows": [dataclasses.asdict(r) | {"gmacs": r.gmacs} for r in rows],
        "full_breakdown": params_by_child(full),
        "baseline_breakdown": params_by_child(base),
        "transreid": transreid_estimate(base, num_classes) | {"gflops": (f_base + 4 * f_group) / 1e9},
    }


def transreid_estimate(baseline: nn.Module, num_classes: int) -> dict[str, int]:
    """TransReID with JPM (the paper's Table 9 row), reconstructed from our baseline's parts.

    TransReID = the ViT backbone + two copies of its last block and final LayerNorm (``b1`` global,
    ``b2`` shared by the 4 jigsaw groups) + 5 BNNeck classifiers (global + 4 local). Our baseline has the
    backbone and 1 BNNeck; the ViT's ImageNet head (1000 classes, built but unused by TransReID's
    backbone class) is listed separately because it is unclear whether the paper counted it.
    """
    bb = baseline.backbone
    block = count_params(bb.blocks[-1]) + count_params(bb.norm)
    neck = count_params(baseline.student.necks.necks[0])
    dim = bb.norm.normalized_shape[0]
    base = count_params(baseline)
    return {
        "baseline": base,
        "jpm_blocks": 2 * block,
        "extra_necks": 4 * neck,
        "transreid": base + 2 * block + 4 * neck,
        "imagenet_head": dim * 1000 + 1000,
        "num_classes": num_classes,
    }

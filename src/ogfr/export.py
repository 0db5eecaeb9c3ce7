"""ONNX export of the student (inference) branch: inputs ``img``, ``z``, ``camid``; outputs ``global``,
``parts``, ``visibility``; the batch axis is dynamic.

An input the model does not use is dropped by the exporter (``z`` for the plain-ViT baseline, oavit off).
The file's metadata (``ogfr.occlusion_code``: JSON of C, lambda and the label size) says how z of a new
image is made, as training made it.
Outputs are the model's own (pre-BN, not normalised) features, exactly ``OGFR.forward``'s; the search
L2-normalises them before eq. 25. ``verify_onnx`` runs the file with onnxruntime and returns the largest
absolute difference to PyTorch.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from ogfr.io import atomic_path, check_can_create
from ogfr.parsing.codes import CodeSettings

log = logging.getLogger(__name__)

INPUT_NAMES = ("img", "z", "camid")
OUTPUT_NAMES = ("global", "parts", "visibility")


class StudentGraph(nn.Module):
    """``OGFR.forward`` with tuple outputs (global, parts, visibility), as ONNX wants them."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, img: torch.Tensor, z: torch.Tensor, camid: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(img, z, camid)
        return out["global"], out["parts"], out["visibility"]


def example_inputs(
    model: nn.Module, batch: int = 2, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random (img, z, camid) of the model's input size: z random bits, camid in the model's cameras."""
    cfg = model.cfg
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(batch, 3, *cfg.image_size, generator=g)
    z = torch.randint(0, 2, (batch, cfg.num_coarse), generator=g)
    camid = torch.randint(0, int(getattr(model, "num_cameras", 1)), (batch,), generator=g)
    return img, z, camid


def export_onnx(
    model: nn.Module, out: str | Path, opset: int = 17, codes: CodeSettings | None = None
) -> Path:
    """Write the student branch of ``model`` as ONNX to ``out`` (atomically) and return the path.

    ``codes`` (the checkpoint's stored settings) go into the metadata as ``ogfr.occlusion_code``.
    """
    out = Path(out)
    if out.exists() and out.is_dir():
        raise ValueError(f"--out {out} is a folder; give a file name such as {out / 'model.onnx'}")
    check_can_create(out.parent, f"--out {out}")  # before the export (atomic_path creates the folder)
    graph = StudentGraph(model).eval()
    args = example_inputs(model)
    dynamic = {name: {0: "batch"} for name in INPUT_NAMES + OUTPUT_NAMES}
    with atomic_path(out) as tmp, torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python-side shape checks
        torch.onnx.export(
            graph,
            args,
            str(tmp),
            input_names=list(INPUT_NAMES),
            output_names=list(OUTPUT_NAMES),
            dynamic_axes=dynamic,
            opset_version=opset,
            dynamo=False,
        )
        if codes is not None:
            import onnx

            proto = onnx.load(str(tmp))
            entry = proto.metadata_props.add()
            entry.key, entry.value = "ogfr.occlusion_code", json.dumps(codes.as_dict())
            onnx.save(proto, str(tmp))
    log.info("wrote %s (%.1f MB)", out, out.stat().st_size / 1e6)
    return out


def verify_onnx(model: nn.Module, onnx_path: str | Path, batch_sizes: tuple[int, ...] = (1, 3)) -> float:
    """Largest absolute difference of global/parts between onnxruntime and PyTorch on random inputs.

    Raises ``ValueError`` when the visibility flags differ.
    """
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    graph = StudentGraph(model).eval()
    worst = 0.0
    for b in batch_sizes:
        img, z, camid = example_inputs(model, batch=b, seed=b)
        with torch.no_grad():
            ref = graph(img, z, camid)
        feed = {"img": img.numpy(), "z": z.numpy(), "camid": camid.numpy()}
        names = {i.name for i in session.get_inputs()}  # a model that ignores z (oavit off) has no z input
        got = session.run(list(OUTPUT_NAMES), {k: v for k, v in feed.items() if k in names})
        for name, r, o in zip(OUTPUT_NAMES, ref, got, strict=True):
            if tuple(o.shape) != tuple(r.shape):
                raise ValueError(
                    f"ONNX output {name} has shape {o.shape}, PyTorch {tuple(r.shape)} (batch {b})"
                )
            if name == "visibility":
                if not (torch.from_numpy(o).bool() == r).all():
                    raise ValueError(f"ONNX visibility flags differ from PyTorch at batch {b}")
            else:
                worst = max(worst, float((torch.from_numpy(o) - r).abs().max()) if r.numel() else 0.0)
    return worst

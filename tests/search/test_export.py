"""ONNX export of the student branch, checked with onnxruntime against PyTorch."""

from __future__ import annotations

import onnx
import onnxruntime as ort
import pytest
import torch

from ogfr.export import example_inputs, export_onnx, verify_onnx


def test_onnx_parity_and_dynamic_batch(tiny_model, tmp_path):
    path = export_onnx(tiny_model, tmp_path / "model.onnx")
    graph = onnx.load(str(path)).graph
    assert [i.name for i in graph.input] == ["img", "z", "camid"]
    assert [o.name for o in graph.output] == ["global", "parts", "visibility"]
    assert all(i.type.tensor_type.shape.dim[0].dim_param == "batch" for i in graph.input)
    assert verify_onnx(tiny_model, path, batch_sizes=(1, 3)) < 1e-4
    # A batch size never seen at export time, and the visibility flags of eq. 24 equal PyTorch's.
    img, z, camid = example_inputs(tiny_model, batch=5, seed=11)
    glob, parts, vis = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(
        None, {"img": img.numpy(), "z": z.numpy(), "camid": camid.numpy()}
    )
    with torch.no_grad():
        ref = tiny_model(img, z, camid)
    assert glob.shape == (5, 64) and parts.shape == (5, 8, 64) and vis.dtype == bool
    assert float(abs(torch.from_numpy(parts) - ref["parts"]).max()) < 1e-4
    assert torch.equal(torch.from_numpy(vis), ref["visibility"])


def test_export_bad_out(tiny_model, tmp_path):
    with pytest.raises(ValueError, match="is a folder"):
        export_onnx(tiny_model, tmp_path)


def test_baseline_without_parts_exports_and_searches(tmp_path):
    import numpy as np
    from PIL import Image
    from search_helpers import write_checkpoint

    from ogfr.engine.config import preset_model
    from ogfr.metrics import top_k
    from ogfr.model import OGFR
    from ogfr.search.embed import Embedder

    torch.manual_seed(0)
    model = OGFR(preset_model("tiny", oavit=False, kd=False, fep="none"), num_classes=5, num_cameras=2).eval()
    path = export_onnx(model, tmp_path / "baseline.onnx")
    assert [i.name for i in onnx.load(str(path)).graph.input] == ["img", "camid"]  # z is unused: dropped
    assert verify_onnx(model, path) < 1e-4
    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (64, 32, 3), dtype=np.uint8)) for _ in range(3)]
    emb = Embedder(model, occlusion="visible").embed(images)
    top = top_k(emb, emb, 3)  # K = 0: eq. 25 reduces to D(global)
    assert emb.parts.shape == (3, 0, 64) and top.index[:, 0].tolist() == [0, 1, 2]
    assert torch.allclose(
        top.distance[0, 1:], torch.cdist(emb.global_[:1], emb.global_)[0].sort().values[1:], atol=1e-4
    )
    # Loaded from a checkpoint, the identity says K = 0 (it said the config's K = 8 before).
    loaded = Embedder.from_checkpoint(write_checkpoint(tmp_path / "base.pt", model), occlusion="visible")
    assert loaded.identity.layout.num_parts == 0
    assert torch.equal(loaded.embed(images).global_, emb.global_)

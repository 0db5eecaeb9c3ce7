"""`ogfr export`: the student branch (global + part features + visibility) as ONNX, checked with onnxruntime."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", required=True, help="trained OGFR checkpoint")
    parser.add_argument("--out", required=True, help="ONNX file to write, e.g. model.onnx")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")
    parser.add_argument("--no-verify", action="store_true", help="skip the onnxruntime vs PyTorch check")


def run(args: argparse.Namespace) -> int:
    from ogfr.engine.checkpoint import load_for_inference
    from ogfr.export import export_onnx, verify_onnx
    from ogfr.parsing.codes import CodeSettings

    model, _cfg, meta = load_for_inference(args.checkpoint)
    codes = CodeSettings.from_dict(meta["occlusion_code"])
    path = export_onnx(model, args.out, opset=args.opset, codes=codes)
    print(
        f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB): inputs img (B,3,H,W) float32, z (B,C) int64, "
        "camid (B,) int64; outputs global (B,D), parts (B,K,D), visibility (B,K) bool; z is eq. 2 with "
        f"C = {codes.num_coarse}, lambda = {codes.lam:g} at the label size {codes.label_size} (in the metadata)"
    )
    if not args.no_verify:
        diff = verify_onnx(model, path)
        print(f"onnxruntime vs PyTorch: max abs difference {diff:.2e} (batch 1 and 3)")
        if diff >= 1e-4:
            print("warning: difference above 1e-4")
            return 1
    return 0

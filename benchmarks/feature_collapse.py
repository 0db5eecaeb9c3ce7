"""Does the student's feature collapse to one direction, where, and does it matter? (issue 12, item 4)

For a trained checkpoint, on the query + gallery images of its data set (eval mode):

1. the share of the batch-mean vector in the feature energy, ``||mean_i f_i||^2 / mean_i ||f_i||^2``
   (1 = every feature is the same vector, ~0 = centred), and the mean cosine of the L2-normalised
   features to their mean direction, at five stages: the backbone's class token before / after its final
   LayerNorm, the student head's global token before / after its final LayerNorm (= the pre-BN feature
   retrieval uses today) and after the BNNeck's BatchNorm (running statistics, as TransReID's
   ``TEST.NECK_FEAT: after`` / fast-reid / BoT use it);
2. how much of the mean comes from the final LayerNorm's bias beta (cosine of the two, their norms);
3. Rank-1 / mAP of query vs gallery with the pre-BN feature (today), the post-BN feature, and the pre-BN
   feature minus the BN running mean (centring alone), each with eq. 25's parts and global only;
4. on a few training batches, L_cos (eq. 18) and L_mse (eq. 17) as trained, next to the same terms on
   features with the batch mean removed (how much of the KD signal the shared offset hides).

    python benchmarks/feature_collapse.py --checkpoint RUN/best.pt [--batches 4] [--out collapse.json]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
import torch.nn.functional as F


def mean_share(x: torch.Tensor) -> float:
    """||mean of the rows||^2 / mean of the rows' squared norms (the energy in the shared vector)."""
    x = x.double()
    return float(x.mean(0).pow(2).sum() / x.pow(2).sum(1).mean())


def mean_cosine(x: torch.Tensor) -> float:
    """Mean cosine of the L2-normalised rows to their mean direction."""
    u = F.normalize(x.double(), dim=1)
    return float((u @ F.normalize(u.mean(0), dim=0)).mean())


def _stages(model, img, z, camid) -> dict[str, torch.Tensor]:
    """Token tensors (B, T, D) at the five stages for a batch (eval mode, no grad)."""
    seen: dict[str, torch.Tensor] = {}
    hooks = [model.backbone.norm.register_forward_hook(lambda m, a, o: seen.update(bb_in=a[0], bb_out=o))]
    if (
        model.student.head is not None
    ):  # the single-branch baseline has no head: its feature is the backbone's
        hooks.append(
            model.student.head.decoder.norm.register_forward_hook(
                lambda m, a, o: seen.update(head_in=a[0], head_out=o)
            )
        )
    try:
        model(img, z, camid)
    finally:
        for h in hooks:
            h.remove()
    seen.setdefault("head_in", seen["bb_in"])
    seen.setdefault("head_out", seen["bb_out"])
    return seen


def _bn(neck, x: torch.Tensor) -> torch.Tensor:
    return neck.bn(x)  # eval mode: running statistics


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--batches", type=int, default=4, help="training batches for the KD-loss check")
    p.add_argument("--out", help="write the numbers as JSON")
    args = p.parse_args()

    from ogfr.data import EvalTransform, ReIDDataset
    from ogfr.engine.build import code_settings, ensure_labels, load_data
    from ogfr.engine.checkpoint import load_for_inference
    from ogfr.engine.evaluate import evaluate_features
    from ogfr.metrics import Features

    torch.manual_seed(0)
    model, cfg, _ = load_for_inference(args.checkpoint)
    k = model.num_parts
    data = load_data(cfg)
    labels = ensure_labels(cfg, data.root, [*data.train, *data.query, *data.gallery], data.name)
    transform = EvalTransform(size=cfg.model.image_size, label_size=cfg.model.label_size)
    codes = code_settings(cfg)

    feats: dict[str, dict[str, list[torch.Tensor]]] = {}
    meta: dict[str, dict[str, list[torch.Tensor]]] = {}
    for split, samples in (("query", data.query), ("gallery", data.gallery)):
        loader = torch.utils.data.DataLoader(ReIDDataset(samples, transform, labels=labels), batch_size=128)
        f: dict[str, list[torch.Tensor]] = {}
        m: dict[str, list[torch.Tensor]] = {"pids": [], "camids": [], "visibility": []}
        with torch.no_grad():
            for b in loader:
                z = codes.code(b["labels"])
                s = _stages(model, b["img"], z, b["camid"])
                out = model(b["img"], z, b["camid"])
                tokens = s["head_out"][:, : 1 + k]  # global and part features, as forward returns them
                bn = torch.stack([_bn(n, tokens[:, i]) for i, n in enumerate(model.student.necks.necks)], 1)
                for name, x in (
                    ("backbone_pre_ln", s["bb_in"][:, 0]),
                    ("backbone", s["bb_out"][:, 0]),
                    ("head_pre_ln", s["head_in"][:, 0]),
                    ("pre_bn", tokens),
                    ("post_bn", bn),
                ):
                    f.setdefault(name, []).append(x)
                m["pids"].append(b["pid"])
                m["camids"].append(b["camid"])
                m["visibility"].append(out["visibility"])
        feats[split] = f
        meta[split] = m
    cat = {s: {n: torch.cat(v) for n, v in f.items()} for s, f in feats.items()}
    both = {n: torch.cat([cat["query"][n], cat["gallery"][n]]) for n in cat["query"]}
    report: dict = {"checkpoint": args.checkpoint, "images": len(both["backbone"]), "stages": {}}
    for name, x in both.items():
        g = x if x.ndim == 2 else x[:, 0]
        report["stages"][name] = {"mean_share": mean_share(g), "mean_cosine": mean_cosine(g)}
    ln = model.backbone.norm if model.student.head is None else model.student.head.decoder.norm
    mu = both["pre_bn"][:, 0].double().mean(0)
    report["final_ln"] = {
        "beta_norm": float(ln.bias.detach().norm()),
        "gamma_norm": float(ln.weight.detach().norm()),
        "mean_norm": float(mu.norm()),
        "cos_mean_beta": float(F.cosine_similarity(mu, ln.bias.detach().double(), dim=0)),
        "share_of_mean_explained_by_beta": float((mu @ ln.bias.detach().double()) / mu.pow(2).sum()),
    }
    running_mean = torch.stack([n.bn.running_mean for n in model.student.necks.necks])  # (1+K, D)
    variants = {
        "pre_bn (today)": lambda s: cat[s]["pre_bn"],
        "post_bn": lambda s: cat[s]["post_bn"],
        "pre_bn - BN running mean": lambda s: cat[s]["pre_bn"] - running_mean,
    }
    report["retrieval"] = {}
    for name, get in variants.items():
        for use_parts in (True, False):
            split = {}
            for s in ("query", "gallery"):
                x = F.normalize(get(s).float(), dim=-1)
                split[s] = Features(
                    x[:, 0],
                    x[:, 1:] if k else None,
                    torch.cat(meta[s]["visibility"]) if k else None,
                    pids=torch.cat(meta[s]["pids"]).long(),
                    camids=torch.cat(meta[s]["camids"]).long(),
                    name=s,
                )
            r = evaluate_features(split["query"], split["gallery"], use_parts=use_parts).as_dict()
            key = f"{name}, {'global + parts (eq. 25)' if use_parts else 'global only'}"
            report["retrieval"][key] = {"rank1": float(r["rank1"]), "mAP": float(r["mAP"])}
    report["kd"] = _kd_check(model, cfg, args.batches)
    text = json.dumps(report, indent=1)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


def _kd_check(model, cfg, batches: int) -> dict:
    """L_cos / L_mse on training batches as trained and with each feature's batch mean removed."""
    from ogfr.engine.dist import DistInfo
    from ogfr.engine.train import _Trainer

    if not cfg.model.kd:
        return {}
    trainer = _Trainer(cfg, Path("/nonexistent"), DistInfo(), progress=False)
    trainer._setup()
    trainer.model.load_state_dict(model.state_dict())
    trainer.model.train()
    rows = []
    with torch.no_grad():
        for i, raw in enumerate(trainer._loader(0, 0)):
            if i == batches:
                break
            out = trainer.model.forward_train(trainer._model_batch(raw))
            hp, op = out.f_hp.features, out.f_op.features  # (B, 1+K, D)
            centred = (hp - hp.mean(0)), (op - op.mean(0))
            rows.append(
                {
                    "L_cos": float((1 - F.cosine_similarity(op, hp, dim=-1)).mean()),
                    "L_cos_centred": float((1 - F.cosine_similarity(*centred[::-1], dim=-1)).mean()),
                    "L_mse": float(F.mse_loss(out.f_op.tokens, out.f_hp.tokens)),
                    "mse_of_means": float(F.mse_loss(op.mean(0), hp.mean(0))),
                    "share_hp": mean_share(hp[:, 0]),
                    "share_op": mean_share(op[:, 0]),
                    "cos_between_images_hp": float(
                        (F.normalize(hp[:, 0], dim=1) @ F.normalize(hp[:, 0], dim=1).t()).mean()
                    ),
                }
            )
    return {k: sum(r[k] for r in rows) / len(rows) for k in rows[0]}


if __name__ == "__main__":
    main()

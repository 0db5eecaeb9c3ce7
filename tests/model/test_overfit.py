"""The smallest proof that all parts learn together: a tiny OGFR overfits 8 identities of the synthetic set."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from ogfr.data import load_dataset
from ogfr.engine.config import preset_model
from ogfr.losses import LossConfig, OGFRCriterion
from ogfr.model import OGFR, OGFRConfig
from ogfr.parsing import occlusion_code


def _load(root, cfg: OGFRConfig, num_ids: int = 8) -> dict[str, torch.Tensor]:
    """Images, part labels and occluded copies of the first `num_ids` identities (train, then test ids)."""
    data = load_dataset("synthetic", root)
    samples = list(data.train) + [s for s in data.gallery if s.pid > 0]
    ids: dict[tuple[str, int], int] = {}
    imgs, labels, pids, cams = [], [], [], []
    for s in samples:
        key = (s.split, s.pid)
        if key not in ids:
            if len(ids) == num_ids:
                continue
            ids[key] = len(ids)
        img = Image.open(s.path).convert("RGB").resize(cfg.image_size[::-1], Image.BILINEAR)
        lab = Image.open(root / "labels" / s.path.parent.name / f"{s.path.stem}.png")
        lab = lab.resize(cfg.label_size[::-1], Image.NEAREST)
        imgs.append(torch.from_numpy(np.asarray(img, dtype=np.float32) / 127.5 - 1.0).permute(2, 0, 1))
        labels.append(torch.from_numpy(np.asarray(lab, dtype=np.int64)))
        pids.append(ids[key])
        cams.append(s.camid)
    img_h, labels_h = torch.stack(imgs), torch.stack(labels)
    # occluded view: a grey box over the lower (even images) or upper (odd) 40 % of the picture
    img_o, labels_o = img_h.clone(), labels_h.clone()
    h, lh = cfg.image_size[0], cfg.label_size[0]
    for i in range(len(img_o)):
        rows = slice(int(0.6 * h), h) if i % 2 == 0 else slice(0, int(0.4 * h))
        lrows = slice(int(0.6 * lh), lh) if i % 2 == 0 else slice(0, int(0.4 * lh))
        img_o[i, :, rows] = 0.0
        labels_o[i, lrows] = 0
    return {
        "img_h": img_h,
        "img_o": img_o,
        "labels_h": labels_h,
        "labels_o": labels_o,
        "z_h": occlusion_code(labels_h, cfg.num_coarse, 5.0),
        "z_o": occlusion_code(labels_o, cfg.num_coarse, 5.0),
        "pid": torch.tensor(pids),
        "camid": torch.tensor(cams),
    }


def _rank1(model: OGFR, batch: dict[str, torch.Tensor]) -> float:
    model.eval()
    with torch.no_grad():
        feats = F.normalize(model(batch["img_o"], batch["z_o"], batch["camid"])["global"], dim=1)
    model.train()
    dist = torch.cdist(feats, feats)
    dist.fill_diagonal_(float("inf"))
    return (batch["pid"][dist.argmin(dim=1)] == batch["pid"]).float().mean().item()


def test_tiny_ogfr_overfits_eight_identities(synth_root) -> None:
    torch.manual_seed(0)
    cfg = preset_model("tiny")
    batch = _load(synth_root, cfg)
    assert int(batch["pid"].max()) + 1 == 8 and len(batch["pid"]) >= 32
    model = OGFR(cfg, num_classes=8, num_cameras=int(batch["camid"].max()) + 1)
    crit = OGFRCriterion(LossConfig(), cfg)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    rank1_before = _rank1(model, batch)
    losses = []
    for _ in range(40):
        out = crit(model.forward_train(batch), batch)
        opt.zero_grad(set_to_none=True)
        out["total"].backward()
        opt.step()
        losses.append((out["total"] - out["reinforce"]).item())  # eq. 23 (+ teacher ID): the supervised part
    first, last = np.mean(losses[:3]), np.mean(losses[-3:])
    assert last < 0.5 * first, (first, last)
    rank1_after = _rank1(model, batch)
    assert rank1_after > rank1_before and rank1_after >= 0.8, (rank1_before, rank1_after)

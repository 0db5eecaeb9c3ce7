"""The training loop: P x K batches, holistic + occluded views, OGFR losses, eval, checkpoints, resume.

``train(cfg, out_dir)`` writes into ``out_dir``: ``config.yaml`` (resolved), ``last.pt`` (resumable:
model, optimizer, REINFORCE baseline, RNG states, position in the epoch and the epoch's running loss
sums), ``best.pt`` (best mAP), ``metrics.jsonl`` (one row per epoch) and ``curves.png``.
``train(cfg, out_dir, resume=True)`` continues from ``last.pt`` and ends with the same number of optimizer
steps as an uninterrupted run (bit-identical weights and logged epoch means with ``data.num_workers=0`` on
CPU). A NaN / Inf loss term, agent keep probability or gradient stops the run with `TrainingDiverged`
before that step is applied. Under torchrun every rank trains its share of each batch list; only rank 0
evaluates and writes.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ogfr.engine import dist
from ogfr.engine.build import build_model, code_settings, ensure_labels, load_data
from ogfr.engine.checkpoint import capture_rng, load_checkpoint, load_weights, restore_rng, save_checkpoint
from ogfr.engine.config import Config, save_config, to_dict
from ogfr.engine.diagnostics import PROBE_IMAGES, HolisticProbe, agent_step_stats, agent_weights
from ogfr.engine.evaluate import evaluate_model, left_out
from ogfr.engine.features import CachedLabels, FeatureExtractor
from ogfr.engine.jsonl import read_rows, write_rows
from ogfr.engine.schedule import build_optimizer, lr_factor, set_lr, set_stem_frozen
from ogfr.io import check_can_create, make_dirs
from ogfr.metrics import Features
from ogfr.model.fep import NonFiniteError
from ogfr.parsing.codes import CodeSettings

log = logging.getLogger(__name__)

__all__ = ["TIMING_KEYS", "TrainResult", "TrainStep", "TrainingDiverged", "train"]

# metrics.jsonl columns that are wall-clock timings (differ between identical runs; everything else repeats)
TIMING_KEYS = ("images_per_s", "epoch_time_s", "data_time_s")


class TrainingDiverged(RuntimeError):
    """A loss term, the agent's keep probabilities or the gradient became NaN or Inf; no checkpoint was
    written for that step."""


@dataclass
class TrainResult:
    """What a finished run leaves behind (rank 0 holds the evaluation numbers)."""

    run_dir: Path
    epochs: int
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, float] = field(default_factory=dict)  # last evaluation: rank1, rank5, rank10, mAP, mINP
    best: dict[str, Any] = field(default_factory=dict)
    model: nn.Module | None = None
    query_features: Features | None = None  # of the last evaluation (rank 0)
    gallery_features: Features | None = None
    codes: CodeSettings | None = None  # how the model's z was made (stored in its checkpoints)


class TrainStep(nn.Module):
    """``forward(batch) = model.forward_train(batch)``, so DDP and torch.compile see the training graph."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor], agent: bool = True) -> Any:
        return self.model.forward_train(batch, agent=agent)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def train(
    cfg: Config,
    out_dir: str | Path,
    *,
    resume: bool = False,
    on_step: Callable[[int, dict[str, float]], None] | None = None,
    progress: bool = True,
) -> TrainResult:
    """Train OGFR as ``cfg`` says, writing into ``out_dir`` (see the module docstring)."""
    info = dist.init_distributed(cfg.train.device)
    try:
        return _Trainer(cfg, Path(out_dir), info, progress).run(resume, on_step)
    finally:
        dist.cleanup(info)


class _Trainer:
    def __init__(self, cfg: Config, run_dir: Path, info: dist.DistInfo, progress: bool) -> None:
        self.cfg, self.run_dir, self.info, self.progress = cfg, run_dir, info, progress and info.is_main
        self.device = info.device
        if cfg.train.amp != "none" and self.device.type != "cuda":
            log.warning("train.amp=%s needs CUDA; training in float32 on %s", cfg.train.amp, self.device)

    # ------------------------------------------------------------------ setup
    def _setup(self) -> None:
        from ogfr.data import ObstacleBank, OcclusionAugment, PKSampler, ReIDDataset, TrainTransform
        from ogfr.data.truth import SceneLabels, has_scene_labels
        from ogfr.losses import OGFRCriterion

        cfg, info = self.cfg, self.info
        seed_everything(cfg.train.seed)
        self.data = load_data(cfg)
        if not self.data.train:
            raise ValueError(f"{cfg.data.name} at {self.data.root}: no training images")
        self.test_data = load_data(cfg, test=True) if cfg.data.test_name else self.data
        self.labels = self._labels(self.data)
        self.test_labels = self._labels(self.test_data) if self.test_data is not self.data else self.labels
        transform = TrainTransform(
            size=cfg.model.image_size,
            flip_p=cfg.data.flip_p,
            pad=cfg.data.pad,
            label_size=cfg.model.label_size,
        )
        bank = ObstacleBank.from_samples(
            self.data.train, num_patches=cfg.data.obstacle_bank, seed=cfg.train.seed
        )
        occlusion = OcclusionAugment(bank, p=cfg.data.occlusion_p, area=cfg.data.occlusion_area)
        scene = SceneLabels() if has_scene_labels(self.data.root) else None  # ground truth for the agent
        self.dataset = ReIDDataset(
            self.data.train,
            transform,
            labels=self.labels,
            occlusion=occlusion,
            cache_images=cfg.data.cache_images,
            scene=scene,
        )
        if cfg.data.cache_images:
            self.dataset.preload(progress=self.progress)  # once, before any worker forks
        self.sampler = PKSampler(
            [s.pid for s in self.data.train],
            cfg.data.p,
            cfg.data.k,
            cfg.train.seed,
            info.rank,
            info.world_size,
        )
        self.per_epoch = cfg.train.steps_per_epoch or self.sampler.batches_per_rank
        num_cameras = max(self.data.num_cameras, self.test_data.num_cameras)
        self.model = build_model(cfg, self.data.num_train_pids, num_cameras).to(self.device)
        self.codes = code_settings(cfg)
        self.meta_base = {
            "num_classes": self.data.num_train_pids,
            "num_cameras": num_cameras,
            "occlusion_code": self.codes.as_dict(),
        }
        self.criterion = OGFRCriterion(cfg.loss, cfg.model)
        if isinstance(self.criterion, nn.Module):
            self.criterion.to(self.device)
        self.probe = self._holistic_probe()
        self.optimizer = build_optimizer(self.model, cfg.optim)
        fp16 = cfg.train.amp == "fp16" and self.device.type == "cuda"
        self.scaler = torch.amp.GradScaler("cuda", enabled=fp16)
        step_module: nn.Module = TrainStep(self.model)
        if info.distributed:
            step_module = nn.parallel.DistributedDataParallel(
                step_module,
                device_ids=[self.device.index] if self.device.type == "cuda" else None,
                find_unused_parameters=cfg.train.find_unused_parameters,
            )
        if cfg.train.compile:
            step_module = torch.compile(step_module)
        self.step_module = step_module

    def _holistic_probe(self) -> HolisticProbe | None:
        """The fixed holistic test images the agent is scored on (rank 0, with an agent and scene labels)."""
        from ogfr.data import EvalTransform, ReIDDataset
        from ogfr.data.truth import SceneLabels, has_scene_labels

        has_agent = any(b.fep is not None and b.fep.agent is not None for b in self._branches())
        if not (self.info.is_main and has_agent and has_scene_labels(self.test_data.root)):
            return None
        cfg = self.cfg
        samples = SceneLabels.holistic(self.test_data.gallery, PROBE_IMAGES)
        transform = EvalTransform(size=cfg.model.image_size, label_size=cfg.model.label_size)
        ds = ReIDDataset(samples, transform, labels=self.test_labels, scene=SceneLabels())
        items = [ds[i] for i in range(len(ds))]
        if not items:
            return None
        labels = torch.stack([it["labels"] for it in items])
        return HolisticProbe.from_items(items, self.codes.code(labels))

    def _branches(self) -> list[nn.Module]:
        return [b for b in (getattr(self.model, "teacher", None), self.model.student) if b is not None]

    def _labels(self, data):
        all_samples = [*data.train, *data.query, *data.gallery]
        if self.info.is_main:
            cache = ensure_labels(self.cfg, data.root, all_samples, data.name, is_main=True)
        dist.barrier(self.info)
        if not self.info.is_main:
            cache = ensure_labels(self.cfg, data.root, all_samples, data.name, is_main=False)
        return cache

    # ------------------------------------------------------------------ checkpoints
    def _state(
        self, epoch: int, batch_in_epoch: int, step: int, full: bool, running: dict[str, Any] | None
    ) -> dict[str, Any]:
        meta = {
            **self.meta_base,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "step": step,
            "best": dict(self.best),
            "metrics": dict(self.final),
            "world_size": self.info.world_size,
            "torch": str(torch.__version__),
        }
        if running is not None:  # mid-epoch: the epoch's loss sums so far (a resume logs whole-epoch means)
            meta["running"] = running
        state: dict[str, Any] = {"model": self.model.state_dict(), "config": to_dict(self.cfg), "meta": meta}
        if full:
            state["optimizer"] = self.optimizer.state_dict()
            state["criterion"] = self.criterion.state_dict()
            state["scaler"] = self.scaler.state_dict()
            state["rng"] = capture_rng()
        return state

    def _save(
        self,
        name: str,
        epoch: int,
        batch_in_epoch: int,
        step: int,
        full: bool = True,
        running: dict[str, Any] | None = None,
    ) -> None:
        if self.info.is_main:
            save_checkpoint(self.run_dir / name, self._state(epoch, batch_in_epoch, step, full, running))

    def _resume(self) -> tuple[int, int, int, dict[str, Any] | None]:
        path = self.run_dir / "last.pt"
        ckpt = load_checkpoint(path, map_location=self.device)
        for key in ("optimizer", "criterion", "rng"):
            if key not in ckpt:
                raise ValueError(f"{path}: has no {key!r} state; only last.pt checkpoints can be resumed")
        saved = ckpt["config"].get("model", {}) if isinstance(ckpt["config"], dict) else {}
        changed = [
            f"model.{k}={v!r} where the checkpoint has {saved[k]!r}"
            for k, v in to_dict(self.cfg.model).items()
            if k in saved and saved[k] != v
        ]
        load_weights(
            self.model,
            ckpt["model"],
            f"{path}: its weights do not fit the model configured now"
            + (f" ({', '.join(changed)})" if changed else ""),
        )
        try:
            self.optimizer.load_state_dict(ckpt["optimizer"])
            self.criterion.load_state_dict(ckpt["criterion"])
            self.scaler.load_state_dict(ckpt["scaler"])
        except (KeyError, RuntimeError, ValueError) as err:
            raise ValueError(f"{path}: its training state does not fit this run ({err})") from err
        meta = ckpt["meta"]
        self.best, self.final = dict(meta.get("best", {})), dict(meta.get("metrics", {}))
        restore_rng(ckpt["rng"])
        if self.info.rank > 0:  # ranks draw different augmentations
            torch.manual_seed(self.cfg.train.seed * 7919 + self.info.rank * 104729 + int(meta["step"]))
        log.info(
            "resuming %s at epoch %d, batch %d (step %d)",
            path,
            meta["epoch"],
            meta["batch_in_epoch"],
            meta["step"],
        )
        running = meta.get("running")
        if running is None and int(meta["batch_in_epoch"]) > 0:
            log.warning("%s has no running loss sums: epoch %d's logged means cover the resumed steps only",
                        path, int(meta["epoch"]) + 1)  # fmt: skip
        return int(meta["epoch"]), int(meta["batch_in_epoch"]), int(meta["step"]), running

    def _init_from(self, path: Path) -> None:
        """Model weights of a previous run (a checkpoint, or a run folder's last.pt); its optimizer, p^b and
        RNG are not used. Parameters the source does not have (e.g. an agent) keep their initial values."""
        if path.is_dir():
            path = path / "last.pt"
        if not path.is_file():
            raise FileNotFoundError(
                f"train.init_from: checkpoint not found: {path} (a checkpoint or a run folder)"
            )
        ckpt = load_checkpoint(path, map_location=self.device)
        state, own = ckpt.get("model", {}), self.model.state_dict()
        wrong = [
            f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
            for k, v in state.items()
            if k in own and v.shape != own[k].shape
        ]
        if wrong:
            raise ValueError(
                f"train.init_from={path}: weights of another shape (checkpoint vs model): {wrong[:4]}; "
                "the model settings or the number of training identities differ"
            )
        missing, unexpected = self.model.load_state_dict(state, strict=False)
        if not state or len(missing) == len(own):
            raise ValueError(f"train.init_from={path}: no weights of this model in the checkpoint")
        log.info(
            "initialised from %s (%d tensors; kept the initial values of %d: %s; ignored %d)",
            path, len(state) - len(unexpected), len(missing), ", ".join(missing[:4]), len(unexpected),
        )  # fmt: skip

    # ------------------------------------------------------------------ loop
    def run(self, resume: bool, on_step: Callable[[int, dict[str, float]], None] | None) -> TrainResult:
        cfg, info = self.cfg, self.info
        self.best: dict[str, Any] = {}
        self.final: dict[str, float] = {}
        self.last_features: tuple[Any, Any] = (None, None)
        self.unreadable: set[int] = set()  # indices of training images found unreadable (this process)
        if info.is_main:  # before the (long) setup: a file where the run folder should be
            check_can_create(self.run_dir, f"run folder {self.run_dir}")
        self._setup()
        start_epoch, skip, step, running = 0, 0, 0, None
        history: list[dict[str, Any]] = []
        if resume:
            start_epoch, skip, step, running = self._resume()
            history = [
                r for r in read_rows(self.run_dir / "metrics.jsonl") if r.get("epoch", 0) <= start_epoch
            ]
        elif info.is_main and (self.run_dir / "last.pt").exists():
            raise ValueError(f"{self.run_dir} already holds a run (last.pt); use --resume or another --out")
        elif cfg.train.init_from:  # a resumed run has its own weights in last.pt
            self._init_from(Path(cfg.train.init_from))
        if info.is_main:
            make_dirs(self.run_dir)
            save_config(cfg, self.run_dir / "config.yaml")
        if info.rank > 0 and not resume:  # same initial weights everywhere, different augmentations
            torch.manual_seed(cfg.train.seed * 7919 + info.rank * 104729)
        # the untrained agent's score: what its random G makes of the state I before any reward (a control)
        init_auc = (
            self.probe.noise_auc(self.model, self.device) if self.probe is not None and step == 0 else None
        )
        for epoch in range(start_epoch, cfg.train.epochs):
            first = skip if epoch == start_epoch else 0
            row, step = self._epoch(epoch, first, step, on_step, running if first else None)
            last_epoch = epoch + 1 == cfg.train.epochs
            every = cfg.train.eval_every
            if last_epoch or (every and (epoch + 1) % every == 0):
                row.update(self._evaluate(epoch + 1, step))
            row.update(agent_weights(self.model))
            if self.probe is not None:
                row["stat_noise_auc_holistic"] = self.probe.noise_auc(self.model, self.device)
                if init_auc is not None and epoch == 0:
                    row["stat_noise_auc_holistic_init"] = init_auc
            if info.is_main:
                history.append(row)
                write_rows(self.run_dir / "metrics.jsonl", history)
                self._save("last.pt", epoch + 1, 0, step)
                self._curves(history)
            dist.barrier(info)
        q, g = self.last_features
        return TrainResult(
            self.run_dir, cfg.train.epochs, step, history, self.final, self.best, self.model, q, g, self.codes
        )

    def _epoch_batches(self, epoch: int) -> np.ndarray:
        """This rank's ``(per_epoch, P*K)`` batches of ``epoch``: a pure function of (seed, epoch, rank)."""
        per_pass = self.sampler.batches_per_rank
        start = epoch * self.per_epoch  # global batch counter of this rank
        passes = range(start // per_pass, (start + self.per_epoch - 1) // per_pass + 1)
        batches = np.concatenate([self.sampler.rank_batches(e) for e in passes])  # (n_pass * per_pass, P*K)
        offset = start - passes[0] * per_pass
        return batches[offset : offset + self.per_epoch]

    def _loader(self, epoch: int, first: int):
        cfg = self.cfg
        indices = self._epoch_batches(epoch)[first:].reshape(-1).tolist()
        gen = torch.Generator().manual_seed(cfg.train.seed * 1_000_003 + epoch * 7 + self.info.rank)
        return torch.utils.data.DataLoader(
            self.dataset,
            batch_size=self.sampler.batch_size,
            sampler=indices,
            num_workers=cfg.data.num_workers,
            drop_last=True,
            generator=gen,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )

    def _model_batch(self, b: dict[str, Any]) -> dict[str, torch.Tensor]:
        dev = self.device
        scene = {k: b[src].to(dev) for k, src in (("scene_h", "scene"), ("scene_o", "scene_o")) if src in b}
        return {
            **scene,  # ground-truth scene labels (synthetic data), only for the agent's diagnostics
            "img_h": b["img"].to(dev, non_blocking=True),
            "img_o": b["img_o"].to(dev, non_blocking=True),
            "labels_h": b["labels"].to(dev),
            "labels_o": b["labels_o"].to(dev),
            "z_h": self.codes.code(b["labels"]).to(dev),  # eq. 2, holistic view
            "z_o": self.codes.code(b["labels_o"]).to(dev),  # eq. 2, occluded view
            "camid": b["camid"].to(dev),
            "pid": b["pid"].to(dev),
        }

    def _epoch(
        self, epoch: int, first: int, step: int, on_step, running: dict[str, Any] | None = None
    ) -> tuple[dict[str, Any], int]:
        """Train batches ``first..`` of ``epoch``; ``running``: the epoch's sums before a resume."""
        from ogfr.engine.progress import epoch_progress

        cfg, info = self.cfg, self.info
        frozen = set_stem_frozen(self.model, cfg.optim, epoch)
        if frozen:
            log.info(
                "epoch %d: %d pretrained stem stages fixed (optim.stem_freeze_epochs / stem_frozen_stages)",
                epoch + 1,
                frozen,
            )
        self.step_module.train()
        running = running or {}
        sums: dict[str, float] = dict(running.get("sums", {}))
        # a statistic may be missing in some steps (e.g. an undefined AUC): each is averaged over its own steps
        counts: dict[str, int] = dict(running.get("counts", {}))
        n, images = int(running.get("n", 0)), int(running.get("images", 0))
        before, fresh, t0 = float(running.get("elapsed_s", 0.0)), 0, time.perf_counter()
        lr, waited = 0.0, 0.0  # waited: seconds this process spent waiting for the loader
        todo = self.per_epoch - first
        with epoch_progress(epoch + 1, cfg.train.epochs, todo, enabled=self.progress) as bar:
            asked = time.perf_counter()
            for i, raw in enumerate(self._loader(epoch, first)):
                waited += time.perf_counter() - asked
                b_idx = first + i
                lr = set_lr(
                    self.optimizer, lr_factor(cfg.optim, epoch + b_idx / self.per_epoch, cfg.train.epochs)
                )
                self.unreadable.update(raw["index"][raw["substituted"]].tolist())
                batch = self._model_batch(raw)
                losses = self._step(batch, step, epoch, b_idx)
                step += 1
                n += 1
                images += len(batch["pid"])
                fresh += len(batch["pid"])
                for key, value in losses.items():
                    sums[key] = sums.get(key, 0.0) + value
                    counts[key] = counts.get(key, 0) + 1
                rate = fresh * info.world_size / max(time.perf_counter() - t0, 1e-9)
                bar.advance(loss=losses["total"], lr=lr, rate=rate)
                if (
                    cfg.train.checkpoint_every
                    and step % cfg.train.checkpoint_every == 0
                    and b_idx + 1 < self.per_epoch
                ):
                    # sums averaged over ranks (every rank runs as many batches), so each resumes with them
                    running = {
                        "sums": dist.all_reduce_mean(sums, info),
                        "counts": counts,
                        "n": n,
                        "images": images,
                        "elapsed_s": before + time.perf_counter() - t0,
                    }
                    self._save("last.pt", epoch, b_idx + 1, step, running=running)
                if on_step is not None:
                    on_step(step, {**losses, "lr": lr, "epoch": epoch})
                asked = time.perf_counter()
        self.criterion.end_epoch(epoch)
        elapsed = before + time.perf_counter() - t0
        means = dist.all_reduce_mean({k: v / counts[k] for k, v in sums.items()}, info)
        row = {"epoch": epoch + 1, "step": step, "lr": lr, **means}
        row["images_per_s"] = images * info.world_size / max(elapsed, 1e-9)
        row["epoch_time_s"] = elapsed
        if self.unreadable:  # distinct training images replaced by another of their identity, so far
            row["unreadable_images"] = len(self.unreadable)
            log.warning(
                "%d training image(s) unreadable so far, each replaced by another image of its identity",
                len(self.unreadable),
            )
        row["data_time_s"] = waited  # of epoch_time_s: waiting for batches (decode, augment, labels)
        return row, step

    def _step(self, batch: dict[str, torch.Tensor], step: int, epoch: int, b_idx: int) -> dict[str, float]:
        cfg = self.cfg
        where = f"step {step + 1} (epoch {epoch + 1}, batch {b_idx + 1})"
        try:
            values: dict[str, float] = {}
            bad = None
            with self._autocast():
                try:
                    out = self.step_module(batch, agent=epoch >= cfg.train.agent_start_epoch)
                    losses = self.criterion(out, batch)
                except NonFiniteError as err:  # e.g. NaN agent logits, before any loss exists
                    bad = str(err)
                else:
                    values = {
                        k: float(v.detach().float()) if torch.is_tensor(v) else float(v)
                        for k, v in losses.items()
                    }
                    term = next(
                        (k for k, v in values.items() if not k.startswith("stat_") and not math.isfinite(v)),
                        None,
                    )
                    bad = None if term is None else f"loss term {term!r} is {values[term]}"
                    values.update(agent_step_stats(out, batch, self.model.backbone.grid_size))
            self._stop_if_diverged(bad, where)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(losses["total"]).backward()
            norm = None
            if cfg.optim.grad_clip:
                self.scaler.unscale_(self.optimizer)
                norm = nn.utils.clip_grad_norm_(self.model.parameters(), cfg.optim.grad_clip)
            if not self.scaler.is_enabled():  # fp16: the scaler itself skips steps whose gradients overflow
                if norm is None:
                    norm = nn.utils.get_total_norm(
                        [p.grad for p in self.model.parameters() if p.grad is not None]
                    )
                norm = float(norm)
                self._stop_if_diverged(None if math.isfinite(norm) else f"the gradient norm is {norm}", where)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        except torch.OutOfMemoryError as err:
            raise RuntimeError(
                f"out of GPU memory at step {step + 1} with batch data.p={cfg.data.p} x data.k={cfg.data.k} "
                f"and train.amp={cfg.train.amp}: lower data.p (identities per batch), use train.amp=bf16 "
                "(or fp16), or a smaller model.image_size"
            ) from err
        return values

    def _stop_if_diverged(self, bad: str | None, where: str) -> None:
        """Raise `TrainingDiverged` on every rank when ``bad`` (what is not finite) is set on any rank."""
        if dist.broadcast_flag(bad is not None, self.info):
            raise TrainingDiverged(
                f"{bad or 'a value is not finite on another rank'} at {where}; stopped without writing a "
                "checkpoint for this step. Lower optim.lr, check the labels, or use train.amp=none / bf16 "
                "instead of fp16."
            )

    def _autocast(self):
        import contextlib

        amp = self.cfg.train.amp
        if amp == "none" or self.device.type != "cuda":
            return contextlib.nullcontext()
        return torch.autocast("cuda", dtype=torch.bfloat16 if amp == "bf16" else torch.float16)

    # ------------------------------------------------------------------ evaluation and figures
    def _evaluate(self, epoch: int, step: int) -> dict[str, float]:
        cfg = self.cfg
        row: dict[str, float] = {}
        if self.info.is_main:
            extractor = FeatureExtractor(
                self.model,
                self.codes,
                labels=CachedLabels(self.test_labels),
                batch_size=cfg.data.eval_batch,
                num_workers=cfg.data.num_workers,
                device=self.device,
                amp=cfg.train.amp,
            )
            results, q, g = evaluate_model(
                extractor,
                self.test_data.query,
                self.test_data.gallery,
                use_parts=cfg.train.eval_parts,
                rerank=cfg.train.rerank,
                progress=self.progress,
            )
            unreadable = [*left_out(self.test_data.query, q), *left_out(self.test_data.gallery, g)]
            if unreadable:
                log.warning("%d unreadable test image(s) left out of the evaluation", len(unreadable))
            row = metrics_row(results)
            self.final = dict(row)
            self.last_features = (q, g)
            log.info("epoch %d: Rank-1 %.2f%%  mAP %.2f%%", epoch, 100 * row["rank1"], 100 * row["mAP"])
            if not self.best or row["mAP"] > self.best["mAP"]:
                self.best = {"epoch": epoch, **row}
                self._save("best.pt", epoch, 0, step, full=False)
        dist.barrier(self.info)
        return row

    def _curves(self, history: list[dict[str, Any]]) -> None:
        try:
            from ogfr.viz.curves import training_curves

            training_curves(history, self.run_dir / "curves.png")
        except Exception as err:  # a figure must never stop training
            log.warning("could not draw %s: %s", self.run_dir / "curves.png", err)


def metrics_row(results) -> dict[str, float]:
    """rank1/rank5/rank10/mAP/mINP (fractions in [0, 1]) of an ``ogfr.metrics.RankResults``."""
    d = results.as_dict()
    return {k: float(d[k]) for k in ("rank1", "rank5", "rank10", "mAP", "mINP") if k in d}


def load_history(run_dir: str | Path) -> list[dict[str, Any]]:
    """The ``metrics.jsonl`` rows of a run."""
    return read_rows(Path(run_dir) / "metrics.jsonl")

"""Same seed, same machine, same thread count: the same numbers, bit for bit, from scratch.

Each run is its own process (its own string-hash seed) on its own copy of the tiny synthetic set, whose
part-label cache it builds on first use, as two fresh clones would run (the generator's own
determinism is tested in tests/data/test_synth.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch

from ogfr.engine import load_checkpoint
from ogfr.engine.train import TIMING_KEYS

DRIVER = Path(__file__).with_name("_driver.py")


def _run(synth_root: Path, tmp: Path, name: str, hash_seed: str) -> tuple[list[dict], dict]:
    data = tmp / f"data_{name}"
    shutil.copytree(synth_root, data, ignore=shutil.ignore_patterns("ogfr_labels"))
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", PYTHONHASHSEED=hash_seed)
    env.pop("RANK", None), env.pop("WORLD_SIZE", None)
    out = tmp / f"run_{name}"
    overrides = [f"data.root={data}", "train.epochs=2", "train.steps_per_epoch=2", "train.eval_every=1"]
    done = subprocess.run(
        [sys.executable, str(DRIVER), "--out", str(out), *overrides],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if k not in TIMING_KEYS} for r in rows], load_checkpoint(
        out / "last.pt"
    )


def test_two_fresh_runs_with_the_same_seed_give_identical_numbers(synth_root: Path, tmp_path: Path) -> None:
    rows_a, ckpt_a = _run(synth_root, tmp_path, "a", "1")
    rows_b, ckpt_b = _run(synth_root, tmp_path, "b", "2")
    assert [r["epoch"] for r in rows_a] == [1, 2] and "mAP" in rows_a[-1] and "rank1" in rows_a[-1]
    assert rows_a == rows_b  # every loss term and every metric of every epoch
    for key, value in ckpt_a["model"].items():
        assert torch.equal(value, ckpt_b["model"][key]), key

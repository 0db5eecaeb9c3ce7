"""Fixtures of the engine tests: one tiny training run shared by the tests that only read it."""

from __future__ import annotations

from pathlib import Path

import pytest

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
TINY = CONFIGS / "tiny.yaml"


def tiny_overrides(root: Path, *extra: str) -> list[str]:
    """Overrides of the tiny preset used by the engine tests (no workers, CPU)."""
    return [f"data.root={root}", *extra]


@pytest.fixture(scope="session")
def trained_run(synth_root: Path, tmp_path_factory):
    """A 2-epoch (2 x 12 steps) tiny OGFR run on the synthetic set: ``(run_dir, TrainResult, Config)``."""
    import torch

    from ogfr.engine import load_config, train

    cfg = load_config(TINY, tiny_overrides(synth_root))
    out = tmp_path_factory.mktemp("engine") / "run"
    threads = torch.get_num_threads()
    result = train(cfg, out, progress=False)
    torch.set_num_threads(threads)
    return out, result, cfg

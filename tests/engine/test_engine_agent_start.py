"""When the erasing agent starts: after N epochs (train.agent_start_epoch) or from a previous run's weights
(train.init_from, without its optimizer)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from ogfr.engine import load_checkpoint, load_config, train
from ogfr.engine.dist import DistInfo
from ogfr.engine.train import _Trainer

from .conftest import TINY, tiny_overrides

SHORT = ("train.epochs=2", "train.steps_per_epoch=2", "train.eval_every=0")


def test_agent_starts_after_n_epochs(synth_root: Path, tmp_path: Path) -> None:
    cfg = load_config(TINY, tiny_overrides(synth_root, *SHORT, "train.agent_start_epoch=1"))
    torch.manual_seed(cfg.train.seed)
    result = train(cfg, tmp_path / "run", progress=False)
    first, second = result.history
    # epoch 1: FEP erases nothing and the agent is not trained; epoch 2: it acts and learns
    assert "reinforce" not in first and "stat_reward_hp" not in first and "stat_keep_ratio_hp" not in first
    assert "reinforce" in second and 0.0 < second["stat_keep_ratio_hp"] < 1.0
    assert first["stat_agent_bias_hp"] == pytest.approx(2.0, abs=1e-7)  # untouched in epoch 1: still its init
    assert second["stat_agent_bias_hp"] != pytest.approx(2.0, abs=1e-7)


def test_init_from_loads_weights_not_optimizer_and_keeps_new_parameters(
    synth_root: Path, tmp_path: Path
) -> None:
    source_cfg = load_config(TINY, tiny_overrides(synth_root, *SHORT, "model.mask=none"))
    train(source_cfg, tmp_path / "source", progress=False)  # no agent in this run
    source = load_checkpoint(tmp_path / "source" / "last.pt")
    cfg = load_config(TINY, tiny_overrides(synth_root, *SHORT, f"train.init_from={tmp_path / 'source'}"))
    trainer = _Trainer(cfg, tmp_path / "target", DistInfo(), progress=False)
    trainer._setup()
    agent_before = trainer.model.teacher.fep.agent.fc.weight.detach().clone()
    trainer._init_from(Path(cfg.train.init_from))  # a run folder: its last.pt
    state = trainer.model.state_dict()
    shared = [k for k in source["model"] if k in state]
    assert len(shared) == len(source["model"])  # everything of the source fits
    assert all(torch.equal(state[k], source["model"][k]) for k in shared)
    assert torch.equal(trainer.model.teacher.fep.agent.fc.weight, agent_before)  # new: keeps its init
    assert trainer.optimizer.state_dict()["state"] == {}  # a fresh optimizer
    result = train(cfg, tmp_path / "target", progress=False)  # end to end, with the agent learning
    assert result.steps == 4 and "reinforce" in result.history[-1]
    rows = [json.loads(r) for r in (tmp_path / "target" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 2  # a new run: the source's steps are not continued


def test_init_from_errors_name_the_file(synth_root: Path, tmp_path: Path) -> None:
    source_cfg = load_config(TINY, tiny_overrides(synth_root, *SHORT, "train.epochs=1"))
    train(source_cfg, tmp_path / "source", progress=False)
    wide = load_config(TINY, tiny_overrides(synth_root, *SHORT, "model.embed_dim=32"))
    trainer = _Trainer(wide, tmp_path / "t", DistInfo(), progress=False)
    trainer._setup()
    with pytest.raises(ValueError, match=r"init_from=.*last\.pt: weights of another shape"):
        trainer._init_from(tmp_path / "source")
    with pytest.raises(FileNotFoundError, match=r"train.init_from: .*nothing\.pt"):
        trainer._init_from(tmp_path / "nothing.pt")

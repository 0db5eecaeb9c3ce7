"""The ablation studies: row definitions, run planning, aggregation, the table writer and the runner."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from ogfr.io import atomic_write_json
from ogfr.studies import ablation
from ogfr.studies.ablation import aggregate, format_table, plan_runs, run_study, seed_list
from ogfr.studies.ablation_rows import (
    FIG4,
    FULL,
    TABLE4,
    TABLE5,
    TABLE6,
    TABLE7,
    TABLE8,
    AblationRow,
    select_rows,
)


def _row(key: str):
    return next(r for r in select_rows("all") if r.key == key)


def _changed(row) -> dict:
    """The switches of ``row`` that differ from the full model's."""
    return {k: v for k, v in row.switches().items() if FULL[k] != v}


def test_table4_rows_match_the_paper_columns():
    # (OA-ViT, FEP, KD) per row of the paper's Table 4, top to bottom.
    want = [
        (False, "none", False),
        (True, "none", False),
        (True, "student", False),
        (True, "student", True),
        (True, "both", True),
        (True, "teacher", True),
    ]
    sw = [r.switches() for r in TABLE4]
    assert [(w["model.oavit"], w["model.fep"], w["model.kd"]) for w in sw] == want
    assert [r.paper_rank1 for r in TABLE4] == [65.8, 68.5, 72.5, 73.1, 74.3, 76.6]
    assert [r.paper_map for r in TABLE4] == [58.4, 60.3, 61.1, 62.3, 63.6, 64.7]


def test_table5_rows_vary_only_the_mask():
    assert [_changed(r) for r in TABLE5] == [
        {"model.mask": "none"},
        {"model.mask": "random"},
        {"model.mask": "background"},
        {},
    ]
    assert [r.paper_rank1 for r in TABLE5] == [74.5, 74.4, 75.4, 76.6]


def test_tables_6_to_8_and_figure_4_change_one_thing_each():
    assert [_changed(r) for r in TABLE6] == [{"model.decoder": "conventional"}, {}]
    assert [r.switches()["parsing.lam"] for r in TABLE7] == [0.0, 5.0, 10.0, 15.0]
    # Table 8: each row drops exactly one of MSE / COS / KL, as the paper's table (L_kd's ID term stays)
    assert [_changed(r) for r in TABLE8] == [{"loss.mse": False}, {"loss.cos": False}, {"loss.kl": False}, {}]
    assert [r.switches()["model.num_coarse"] for r in FIG4] == [1, 2, 4, 8]
    paper = [(r.paper_rank1, r.paper_map) for r in (*TABLE6, *TABLE7, *TABLE8)]
    assert paper == [
        (75.3, 64.1),
        (76.6, 64.7),
        (76.3, 64.5),
        (76.6, 64.7),
        (76.2, 64.2),
        (75.8, 64.0),
        (74.2, 63.3),
        (75.1, 63.6),
        (74.5, 62.7),
        (76.6, 64.7),
    ]
    assert [r.paper_rank1 for r in FIG4] == [75.0, None, 76.6, None]  # the text states C = 1 and 4 only


def test_overrides_set_every_switch_explicitly():
    assert _row("t4_baseline").overrides() == [
        "model.oavit=false",
        "model.fep=none",
        "model.kd=false",
        "model.mask=agent",
        "model.decoder=customized",
        "model.num_coarse=4",
        "parsing.lam=5",
        "loss.mse=true",
        "loss.cos=true",
        "loss.kl=true",
        "loss.reward_baseline=running",
        "model.agent_episodes=1",
        "model.agent_bias=2",
        "optim.agent_lr_mult=1",
        "train.agent_start_epoch=0",
    ]
    assert "model.mask=random" in _row("t5_random").overrides()
    assert "parsing.lam=10" in _row("t7_lambda10").overrides()
    with pytest.raises(ValueError, match="not ablation switches"):
        AblationRow("x", "table4", "x", {"model.depth": 2}, None, None)


def test_select_rows_and_errors():
    assert [r.key for r in select_rows("table4")] == [r.key for r in TABLE4]
    assert len(select_rows("all")) == 6 + 4 + 2 + 4 + 4 + 4
    assert [r.key for r in select_rows("fig4, table6")] == ["t6_conventional", "t6_customized"] + [
        r.key for r in FIG4
    ]  # the paper's order
    assert select_rows("table5,all") == select_rows("all")
    for bad in ("table9", "", "table4,nope"):
        with pytest.raises(ValueError, match="rows: expected tables among"):
            select_rows(bad)


def test_seed_list():
    assert seed_list(3) == [0, 1, 2]
    assert seed_list([5, 7]) == [5, 7]
    with pytest.raises(ValueError, match=">= 1"):
        seed_list(0)
    with pytest.raises(ValueError, match="duplicates"):
        seed_list([1, 1])


def test_plan_shares_identical_rows_and_orders_overrides(tmp_path: Path):
    runs, owner = plan_runs(select_rows("all"), [0, 1], tmp_path, extra_overrides=["train.epochs=3"])
    # 24 rows; the full-model row of Tables 5-8 and Figure 4 is Table 4's: 19 distinct configs x 2 seeds.
    assert len(runs) == 38
    assert {k for k, v in owner.items() if v == "t4_full"} == {
        "t4_full",
        "t5_agent",
        "t6_customized",
        "t7_lambda5",
        "t8_all",
        "fig4_c4",
    }
    assert owner["t5_none"] == "t5_none"
    first = runs[0]
    assert first.out == tmp_path / "t4_baseline" / "seed0"
    # budget first, switches next, seed last (later overrides win in the engine).
    assert first.overrides[0] == "train.epochs=3"
    assert first.overrides[-1] == "train.seed=0"
    assert runs[1].overrides[-1] == "train.seed=1"


def test_aggregate_hand_computed():
    s = aggregate([0.5, 0.7, 0.9])
    assert s.mean == pytest.approx(0.7)
    # sample std: sqrt(((-.2)^2 + 0 + .2^2) / 2) = 0.2
    assert s.std == pytest.approx(0.2)
    assert (s.n, s.min, s.max) == (3, 0.5, 0.9)
    one = aggregate([0.25])
    assert one.mean == 0.25 and math.isnan(one.std)
    with pytest.raises(ValueError, match="no values"):
        aggregate([])


def test_format_table_values():
    rows = [_row("t4_baseline"), _row("t4_oavit")]
    res = {
        "t4_baseline": [{"rank1": 0.5, "map": 0.4}, {"rank1": 0.7, "map": 0.6}, {"rank1": 0.9, "map": 0.5}]
    }
    text = format_table(rows, res)
    lines = text.strip().splitlines()
    assert len(lines) == 4
    assert lines[0].startswith("| row | OA-ViT | FEP | KD | mask | seeds |")
    assert "| 3 | 70.0 ± 20.0 | 50.0 ± 10.0 | 65.8 | 58.4 |" in lines[2]
    assert "| 0 | - | - | 68.5 | 60.3 |" in lines[3]
    assert "| none | - | - | 3 |" in lines[2]  # no FEP: the mask column is not applicable
    # several tables: one titled table each, with that table's switch columns
    text = format_table([_row("t8_no_kl"), _row("fig4_c2")], {})
    assert "### Table 8: the distillation losses" in text and "| row | MSE | COS | KL |" in text
    assert "| no KL (MSE + COS) | yes | yes | - | 0 | - | - | 74.5 | 62.7 |" in text
    assert "| C = 2 | 2 | 0 | - | - | - | - |" in text


def test_run_study_trains_each_config_once_and_resumes(tmp_path: Path):
    calls: list[tuple[list[str], Path]] = []

    def fake_train(overrides: list[str], out: Path) -> dict[str, float]:
        calls.append((overrides, out))
        seed = int(overrides[-1].split("=")[1])
        oavit = "model.oavit=true" in overrides
        return {"rank1": 0.5 + 0.1 * oavit + 0.01 * seed, "map": 0.3 + 0.01 * seed}

    rows = [_row("t4_baseline"), _row("t4_oavit"), _row("t4_full"), _row("t5_agent")]
    res = run_study(rows, [0, 1], tmp_path, fake_train, extra_overrides=["train.epochs=1"])
    assert len(calls) == 6  # t5_agent reuses t4_full's runs
    assert res.results["t5_agent"] == res.results["t4_full"]
    assert [r["rank1"] for r in res.results["t4_baseline"]] == pytest.approx([0.5, 0.51])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["rows"]["t4_oavit"]["rank1"]["mean"] == pytest.approx(0.605)
    assert summary["rows"]["t5_agent"]["shares_runs_of"] == "t4_full"
    cmd = summary["rows"]["t4_baseline"]["commands"][0]
    assert cmd.startswith("ogfr train train.epochs=1 model.oavit=false") and cmd.endswith(
        f"--out {tmp_path / 't4_baseline' / 'seed0'}"
    )
    assert (tmp_path / "ablation.md").read_text() == res.table
    # Rerun: every run has its result.json, nothing is retrained, same table.
    again = run_study(rows, [0, 1], tmp_path, fake_train, extra_overrides=["train.epochs=1"])
    assert len(calls) == 6
    assert again.table == res.table


def test_run_study_rejects_bad_train_results(tmp_path: Path):
    with pytest.raises(ValueError, match="need 'rank1' and 'map'"):
        run_study([_row("t4_baseline")], [0], tmp_path, lambda o, d: {"rank1": 0.1})


def test_broken_result_file_is_reported(tmp_path: Path):
    run_dir = tmp_path / "t4_baseline" / "seed0"
    run_dir.mkdir(parents=True)
    (run_dir / ablation.RESULT_FILE).write_text("{not json")
    with pytest.raises(ValueError, match="result.json: not valid JSON"):
        run_study([_row("t4_baseline")], [0], tmp_path, lambda o, d: {"rank1": 0.1, "map": 0.1})


CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("row", select_rows("all"), ids=lambda r: r.key)
def test_every_row_builds_the_intended_engine_config(row, tmp_path: Path):
    from ogfr.engine import load_config

    runs, _ = plan_runs([row], [4], tmp_path, extra_overrides=["data.root=/somewhere", "train.epochs=3"])
    cfg = load_config(CONFIGS / "demo.yaml", list(runs[0].overrides))
    for key, value in row.switches().items():
        section, name = key.split(".")
        assert getattr(getattr(cfg, section), name) == value, key
    assert (cfg.train.seed, cfg.train.epochs, cfg.data.root) == (4, 3, "/somewhere")
    # everything else is the preset's: the same budget and architecture for every row
    preset = load_config(CONFIGS / "demo.yaml")
    assert (cfg.model.embed_dim, cfg.model.depth, cfg.data.p, cfg.data.k, cfg.train.steps_per_epoch) == (
        preset.model.embed_dim,
        preset.model.depth,
        preset.data.p,
        preset.data.k,
        preset.train.steps_per_epoch,
    )


def test_resolve_preset(tmp_path: Path):
    assert ablation.resolve_preset("demo") == CONFIGS / "demo.yaml"
    with pytest.raises(FileNotFoundError, match="presets here"):
        ablation.resolve_preset("no_such_preset")
    with pytest.raises(FileNotFoundError, match="no such file"):
        ablation.resolve_preset(tmp_path / "missing.yaml")


def test_one_step_smoke_through_the_cli(synth_root: Path, tmp_path: Path, capsys):
    """`ogfr ablate` end to end with the real engine: tiny preset, one optimizer step per row, evaluated."""
    from ogfr.cli import main

    out = tmp_path / "study"
    argv = [
        "ablate",
        "--preset",
        str(CONFIGS / "tiny.yaml"),
        "--rows",
        "all",
        "--only",
        "t4_baseline,t5_agent",
    ]
    argv += ["--seeds", "1", "--out", str(out), "--data", str(synth_root), "--epochs", "1"]
    argv += ["train.steps_per_epoch=1", "train.eval_every=1"]
    assert main(argv) == 0
    assert "| baseline (ViT + occlusion aug.) |" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert set(summary["rows"]) == {"t4_baseline", "t5_agent"}
    for key, kd in (("t4_baseline", "false"), ("t5_agent", "true")):
        (result,) = summary["rows"][key]["runs"]
        assert 0.0 <= result["map"] <= 1.0 and 0.0 <= result["rank1"] <= 1.0
        assert result["steps"] == 1
        assert ("noise_auc" in result) == (key == "t5_agent")  # the agent scored against the ground truth
        resolved = (out / key / "seed0" / "config.yaml").read_text()
        assert f"kd: {kd}" in resolved
        assert summary["rows"][key]["commands"][0].startswith(
            f"ogfr train --config {CONFIGS / 'tiny.yaml'} data.name="
        )


def test_cli_errors(tmp_path: Path, capsys):
    from ogfr.cli import main

    assert main(["ablate", "--out", str(tmp_path), "--only", "t9_nope", "--data", str(tmp_path)]) == 1
    assert "--only: unknown row(s) ['t9_nope']" in capsys.readouterr().err
    assert main(["ablate", "--out", str(tmp_path), "--data", str(tmp_path / "missing")]) == 1
    assert "no such folder" in capsys.readouterr().err
    assert main(["ablate", "--out", str(tmp_path), "--seeds", "0"]) == 1
    assert "--seeds must be >= 1" in capsys.readouterr().err
    assert main(["ablate", "--out", str(tmp_path), "--rows", "table9", "--data", str(tmp_path)]) == 1
    assert "rows: expected tables among" in capsys.readouterr().err


def test_report_only_tabulates_finished_runs(tmp_path: Path):
    done = tmp_path / "t4_baseline" / "seed1"
    atomic_write_json(done / ablation.RESULT_FILE, {"rank1": 0.4, "map": 0.3, "seed": 1})
    res = run_study([_row("t4_baseline"), _row("t4_oavit")], [0, 1], tmp_path, None)
    assert res.results["t4_baseline"] == [{"rank1": 0.4, "map": 0.3, "seed": 1}]
    assert res.results["t4_oavit"] == []
    assert "| 1 | 40.0 | 30.0 |" in res.table and "| 0 | - | - |" in res.table


def test_agent_rows_are_table5_plus_the_other_reading_and_share_table5_runs(tmp_path: Path):
    from ogfr.studies.ablation_rows import AGENT, BEST_READING, TABLE5

    assert [r.key for r in select_rows("agent")] == [r.key for r in AGENT]
    assert "ag_none" not in {r.key for r in select_rows("all")}  # not a paper table
    assert [r.switches() for r in AGENT[:4]] == [r.switches() for r in TABLE5]
    assert AGENT[4].switches() == {**AGENT[3].switches(), **BEST_READING} != AGENT[3].switches()
    runs, owner = plan_runs(select_rows("table5,agent"), [0], tmp_path)
    assert len(runs) == 5 and owner["ag_agent"] == "t5_agent" and owner["ag_none"] == "t5_none"


def test_erasing_tables_show_the_noise_auc():
    rows = [_row("t5_none"), _row("t5_agent")]
    results = {
        "t5_agent": [
            {"rank1": 0.4, "map": 0.3, "noise_auc": 0.61},
            {"rank1": 0.5, "map": 0.3, "noise_auc": 0.71},
        ]
    }
    text = format_table(rows, results)
    assert "| noise AUC |" in text.splitlines()[0]
    agent_line = next(line for line in text.splitlines() if line.startswith("| agent mask"))
    assert "| 0.66 ± 0.07 |" in agent_line and "| 45.0 ± 7.1 |" in agent_line
    assert "noise AUC" not in format_table([_row("t6_conventional")], {})

"""Decompression bombs through every command (issue 13 item 1): a 48 KB PNG declaring 20000 x 20000 pixels
once killed `ogfr parse` and `ogfr train`, and a 10000 x 10000 one was decoded silently (2 GB)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hostile_files import TINY, refused

from image_files import bomb_png
from ogfr.cli import main

SIDES = pytest.mark.parametrize("side", [20_000, 10_000], ids=["20k", "10k"])


def _plant(root: Path, side: int) -> Path:
    """A bomb named like a training image of identity 3 (which has other, readable images)."""
    return bomb_png(root / "bounding_box_train" / f"0003_c1s1_999999_0{side // 10_000}.png", side)


@SIDES
def test_parse_skips_a_bomb_with_its_reason(data, side, tmp_path, capsys):
    bomb = _plant(data, side)
    out = tmp_path / "labels"
    assert (
        main(["parse", "--dataset", str(data), "--backend", "synthetic", "--out", str(out), "--no-progress"])
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["unreadable"] >= 1 and summary["ok"] == summary["images"] - summary["unreadable"] > 0
    printed = capsys.readouterr().out
    assert "unreadable" in printed and bomb.stem in printed


@SIDES
def test_train_substitutes_a_bomb_and_counts_it(data, side, tmp_path, capsys, caplog):
    bomb = _plant(data, side)
    run = tmp_path / "run"
    argv = ["train", "--config", TINY, f"data.root={data}", "train.epochs=1", "train.steps_per_epoch=6",
            "train.eval_every=0", "data.obstacle_bank=8", "--out", run, "--no-progress"]  # fmt: skip
    assert main([str(a) for a in argv]) == 0
    row = json.loads((run / "metrics.jsonl").read_text().splitlines()[-1])
    assert row["unreadable_images"] == 1 and row["step"] == 6
    assert str(bomb) in caplog.text and "decompression bomb" in caplog.text


@SIDES
def test_index_skips_a_bomb_and_records_why(data, ckpt, side, tmp_path, capsys):
    gallery = data / "query"
    bomb = bomb_png(gallery / f"0001_c1s1_99999{side // 10_000}_00.png", side)
    out = tmp_path / "idx"
    argv = ["index", "--checkpoint", ckpt, "--images", gallery, "--out", out, "--occlusion", "visible"]
    assert main([str(a) for a in [*argv, "--no-progress"]]) == 0
    printed = capsys.readouterr().out
    assert f"{bomb.name}: " in printed and "decompression bomb" in printed
    from ogfr.search.index import Index

    index = Index.open(out)
    assert bomb.name not in index.indexed_paths() and dict(index.skipped())[bomb.name].startswith(
        f"{side**2} pixels"
    )


@SIDES
def test_search_and_show_refuse_a_bomb_query_naming_it(data, ckpt, side, tmp_path, capsys):
    out = tmp_path / "idx"
    argv = ["index", "--checkpoint", ckpt, "--images", data / "query", "--out", out, "--occlusion", "visible"]
    assert main([str(a) for a in [*argv, "--no-progress"]]) == 0
    bomb = bomb_png(tmp_path / "query.png", side)
    refused(capsys, ["search", "--index", out, bomb], f"{bomb}: ", "decompression bomb")
    fig = tmp_path / "fig.png"
    refused(capsys, ["show", "ranked", "--index", out, bomb, "--out", fig], str(bomb), "decompression bomb")
    for figure in ("visibility", "erasing"):
        argv = ["show", figure, "--checkpoint", ckpt, bomb, "--out", fig, "--occlusion", "visible"]
        refused(capsys, argv, str(bomb), "decompression bomb")
    refused(capsys, ["show", "parsing", bomb, "--backend", "synthetic", "--out", fig], str(bomb), "bomb")
    assert not fig.exists()


def test_eval_never_substitutes_it_leaves_out_and_counts(data, ckpt, tmp_path, capsys):
    """Issue 13 items 1 and 3: eval replaced unreadable query / gallery images by others of the same id,
    so the metrics counted duplicates and results.json did not say so. Now: left out, listed, counted."""
    from ogfr.data import load_dataset

    n_query = len(load_dataset("synthetic", data).query)
    q_bomb = bomb_png(data / "query" / "0001_c1s1_999999_00.png", 20_000)
    g_bomb = bomb_png(data / "bounding_box_test" / "0001_c3s1_999999_00.png", 10_000)
    out = tmp_path / "results.json"
    assert main(["eval", "--checkpoint", str(ckpt), "--dataset", str(data), "--out", str(out)]) == 0
    printed = capsys.readouterr()
    got = json.loads(out.read_text())
    assert got["unreadable"] == {"query": [str(q_bomb)], "gallery": [str(g_bomb)]}
    assert got["results"]["num_queries"] == n_query  # the bomb query (one more) is not among them
    assert "1 query and 1 gallery image(s) unreadable, left out" in printed.out + printed.err


def test_extract_leaves_out_and_lists_a_bomb(data, ckpt, tmp_path, capsys):
    from safetensors.torch import load_file

    bomb = bomb_png(data / "query" / "0001_c1s1_999999_00.png", 20_000)
    out = tmp_path / "q.safetensors"
    argv = [
        "extract",
        "--checkpoint",
        str(ckpt),
        "--dataset",
        str(data),
        "--split",
        "query",
        "--out",
        str(out),
    ]
    assert main(argv) == 0
    side = json.loads(out.with_suffix(".json").read_text())
    assert side["unreadable"] == [str(bomb)] and str(bomb) not in side["paths"]
    assert len(load_file(str(out))["global"]) == len(side["paths"]) == len(side["pids"])
    assert "1 unreadable left out" in capsys.readouterr().out

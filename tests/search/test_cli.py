"""`ogfr index | search | show | export` end to end on a tiny checkpoint and gallery."""

from __future__ import annotations

import json

import pytest
from PIL import Image
from search_helpers import make_model, write_checkpoint

from ogfr.cli import main
from ogfr.viz.ranked import ranked_figure_size


@pytest.fixture()
def built(checkpoint, gallery, tmp_path, capsys):
    out = tmp_path / "idx"
    rc = main(["index", "--checkpoint", str(checkpoint), "--images", str(gallery), "--out", str(out),
               "--occlusion", "visible", "--no-progress"])  # fmt: skip
    assert rc == 0
    return out, capsys.readouterr().out


def test_index_then_search_json_and_table(built, gallery, capsys):
    built, out = built
    assert "13 image(s) (13 added" in out and "skipped 4 file(s)" in out and "bomb.png" in out
    query = gallery / "0002_c3s1_000100_00.jpg"
    assert main(["search", "--index", str(built), str(query), "--top", "3", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 1 and [h["rank"] for h in rows[0]["hits"]] == [1, 2, 3]
    top = rows[0]["hits"][0]
    assert top["path"] == query.name and top["pid"] == 2 and len(top["shared_parts"]) <= 8
    assert main(["search", "--index", str(built), str(query), "--top", "2", "--faiss", "on"]) == 0
    table = capsys.readouterr().out
    assert query.name in table and "shared parts" in table


def test_search_errors(built, gallery, tmp_path, capsys):
    built = built[0]
    assert main(["search", "--index", str(built), str(gallery / "notes.txt")]) == 1
    assert "not an image" in capsys.readouterr().err
    other = write_checkpoint(tmp_path / "other.pt", make_model(seed=3))
    assert (
        main(
            [
                "search",
                "--index",
                str(built),
                "--checkpoint",
                str(other),
                str(gallery / "0001_c1s1_000100_00.jpg"),
            ]
        )
        == 1
    )
    assert "not the one index" in capsys.readouterr().err
    (built / "meta.sqlite").write_bytes(b"garbage" * 50)
    assert main(["search", "--index", str(built), str(gallery / "0001_c1s1_000100_00.jpg")]) == 1
    assert "corrupt index" in capsys.readouterr().err
    assert (
        main(["search", "--index", str(tmp_path / "nowhere"), str(gallery / "0001_c1s1_000100_00.jpg")]) == 1
    )


def test_show_figures(built, checkpoint, gallery, tmp_path):
    built = built[0]
    queries = [str(gallery / "0001_c2s1_000100_00.jpg"), str(gallery / "sub" / "0004_c1s1_000100_00.jpg")]
    png = tmp_path / "ranked.png"
    assert main(["show", "ranked", "--index", str(built), *queries, "--top", "4", "--out", str(png)]) == 0
    assert Image.open(png).size == ranked_figure_size(2, 4)
    for fig in ("visibility", "erasing"):
        png = tmp_path / f"{fig}.png"
        rc = main(
            [
                "show",
                fig,
                "--checkpoint",
                str(checkpoint),
                "--occlusion",
                "visible",
                *queries,
                "--out",
                str(png),
            ]
        )
        assert rc == 0 and png.stat().st_size > 5000


def test_show_ranked_never_opens_outside_root(built, gallery, tmp_path, capsys):
    built = built[0]
    import sqlite3

    secret = gallery.parent / "gallery_secret.jpg"
    with sqlite3.connect(built / "meta.sqlite") as db:  # a tampered index pointing outside its root
        db.execute(
            "UPDATE images SET path = ? WHERE path = ?", ("../gallery_secret.jpg", "0001_c1s1_000100_00.jpg")
        )
    secret.unlink()  # if anything tried to open it, the error would be "not found", not "outside"
    rc = main(["show", "ranked", "--index", str(built), str(gallery / "0001_c1s1_000100_00.jpg"),
               "--top", "13", "--out", str(tmp_path / "r.png")])  # fmt: skip
    assert rc == 1 and "outside the indexed root" in capsys.readouterr().err


def test_export_command(checkpoint, tmp_path, capsys):
    out = tmp_path / "model.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out)]) == 0
    assert out.stat().st_size > 10_000 and "max abs difference" in capsys.readouterr().out
    import onnx

    from ogfr.engine.checkpoint import load_for_inference

    stored = load_for_inference(checkpoint)[2]["occlusion_code"]
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["ogfr.occlusion_code"]) == stored  # how z is made travels with the file


def test_docs_python_example_runs(checkpoint, gallery, tmp_path, capsys):
    """The Python API example of docs/search.md, with its paths pointed at the test files."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "search.md").read_text()
    code = doc.split("## Python API", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    for old, new in (
        ("runs/demo/best.pt", str(checkpoint)),
        ("/data/crops", str(gallery)),
        ("gallery_index", str(tmp_path / "idx")),
        ("query/0001_c1s1_001051_00.jpg", str(gallery / "0001_c1s1_000100_00.jpg")),
    ):
        assert old in code, old
        code = code.replace(old, new)
    exec(compile(code, "docs/search.md", "exec"), {})
    lines = [ln for ln in capsys.readouterr().out.splitlines() if ln[:1].isdigit()]  # (not the progress bar)
    rank, path, distance, *_ = lines[0].split()
    assert len(lines) == 10 and (rank, path) == ("1", "0001_c1s1_000100_00.jpg") and float(distance) < 0.01


def test_lambda_travels_from_the_checkpoint_to_the_index_and_its_searches(
    checkpoint, gallery, tmp_path, caplog, capsys
):
    import logging
    from argparse import Namespace

    from ogfr.cli.search import load_for_index

    out = tmp_path / "idx7"
    args = ["index", "--checkpoint", str(checkpoint), "--images", str(gallery), "--occlusion", "visible"]
    with caplog.at_level(logging.WARNING):
        assert main([*args, "--out", str(out), "--lam", "7", "--no-progress"]) == 0
    assert "--lam: lambda = 7 instead of the 5 stored with the model" in caplog.text
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["info"]["occlusion_code"] == {"num_coarse": 4, "lam": 7.0, "label_size": [32, 16]}
    query = dict(index=str(out), checkpoint=None, occlusion=None, camera=None, device="cpu")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        embedder, _ = load_for_index(Namespace(**query, lam=None))  # the queries' z is made as the gallery's
        assert embedder.codes.lam == 7.0
        assert load_for_index(Namespace(**query, lam=9.0))[0].codes.lam == 9.0
    assert "--lam 9 differs from the lambda 7 the index was built with" in caplog.text
    # growing the index with another lambda (here the checkpoint's 5) is refused
    person = Image.open(gallery / "0001_c1s1_000100_00.jpg")
    person.save(gallery / "0005_c1s1_000100_00.jpg")
    capsys.readouterr()
    assert main([*args, "--out", str(out), "--append", "--no-progress"]) == 1
    assert "built with occlusion-code settings" in capsys.readouterr().err


def test_show_parsing_takes_the_models_settings(checkpoint, synth_root, tmp_path, caplog):
    import logging

    image = sorted((synth_root / "query").glob("*.jpg"))[0]
    png = tmp_path / "parsing.png"
    base = ["show", "parsing", str(image), "--backend", "synthetic", "--out", str(png)]
    with caplog.at_level(logging.WARNING):
        assert main([*base, "--checkpoint", str(checkpoint)]) == 0
        assert not caplog.text
        assert main([*base, "--checkpoint", str(checkpoint), "--lam", "40", "--num-coarse", "2"]) == 0
    assert "--lam: lambda = 40 instead of the 5" in caplog.text and "--num-coarse 2 differs" in caplog.text
    assert main(base) == 0 and png.stat().st_size > 1000  # without a model: the paper's C 4, lambda 5

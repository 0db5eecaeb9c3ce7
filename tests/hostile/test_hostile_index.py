"""Hostile index folders (issue 13 items 4-6, 10): a tampered manifest, database or shard is refused when
the index is opened, naming the file and what was expected; nothing outside the index folder or the
indexed root is ever opened."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hostile_files import never_opened, refused
from safetensors.numpy import save_file

from ogfr.cli import main
from ogfr.search.records import sha256_file


def _index(ckpt: Path, images: Path, out: Path, *extra: str) -> list[str]:
    return ["index", "--checkpoint", str(ckpt), "--images", str(images), "--out", str(out),
            "--occlusion", "visible", "--batch-size", "2", "--no-progress", *extra]  # fmt: skip


@pytest.fixture(scope="module")
def data(synth_root: Path, tmp_path_factory) -> Path:
    """A copy of the tiny set shared by this module's tests (they only add files beside its images)."""
    return Path(shutil.copytree(synth_root, tmp_path_factory.mktemp("data") / "synth"))


@pytest.fixture(scope="module")
def pristine(data: Path, ckpt: Path, tmp_path_factory) -> Path:
    """An index of the 6 query images: 3 shards of 2 rows."""
    out = tmp_path_factory.mktemp("pristine") / "idx"
    assert main(_index(ckpt, data / "query", out)) == 0
    return out


@pytest.fixture()
def built(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the index, for one test to tamper with."""
    return Path(shutil.copytree(pristine, tmp_path / "idx"))


def _sql(index: Path, statement: str, *params) -> None:
    with sqlite3.connect(index / "meta.sqlite") as db:
        db.execute(statement, params)


def _search(index: Path, data: Path) -> list[str]:
    return ["search", "--index", index, sorted((data / "query").iterdir())[0], "--json"]


def test_a_manifest_that_is_a_json_list(built, data, capsys):
    (built / "manifest.json").write_text(json.dumps([1, 2, 3]))
    refused(capsys, _search(built, data), f"{built / 'manifest.json'}", "a JSON object")


def test_a_row_out_of_range(built, data, capsys):
    _sql(built, "UPDATE images SET row = 99 WHERE id = 1")
    refused(capsys, _search(built, data), f"corrupt index {built}", "row 99", "holds 2 rows")


def test_rows_all_set_to_0_do_not_duplicate_one_feature(built, data, capsys):
    """Issue 13 item 6: every image then silently got the feature of its shard's first image."""
    _sql(built, "UPDATE images SET row = 0")
    refused(capsys, _search(built, data), f"corrupt index {built}", "row 0 of shard-000000", "more than one")


def test_a_pid_that_is_not_a_number(built, data, capsys):
    _sql(built, "UPDATE images SET pid = 'abc' WHERE id = 2")
    refused(capsys, _search(built, data), f"corrupt index {built}", "pid='abc'", "must be integers")


def test_image_counts_that_disagree_with_the_shards(built, data, capsys):
    _sql(built, "DELETE FROM images WHERE id = 3")
    refused(capsys, _search(built, data), f"corrupt index {built}", "5 images", "6 feature rows")


def _rewrite_shard(index: Path, name: str, arrays: dict[str, np.ndarray]) -> None:
    save_file(arrays, str(index / name))
    _sql(index, "UPDATE shards SET sha256 = ? WHERE name = ?", sha256_file(index / name), name)


def test_a_shard_of_another_feature_width(built, data, capsys):
    """Issue 13 item 4: a raw numpy concatenate message."""
    _rewrite_shard(built, "shard-000001.safetensors", {
        "global": np.zeros((2, 32), np.float32),
        "parts": np.zeros((2, 8, 32), np.float32),
        "visibility": np.ones((2, 8), np.uint8),
    })  # fmt: skip
    refused(capsys, _search(built, data), "shard-000001.safetensors", "(2, 32)", "D=64")


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside/x"])
def test_shard_names_are_confined_to_the_index_folder(built, data, name, capsys):
    """Issue 13 item 5: `ogfr search` opened and hashed the named file before refusing it."""
    outside = (built / name).resolve()
    if name.startswith(".."):
        outside.parent.mkdir()
        outside.write_bytes((built / "shard-000000.safetensors").read_bytes())
    _sql(built, "UPDATE shards SET name = ? WHERE name = 'shard-000000.safetensors'", name)
    _sql(built, "UPDATE images SET shard = ? WHERE shard = 'shard-000000.safetensors'", name)
    with never_opened(outside):
        refused(capsys, _search(built, data), f"corrupt index {built}", repr(name), "inside the index folder")


@pytest.mark.parametrize("path", ["../secret.jpg", "/etc/passwd"])
def test_tampered_image_paths_are_never_opened(built, data, path, tmp_path, capsys):
    secret = (data / "query" / path).resolve()
    if path.startswith(".."):
        secret.write_bytes(b"secret")
    _sql(built, "UPDATE images SET path = ? WHERE id = 1", path)
    with never_opened(secret):
        refused(capsys, _search(built, data), repr(path), "outside the indexed root")
        query = sorted((data / "query").iterdir())[1]
        argv = ["show", "ranked", "--index", built, query, "--out", tmp_path / "f.png", "--faiss", "off"]
        refused(capsys, argv, repr(path), "outside the indexed root")


def test_an_interrupted_index_warns_but_searches(built, data, capsys):
    """Issue 13 item 10: `complete: false` in the manifest gave no warning."""
    manifest = json.loads((built / "manifest.json").read_text())
    (built / "manifest.json").write_text(json.dumps({**manifest, "complete": False}))
    capsys.readouterr()
    assert main([str(a) for a in _search(built, data)]) == 0
    err = capsys.readouterr().err
    assert "incomplete" in err and "ogfr index" in err


def test_shard_refusals_that_hold(built, data, capsys):
    """A shard whose bytes changed and a missing shard: refused by the recorded sha256 / the listing."""
    shard = built / "shard-000002.safetensors"
    shard.write_bytes(shard.read_bytes()[:-8] + b"\0" * 8)
    refused(capsys, _search(built, data), "shard-000002.safetensors does not match its recorded sha256")
    shard.unlink()
    refused(capsys, _search(built, data), "shard-000002.safetensors is missing")


_KILLED_INDEX = """
import os, signal, sys
from ogfr.cli import main
from ogfr.search.index import Index

append, done = Index.append, [0]
def append_then_die(self, records, feats):
    if done[0] == 2:  # SIGKILL after two batches are stored
        os.kill(os.getpid(), signal.SIGKILL)
    done[0] += 1
    return append(self, records, feats)
Index.append = append_then_die
sys.exit(main(sys.argv[1:]))
"""


def test_a_sigkilled_index_resumes_to_the_same_features(data, ckpt, pristine, tmp_path):
    from ogfr.search.index import Index

    env = dict(os.environ, OMP_NUM_THREADS="1")
    ref, run = pristine, tmp_path / "run"
    argv = _index(ckpt, data / "query", run)
    killed = subprocess.run([sys.executable, "-c", _KILLED_INDEX, *argv], env=env, timeout=300)
    assert killed.returncode == -signal.SIGKILL and len(Index.open(run)) == 4 and not Index.open(run).complete
    subprocess.run([sys.executable, "-m", "ogfr", *argv], env=env, check=True, timeout=300)
    (a_rec, a), (b_rec, b) = Index.open(ref).load(), Index.open(run).load()
    order = {r.path: i for i, r in enumerate(b_rec)}
    rows = [order[r.path] for r in a_rec]
    assert sorted(order) == sorted(r.path for r in a_rec) and Index.open(run).complete
    assert (a.global_ == b.global_[rows]).all() and (a.parts == b.parts[rows]).all()


def test_search_and_index_argument_refusals_that_hold(built, data, ckpt, tmp_path, capsys):
    query = sorted((data / "query").iterdir())[0]
    refused(capsys, ["search", "--index", built, query, "--top", "0"], "--top must be >= 1")
    notes = tmp_path / "notes.jpg"
    notes.write_text("not an image")
    refused(capsys, ["search", "--index", built, notes], f"{notes}: not an image Pillow can read")
    refused(capsys, ["search", "--index", tmp_path / "nowhere", query], "index folder", "not found")
    refused(capsys, _index(ckpt, tmp_path / "no-images", tmp_path / "idx2"), "no such folder or list file")
    assert not (tmp_path / "idx2").exists()

"""`torchrun --nproc_per_node 2 -m ogfr index` on CPU (gloo): the same index as one process, byte for byte,
and a run whose rank 1 was killed resumes, reusing the batches finished before the kill."""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

DRIVER = Path(__file__).with_name("_index_driver.py")


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    tests = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join([src, tests, os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _index(args: list[str], ranks: int = 1, driver: list[str] = ()) -> subprocess.CompletedProcess:
    launch = [sys.executable]
    if ranks > 1:
        launch += ["-m", "torch.distributed.run", f"--nproc_per_node={ranks}", "--master_addr=127.0.0.1",
                   f"--master_port={_free_port()}"]  # fmt: skip
    cmd = [
        *launch,
        str(DRIVER),
        *driver,
        "--",
        *args,
        "--occlusion",
        "visible",
        "--batch-size",
        "4",
        "--no-progress",
    ]
    return subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)


def _tables(index: Path) -> dict[str, list]:
    with closing(sqlite3.connect(index / "meta.sqlite")) as db:
        return {
            t: db.execute(f"SELECT * FROM {t} ORDER BY rowid").fetchall()
            for t in ("images", "shards", "skipped")
        }


def _files(index: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(index.iterdir())}


def test_two_ranks_write_the_one_process_index_and_a_killed_rank_resumes(checkpoint, gallery, tmp_path):
    common = ["--checkpoint", str(checkpoint), "--images", str(gallery)]
    one = _index([*common, "--out", str(tmp_path / "one")])
    assert one.returncode == 0, one.stderr[-3000:]
    count = tmp_path / "calls.txt"
    out = tmp_path / "two"
    killed = _index(
        [*common, "--out", str(out)],
        ranks=2,
        driver=["--kill-rank", "1", "--kill-at", "2", "--count", str(count)],
    )
    assert killed.returncode != 0  # rank 1 died at its second batch; torchrun stopped rank 0 too
    assert count.read_text().count("1\n") == 1  # rank 1 finished its first batch (unit 1) before dying
    count.unlink()
    again = _index([*common, "--out", str(out)], ranks=2, driver=["--count", str(count)])
    assert again.returncode == 0, again.stderr[-3000:]
    assert "13 image(s)" in again.stdout and "skipped 4 file(s)" in again.stdout
    assert len(count.read_text().splitlines()) <= 3  # of the 4 batches, at least unit 1 was reused
    assert _tables(out) == _tables(tmp_path / "one")
    files_one, files_two = _files(tmp_path / "one"), _files(out)
    assert (
        sorted(files_two)
        == sorted(files_one)
        == ["manifest.json", "meta.sqlite"] + [f"shard-{i:06d}.safetensors" for i in range(4)]
    )  # no part files left behind
    for name in files_one:
        assert files_two[name] == files_one[name], name  # shards, manifest and database byte for byte

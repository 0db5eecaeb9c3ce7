"""`torchrun --nproc_per_node 2 -m ogfr extract` on CPU (gloo): byte for byte the files of one process."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path


def _env() -> dict[str, str]:
    src = str(Path(__file__).resolve().parents[2] / "src")
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_ranks_write_the_one_process_features(trained_run, synth_root: Path, tmp_path) -> None:
    run, _, _ = trained_run
    args = ["extract", "--checkpoint", str(run / "best.pt"), "--dataset", str(synth_root), "--split", "gallery",
            "--batch", "2", "--device", "cpu"]  # fmt: skip
    one = subprocess.run(
        [sys.executable, "-m", "ogfr", *args, "--out", str(tmp_path / "one" / "g.safetensors")],
        env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert one.returncode == 0, one.stderr[-3000:]
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
                f"--master_port={_free_port()}", "-m", "ogfr"]  # fmt: skip
    two = subprocess.run(
        [*torchrun, *args, "--out", str(tmp_path / "two" / "g.safetensors")],
        env=_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert two.returncode == 0, two.stderr[-3000:]
    assert two.stdout.count("gallery images ->") == 1  # rank 0 reports, rank 1 stays quiet
    for name in ("g.safetensors", "g.json"):
        assert (tmp_path / "two" / name).read_bytes() == (tmp_path / "one" / name).read_bytes(), name
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "g.json",
        "g.safetensors",
    ]  # no parts left

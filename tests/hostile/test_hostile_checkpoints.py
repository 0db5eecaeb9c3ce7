"""Hostile checkpoints at every entry point that reads one: pickles with code, tensors of another size."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from hostile_files import evil_pickle, no_unpickling_advice, refused

from ogfr.cli import main


@pytest.fixture(scope="module")
def index(synth_root: Path, ckpt: Path, tmp_path_factory) -> Path:
    """An index of the tiny set's query images, built with the good checkpoint."""
    out = tmp_path_factory.mktemp("index") / "idx"
    argv = ["index", "--checkpoint", ckpt, "--images", synth_root / "query", "--out", out]
    assert main([str(a) for a in [*argv, "--occlusion", "visible", "--no-progress"]]) == 0
    return out


def _query(root: Path) -> Path:
    return sorted((root / "query").iterdir())[0]


ENTRY_POINTS = {
    "eval": lambda c, root, out, idx: ["eval", "--checkpoint", c, "--dataset", root, "--out", out / "r.json"],
    "extract": lambda c, root, out, idx: [
        "extract", "--checkpoint", c, "--dataset", root, "--out", out / "q.safetensors",
    ],
    "index": lambda c, root, out, idx: [
        "index", "--checkpoint", c, "--images", root / "query", "--out", out / "idx", "--occlusion", "visible",
    ],
    "search": lambda c, root, out, idx: ["search", "--index", idx, "--checkpoint", c, _query(root)],
    "show": lambda c, root, out, idx: [
        "show", "visibility", "--checkpoint", c, _query(root), "--out", out / "v.png", "--occlusion", "visible",
    ],
    "export": lambda c, root, out, idx: ["export", "--checkpoint", c, "--out", out / "m.onnx"],
}  # fmt: skip


@pytest.mark.parametrize("command", list(ENTRY_POINTS))
def test_a_pickle_with_code_is_never_run(command, synth_root, index, tmp_path, capsys):
    marker = tmp_path / "code-ran"
    evil = evil_pickle(tmp_path / "evil" / "best.pt", marker)
    out = tmp_path / "out"
    err = refused(capsys, ENTRY_POINTS[command](evil, synth_root, out, index), f"{evil}: not a readable")
    assert not marker.exists() and not out.exists()
    no_unpickling_advice(err)  # issue 13 item 10: no advice to unpickle


def test_ogfr_load_never_runs_a_pickle(tmp_path):
    import ogfr

    marker = tmp_path / "code-ran"
    evil = evil_pickle(tmp_path / "evil.pt", marker)
    with pytest.raises(ValueError, match="pickled Python object") as err:
        ogfr.load(evil)
    assert not marker.exists()
    no_unpickling_advice(str(err.value))


def _resized(ckpt: Path, out: Path) -> Path:
    """``ckpt`` with its config saying model.embed_dim=32 while its tensors stay 64 wide."""
    from ogfr.engine.checkpoint import load_checkpoint, save_checkpoint

    data = load_checkpoint(ckpt)
    data["config"]["model"]["embed_dim"] = 32
    return save_checkpoint(out, {k: v for k, v in data.items() if k not in ("format", "version")})


@pytest.mark.parametrize("command", list(ENTRY_POINTS))
def test_tensors_of_another_model_size_are_refused(command, synth_root, ckpt, index, tmp_path, capsys):
    """Issue 13 item 4: `RuntimeError: size mismatch` tracebacks in eval / index / export."""
    bad = _resized(ckpt, tmp_path / "resized.pt")
    out = tmp_path / "out"
    err = refused(capsys, ENTRY_POINTS[command](bad, synth_root, out, index), f"{bad}: weights do not fit")
    assert "other shapes" in err and "(1, 1, 64) in the file, (1, 1, 32) in the model" in err
    assert not out.exists()


def test_other_checkpoint_refusals_hold(synth_root, ckpt, tmp_path, capsys):
    """Cases that already ended in a clear error: truncated, random bytes, a folder, a missing file."""
    cut = tmp_path / "cut.pt"
    cut.write_bytes(ckpt.read_bytes()[:1000])
    noise = tmp_path / "noise.pt"
    noise.write_bytes(bytes(range(256)) * 8)
    for bad, needle in (
        (cut, f"{cut}: not a readable ogfr checkpoint (truncated"),
        (noise, f"{noise}: not a readable ogfr checkpoint"),
        (tmp_path, "is a folder"),
        (tmp_path / "absent.pt", "checkpoint not found"),
    ):
        refused(capsys, ["eval", "--checkpoint", bad, "--dataset", synth_root], needle)
    plain = tmp_path / "imagenet.pth"
    torch.save({"blocks.0.norm1.weight": torch.ones(64)}, plain)
    refused(capsys, ["export", "--checkpoint", plain, "--out", tmp_path / "m.onnx"], "train.pretrained")


def test_a_label_cache_error_in_eval_names_the_labels_flag(data, ckpt, tmp_path, capsys):
    """Issue 13 item 10: the message named `parsing.cache`, a training setting, where eval's flag is --labels."""
    labels = tmp_path / "labels64"
    argv = ["parse", "--dataset", data, "--backend", "synthetic", "--out", labels, "--label-size", "64x32"]
    assert main([str(a) for a in [*argv, "--no-progress"]]) == 0
    err = refused(capsys, ["eval", "--checkpoint", ckpt, "--dataset", data, "--labels", labels], str(labels))
    assert "set --labels to another folder" in err and "parsing.cache" not in err


def test_eval_refusals_that_hold(data, ckpt, tmp_path, capsys):
    """A missing data set folder, a camera the model was not built for, a batch size of 0."""
    refused(capsys, ["eval", "--checkpoint", ckpt, "--dataset", tmp_path / "nowhere"], "no such folder")
    refused(capsys, ["eval", "--checkpoint", ckpt, "--dataset", data, "--batch", "0"], "--batch must be >= 1")
    first = sorted((data / "query").iterdir())[0]
    first.rename(first.with_name("0001_c9s1_000001_00.jpg"))
    refused(capsys, ["eval", "--checkpoint", ckpt, "--dataset", data], "camera id 8", "3 cameras")


@pytest.mark.parametrize("command", ["index", "export"])
def test_out_under_a_regular_file_is_refused(command, synth_root, ckpt, index, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    argv = ENTRY_POINTS[command](ckpt, synth_root, blocker / "sub", index)
    refused(capsys, argv, str(blocker), "is a file, not a folder")
    assert sorted(tmp_path.iterdir()) == [blocker] and blocker.read_text() == "a file"

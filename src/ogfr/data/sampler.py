"""P x K identity sampler (paper: 64 = 16 identities x 4 images), deterministic and DDP aware."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class PKSampler(Sampler[int]):
    """Yields dataset indices in batches of ``p`` distinct identities x ``k`` images each.

    Every epoch each identity is cut into chunks of ``k`` images (an identity with fewer than ``k``
    images gives one chunk drawn with replacement); chunks are dealt into a fixed number of batches so
    that no identity appears twice in one batch. The batch list of an epoch is a pure function of
    ``(seed, epoch)``; with ``world_size > 1`` rank ``r`` takes batches ``r, r + world_size, ...`` so the
    shares are disjoint and equally long. Use ``DataLoader(batch_size=sampler.batch_size,
    sampler=sampler, drop_last=True)`` and call ``set_epoch`` before each epoch.
    """

    def __init__(
        self, pids: Sequence[int], p: int, k: int, seed: int = 0, rank: int = 0, world_size: int = 1
    ) -> None:
        if p < 1 or k < 1:
            raise ValueError(f"p and k must be >= 1, got p={p}, k={k}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise ValueError(f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.p, self.k, self.seed, self.rank, self.world_size = p, k, seed, rank, world_size
        self.epoch = 0
        groups: dict[int, list[int]] = {}
        for index, pid in enumerate(pids):
            groups.setdefault(int(pid), []).append(index)
        if len(groups) < p:
            raise ValueError(f"PKSampler needs at least p={p} identities, the data has {len(groups)}")
        self._pids = sorted(groups)
        self._groups = [np.asarray(groups[pid], dtype=np.int64) for pid in self._pids]
        self._chunks = self._chunk_counts()
        self.num_batches = sum(self._chunks) // p  # global batches per epoch
        self.batches_per_rank = self.num_batches // world_size
        if self.batches_per_rank < 1:
            raise ValueError(
                f"{len(groups)} identities give {self.num_batches} batches of {p}x{k}: fewer than "
                f"world_size={world_size}; lower p or k"
            )

    def _chunk_counts(self) -> list[int]:
        """Chunks per identity, capped so that no identity needs two slots in one batch."""
        counts = [max(1, len(g) // self.k) for g in self._groups]
        batches = sum(counts) // self.p
        while True:  # capping lowers the total, which can lower the cap: iterate to the fixed point
            capped = [min(c, batches) for c in counts]
            new = sum(capped) // self.p
            if new == batches:
                return capped
            batches = new

    @property
    def batch_size(self) -> int:
        """The DataLoader batch size this sampler is built for: ``p * k``."""
        return self.p * self.k

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches `__iter__` yields."""
        if epoch < 0:
            raise ValueError(f"epoch must be >= 0, got {epoch}")
        self.epoch = epoch

    def global_batches(self, epoch: int) -> np.ndarray:
        """All ranks' batches of ``epoch`` as a ``(num_batches, p * k)`` index array."""
        rng = np.random.default_rng((self.seed, epoch))
        chunks: list[np.ndarray] = []
        for ident in rng.permutation(len(self._groups)):  # identities in random order, chunks contiguous
            group, count = self._groups[ident], self._chunks[ident]
            if len(group) < self.k:
                chunks.append(rng.choice(group, size=self.k, replace=True))
            else:
                chunks.extend(rng.permutation(group)[: count * self.k].reshape(count, self.k))
        n = self.num_batches
        chunks = chunks[: n * self.p]
        # Chunk i goes to batch i % n: an identity's <= n contiguous chunks land in distinct batches.
        table = np.stack(chunks).reshape(self.p, n, self.k)  # (P, num_batches, K)
        batches = table.transpose(1, 0, 2).reshape(n, self.p * self.k)  # (num_batches, P*K)
        return batches[rng.permutation(n)]

    def rank_batches(self, epoch: int) -> np.ndarray:
        """This rank's ``(batches_per_rank, p * k)`` share of ``epoch``."""
        batches = self.global_batches(epoch)
        return batches[self.rank :: self.world_size][: self.batches_per_rank]

    def __iter__(self) -> Iterator[int]:
        return iter(self.rank_batches(self.epoch).reshape(-1).tolist())

    def __len__(self) -> int:
        return self.batches_per_rank * self.batch_size

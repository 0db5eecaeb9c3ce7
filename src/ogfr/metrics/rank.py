"""CMC / mAP / mINP with the Market-1501 protocol, streamed over blocks of query rows.

Only the ranks of the true matches are needed: for each query, the valid negatives of its row are
sorted (values only, no argsort) and every positive is located in them with a binary search, so a
positive's rank = (positives before it) + (negatives closer than it). Ties between a positive and a
negative are resolved as the reference implementations (torchreid, fast-reid) resolve them, i.e. by
numpy's ``argsort`` of the row (``ties="numpy"``), or by gallery index (``ties="stable"``); see
:class:`RankOptions`.
"""

from __future__ import annotations

import typing
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from ogfr.metrics._checks import check_rerank_params
from ogfr.metrics.distance import Metric
from ogfr.metrics.results import RankResults

ApKind = Literal["standard", "trapezoid"]
TiesKind = Literal["numpy", "stable"]

# A tie (positive vs negative at the same distance) whose possible effect on a query's AP or INP is
# at most this is settled by the midpoint of the two outcomes instead of a numpy argsort of the row.
TIE_TOLERANCE = 1e-7


@dataclass(frozen=True)
class RankOptions:
    """How query and gallery are compared and how the queries are scored: the one options object of
    :func:`ogfr.metrics.evaluate` and :func:`ogfr.metrics.evaluate_distmat`.

    Scoring protocol:
        max_rank: length of the CMC curve (cut to the gallery size, as torchreid).
        camera_filter: drop gallery items with the query's id AND camera (Market-1501 protocol);
            False for data sets without cameras (then nothing is dropped but junk).
        junk_pid: gallery items with this id are dropped, queries with it are skipped; None keeps all
            (torchreid's behaviour: junk is expected to be removed when loading).
        ap: ``"standard"`` (mean of the precision at each hit, as torchreid / fast-reid) or
            ``"trapezoid"`` (the Market-1501 MATLAB code's interpolated variant).
        ties: ``"numpy"``: a positive and a negative at exactly the same distance come in the order
            numpy's default ``argsort`` puts them, i.e. as torchreid / fast-reid see them (CMC
            identical; AP and INP identical or, where a tie can move them by at most TIE_TOLERANCE,
            the midpoint); ``"stable"``: the lower gallery index comes first (machine independent).
        cuhk03: single-gallery-shot CMC (one random image per gallery identity, 10 repeats, as
            torchreid); AP and INP as usual. Slow (a Python loop per query), like the references.
        seed: seed of the cuhk03 sampling (ignored otherwise).
    Distances from features (``evaluate``; a given distance matrix is used as it is):
        use_parts: eq. 25 when both sides have part features, else the global feature.
        metric: ``"euclidean"`` (the paper's D) or ``"cosine"``.
    k-reciprocal re-ranking (:mod:`ogfr.metrics.rerank`):
        rerank: apply it; k1, k2, lambda_value: its parameters (Zhong et al.'s 20, 6, 0.3).
    How the work is done (not part of the protocol, not recorded in the results):
        chunk_size: query rows per block (None: about 2^24 distances per block).
        device: where the distance blocks are computed (None: where the inputs are).
        progress: a progress bar over the blocks.
    """

    max_rank: int = 50
    camera_filter: bool = True
    junk_pid: int | None = -1
    ap: ApKind = "standard"
    ties: TiesKind = "numpy"
    cuhk03: bool = False
    seed: int = 0
    use_parts: bool = True
    metric: Metric = "euclidean"
    rerank: bool = False
    k1: int = 20
    k2: int = 6
    lambda_value: float = 0.3
    chunk_size: int | None = None
    device: str | torch.device | None = None
    progress: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.max_rank, int) or self.max_rank < 1:
            raise ValueError(f"max_rank: expected an integer >= 1, got {self.max_rank!r}")
        for name, kind in (("ap", ApKind), ("ties", TiesKind), ("metric", Metric)):
            choices = typing.get_args(kind)
            if getattr(self, name) not in choices:
                raise ValueError(f"{name}: expected one of {choices}, got {getattr(self, name)!r}")
        if self.chunk_size is not None and (
            not isinstance(self.chunk_size, int) or isinstance(self.chunk_size, bool) or self.chunk_size < 1
        ):
            raise ValueError(f"chunk_size: expected a positive integer or None, got {self.chunk_size!r}")
        check_rerank_params(self.k1, self.k2, self.lambda_value)

    def settings(self, distance: str) -> dict[str, Any]:
        """What made the numbers, as recorded in ``RankResults.settings`` (``distance``: eq25, global,
        given); the re-ranking parameters only when re-ranked."""
        out: dict[str, Any] = {"distance": distance}
        if distance != "given":
            out["metric"] = self.metric
        out.update(
            rerank=self.rerank,
            max_rank=self.max_rank,
            cuhk03=self.cuhk03,
            camera_filter=self.camera_filter,
            ap=self.ap,
            ties=self.ties,
            junk_pid=self.junk_pid,
        )
        if self.rerank:
            out.update(k1=self.k1, k2=self.k2, lambda_value=self.lambda_value)
        return out


def _sorted_negatives(dist: Tensor, same: np.ndarray, same_ok: np.ndarray, junk: np.ndarray | None) -> Tensor:
    """Each row with its non-negatives set to +inf, sorted ascending (values only).

    Non-negatives: the gallery items of the query's own id (``same`` (Qc, P) indices where ``same_ok``)
    and the junk columns. CPU: numpy's SIMD sort on small row blocks (cache-friendly), rows split over
    threads (numpy releases the GIL). GPU: torch.sort.
    """
    rr, cc = np.nonzero(same_ok)
    cc = same[rr, cc]
    if dist.device.type != "cpu":
        x = dist.clone()
        x[torch.from_numpy(rr).to(x.device), torch.from_numpy(cc).to(x.device)] = float("inf")
        if junk is not None:
            x[:, torch.from_numpy(junk).to(x.device)] = float("inf")
        return torch.sort(x, dim=1).values
    d = dist.contiguous().numpy()
    out = d.copy()
    out[rr, cc] = np.inf
    if junk is not None:
        out[:, junk] = np.inf

    def work(lo: int, hi: int) -> None:
        out[lo:hi].sort(axis=1)

    n = max(1, min(torch.get_num_threads(), d.shape[0] // 16))
    if n == 1:
        work(0, d.shape[0])
    else:
        bounds = np.linspace(0, d.shape[0], n + 1).astype(int)
        with ThreadPoolExecutor(n) as ex:
            list(ex.map(lambda i: work(bounds[i], bounds[i + 1]), range(n)))
    return torch.from_numpy(out)


def _scores(r: Tensor, valid: Tensor, npos: Tensor, ap: str) -> tuple[Tensor, Tensor]:
    """AP and INP per row from the 0-based ranks ``r`` (Qc, P) of the sorted positives (float64)."""
    r = r.to(torch.float64)
    k = torch.arange(1, r.shape[1] + 1, dtype=torch.float64, device=r.device)  # hits so far
    prec = k / (r + 1.0)  # precision at each hit
    if ap == "trapezoid":
        prev = torch.where(r > 0, (k - 1.0) / r.clamp(min=1.0), torch.ones_like(r))  # precision just before
        prec = 0.5 * (prec + prev)
    n = npos.to(torch.float64)
    ap_ = torch.where(valid, prec, torch.zeros_like(prec)).sum(1) / n
    last = r.gather(1, (npos - 1).clamp(min=0).unsqueeze(1)).squeeze(1)
    return ap_, n / (last + 1.0)


@dataclass
class RankAccumulator:
    """Scores blocks of rows of a (Q, G) distance matrix, then :meth:`result` gives the totals."""

    q_pids: np.ndarray
    g_pids: np.ndarray
    q_camids: np.ndarray
    g_camids: np.ndarray
    opts: RankOptions = field(default_factory=RankOptions)

    def __post_init__(self) -> None:
        nq, ng = len(self.q_pids), len(self.g_pids)
        if nq == 0:
            raise ValueError("q_pids: no queries (empty)")
        if ng == 0:
            raise ValueError("g_pids: empty gallery")
        if len(self.q_camids) != nq:
            raise ValueError(f"q_camids: expected {nq} camera ids like q_pids, got {len(self.q_camids)}")
        if len(self.g_camids) != ng:
            raise ValueError(f"g_camids: expected {ng} camera ids like g_pids, got {len(self.g_camids)}")
        self.max_rank = min(self.opts.max_rank, ng)
        # Gallery grouped by id (stable: ascending gallery index inside a group).
        self._g_order = np.argsort(self.g_pids, kind="stable")
        uniq, start, count = np.unique(self.g_pids[self._g_order], return_index=True, return_counts=True)
        if self.opts.junk_pid is not None:
            count = np.where(uniq == self.opts.junk_pid, 0, count)
        pos = np.clip(np.searchsorted(uniq, self.q_pids), 0, len(uniq) - 1)
        found = uniq[pos] == self.q_pids
        self._q_start = np.where(found, start[pos], 0)
        self._q_count = np.where(found, count[pos], 0)
        self._first_hist = np.zeros(self.max_rank + 1, dtype=np.int64)
        self._ap = np.full(nq, np.nan)
        self._inp = np.full(nq, np.nan)
        self._seen = np.zeros(nq, dtype=bool)
        self._cuhk_cmc: list[np.ndarray] = []
        self._cuhk_len = self.max_rank
        self._rng = np.random.RandomState(self.opts.seed)
        junk = None if self.opts.junk_pid is None else np.flatnonzero(self.g_pids == self.opts.junk_pid)
        self._junk_cols = junk if junk is not None and junk.size else None

    def _same_id(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """Gallery indices (Qc, P) of the items with each query's id (ascending) and their mask."""
        start, count = self._q_start[rows], self._q_count[rows]
        p = int(count.max()) if count.size else 0
        ar = np.arange(max(p, 1))
        valid = ar[None, :] < count[:, None]
        return self._g_order[np.minimum(start[:, None] + ar[None, :], len(self.g_pids) - 1)], valid

    def _positives(self, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        """Gallery indices (Qc, P) of each query's valid true matches, ascending, and their mask."""
        pidx, valid = self._same_id(rows)
        valid = valid.copy()
        if self.opts.camera_filter:
            valid &= self.g_camids[pidx] != self.q_camids[rows][:, None]
        # Compact the valid ones to the left, keeping ascending gallery order.
        key = np.where(valid, pidx, len(self.g_pids))
        key.sort(axis=1)
        valid = key < len(self.g_pids)
        return np.where(valid, key, 0), valid

    def add(self, rows: slice, dist: Tensor) -> None:
        """Score queries ``rows`` (a slice with step 1) given their (Qc, G) distance rows."""
        qc = rows.stop - rows.start
        dist = dist.detach()
        if dist.dtype not in (torch.float32, torch.float64):  # half precision: scored in float32
            dist = dist.float()
        if dist.dim() != 2 or dist.shape != (qc, len(self.g_pids)):
            raise ValueError(
                f"distances: expected a block of shape {(qc, len(self.g_pids))}, got {tuple(dist.shape)}"
            )
        if self._seen[rows].any():
            raise ValueError(f"rows {rows.start}:{rows.stop} were already scored")
        self._seen[rows] = True
        pidx_np, valid_np = self._positives(rows)
        npos_np = valid_np.sum(1)
        if self.opts.cuhk03:
            self._add_exact(rows, dist, pidx_np, valid_np, range(qc), cuhk03=True)
            return
        if not npos_np.any():
            return
        dev = dist.device
        srt = _sorted_negatives(dist, *self._same_id(rows), self._junk_cols).to(dev)
        pidx = torch.from_numpy(pidx_np).to(dev)
        valid = torch.from_numpy(valid_np).to(dev)
        dps = dist.gather(1, pidx).masked_fill(~valid, float("inf"))
        dps = torch.sort(dps, dim=1).values.contiguous()  # (Qc, P) positive distances, ascending
        lo = torch.searchsorted(srt, dps)  # negatives strictly closer
        hi = torch.searchsorted(srt, dps, right=True)  # negatives closer or equal
        del srt
        k = torch.arange(dps.shape[1], device=dev).unsqueeze(0)
        npos = torch.from_numpy(npos_np).to(dev)
        r_opt, r_pes = k + lo, k + hi
        ap_o, inp_o = _scores(r_opt, valid, npos, self.opts.ap)
        first_o = r_opt[:, 0]
        tied = ((hi > lo) & valid).any(1) & (npos > 0)
        ap_o, inp_o, first_o = ap_o.cpu().numpy(), inp_o.cpu().numpy(), first_o.cpu().numpy()
        exact: list[int] = []
        if bool(tied.any()):
            ap_p, inp_p = _scores(r_pes, valid, npos, self.opts.ap)
            ap_p, inp_p, first_p = ap_p.cpu().numpy(), inp_p.cpu().numpy(), r_pes[:, 0].cpu().numpy()
            tied_np = tied.cpu().numpy()
            if self.opts.ties == "numpy":
                need = tied_np & (
                    (np.abs(ap_o - ap_p) > TIE_TOLERANCE)
                    | (np.abs(inp_o - inp_p) > TIE_TOLERANCE)
                    | ((first_o != first_p) & (first_o < self.max_rank))
                )
                soft = tied_np & ~need
                ap_o = np.where(soft, 0.5 * (ap_o + ap_p), ap_o)
                inp_o = np.where(soft, 0.5 * (inp_o + inp_p), inp_o)
            else:
                need = tied_np
            exact = np.flatnonzero(need).tolist()
        ok = npos_np > 0
        ok[exact] = False
        idx = np.arange(rows.start, rows.stop)
        self._ap[idx[ok]] = ap_o[ok]
        self._inp[idx[ok]] = inp_o[ok]
        np.add.at(self._first_hist, np.minimum(first_o[ok], self.max_rank), 1)
        if exact:
            self._add_exact(rows, dist, pidx_np, valid_np, exact, cuhk03=False)

    def _add_exact(
        self, rows: slice, dist: Tensor, pidx: np.ndarray, valid: np.ndarray, which: Any, cuhk03: bool
    ) -> None:
        """Per-row path with a full argsort: tie resolution and the cuhk03 single-shot CMC."""
        kind = "stable" if self.opts.ties == "stable" else None
        drop = np.zeros(len(self.g_pids), dtype=bool)
        for i in which:
            q = rows.start + i
            pos = np.zeros(len(self.g_pids), dtype=bool)
            pos[pidx[i][valid[i]]] = True
            if not pos.any():
                continue
            qpid = self.q_pids[q]
            drop[:] = self.g_pids == qpid
            drop &= ~pos
            if self.opts.junk_pid is not None:
                drop |= self.g_pids == self.opts.junk_pid
            order = np.argsort(dist[i].cpu().numpy(), kind=kind)
            order = order[~drop[order]]  # kept gallery items, closest first
            hits = pos[order]
            r = np.flatnonzero(hits)  # 0-based ranks of the true matches
            n = len(r)
            ap, inp = _scores(
                torch.from_numpy(r)[None], torch.ones(1, n, dtype=torch.bool), torch.tensor([n]), self.opts.ap
            )
            self._ap[q], self._inp[q] = float(ap[0]), float(inp[0])
            if not cuhk03:
                self._first_hist[min(int(r[0]), self.max_rank)] += 1
                continue
            groups: dict[int, list[int]] = {}
            for j, pid in enumerate(self.g_pids[order].tolist()):
                groups.setdefault(pid, []).append(j)
            cmc = np.zeros(self.max_rank, dtype=np.float32)
            for _ in range(10):
                mask = np.zeros(len(order), dtype=bool)
                for members in groups.values():
                    mask[self._rng.choice(members)] = True
                c = np.minimum(hits[mask].cumsum(), 1)[: self.max_rank].astype(np.float32)
                cmc[: len(c)] += c
                cmc[len(c) :] += c[-1] if len(c) else 0
            self._cuhk_cmc.append(cmc / 10)
            # torchreid's curve is as long as the sampled list: one item per identity
            self._cuhk_len = min(self._cuhk_len, len(groups))

    def result(self, settings: dict[str, Any] | None = None) -> RankResults:
        """Totals over all scored rows; raises when no query had a valid match."""
        nq = len(self.q_pids)
        if not self._seen.all():
            raise ValueError(f"only {int(self._seen.sum())} of {nq} query rows were scored")
        ok = ~np.isnan(self._ap)
        num_valid = int(ok.sum())
        if num_valid == 0:
            raise ValueError(
                "no query has a valid match in the gallery (after dropping same id + same camera "
                "and junk): check q_pids / g_pids / camera ids"
            )
        if self.opts.cuhk03:
            cmc = np.asarray(self._cuhk_cmc, dtype=np.float32)[:, : self._cuhk_len].sum(0) / np.float32(
                num_valid
            )
        else:
            cmc = np.cumsum(self._first_hist[: self.max_rank]).astype(np.float32) / np.float32(num_valid)
        return RankResults(
            cmc=cmc.astype(np.float32),
            mAP=float(np.mean(self._ap[ok])),
            mINP=float(np.mean(self._inp[ok])),
            num_queries=nq,
            num_skipped=nq - num_valid,
            settings=dict(settings or {}),
        )

    def per_query(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-query AP and INP (NaN for skipped queries)."""
        return self._ap.copy(), self._inp.copy()

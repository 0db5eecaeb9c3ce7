"""`RankResults`: the numbers of one retrieval evaluation, printable as a table and savable as JSON."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ogfr.io import atomic_write_json


@dataclass(frozen=True)
class RankResults:
    """CMC / mAP / mINP over the valid queries (fractions in [0, 1], not percentages).

    Attributes:
        cmc: (max_rank,) float32 CMC curve; ``cmc[k]`` = fraction of valid queries whose first true
            match is within the top k + 1.
        mAP: mean average precision. mINP: mean inverse negative penalty (Ye et al., as fast-reid).
        num_queries: queries given. num_skipped: queries with no valid gallery match (not averaged).
        settings: how the numbers were made (metric, parts, rerank, ap, ties, ...), saved in the JSON.
    """

    cmc: np.ndarray
    mAP: float
    mINP: float
    num_queries: int
    num_skipped: int
    settings: dict[str, Any] = field(default_factory=dict)

    def rank(self, k: int) -> float:
        """Rank-k accuracy (CMC at k, 1-based); beyond a short curve the last value is used."""
        if k < 1:
            raise ValueError(f"k: expected a rank >= 1, got {k}")
        return float(self.cmc[min(k, len(self.cmc)) - 1])

    @property
    def rank1(self) -> float:
        return self.rank(1)

    @property
    def rank5(self) -> float:
        return self.rank(5)

    @property
    def rank10(self) -> float:
        return self.rank(10)

    @property
    def rank20(self) -> float:
        return self.rank(20)

    @property
    def num_valid(self) -> int:
        return self.num_queries - self.num_skipped

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict: the headline numbers, the counts, the CMC curve and the settings."""
        return {
            "rank1": self.rank1,
            "rank5": self.rank5,
            "rank10": self.rank10,
            "rank20": self.rank20,
            "mAP": float(self.mAP),
            "mINP": float(self.mINP),
            "num_queries": int(self.num_queries),
            "num_skipped": int(self.num_skipped),
            "cmc": [float(x) for x in self.cmc],
            "settings": dict(self.settings),
        }

    def to_json(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`as_dict` to ``path`` atomically (temp file in the same folder + os.replace)."""
        return atomic_write_json(path, self.as_dict(), mkdir=False)

    def _rows(self) -> list[tuple[str, str]]:
        return [
            ("Rank-1", f"{100 * self.rank1:.2f}"),
            ("Rank-5", f"{100 * self.rank5:.2f}"),
            ("Rank-10", f"{100 * self.rank10:.2f}"),
            ("Rank-20", f"{100 * self.rank20:.2f}"),
            ("mAP", f"{100 * self.mAP:.2f}"),
            ("mINP", f"{100 * self.mINP:.2f}"),
            ("queries", str(self.num_queries)),
            ("skipped (no match)", str(self.num_skipped)),
        ]

    def table(self, rich: bool = True, title: str = "Retrieval results (%)") -> Any:
        """A ``rich.table.Table`` (``rich=True``) or the same as plain text."""
        rows = self._rows()
        if rich:
            from rich.table import Table

            t = Table(title=title)
            t.add_column("metric")
            t.add_column("value", justify="right")
            for name, value in rows:
                t.add_row(name, value)
            return t
        width = max(len(n) for n, _ in rows)
        lines = [title] + [f"{n.ljust(width)}  {v:>8}" for n, v in rows]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table(rich=False)

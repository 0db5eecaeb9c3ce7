"""``metrics.jsonl``: one JSON object per line, rewritten atomically (the file is small)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ogfr.io import atomic_write_text

__all__ = ["read_rows", "write_rows"]


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a JSONL file ([] when it does not exist); a damaged line is an error naming the file."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}, line {n}: not JSON ({err})") from err
    return rows


def write_rows(path: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> Path:
    """Write ``rows`` as JSONL through a temp file and os.replace."""
    return atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))

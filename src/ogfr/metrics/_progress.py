"""A progress bar over blocks of query rows, shared by evaluation and re-ranking."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import Progress


@contextmanager
def block_progress(total: int, enabled: bool, what: str) -> Iterator[Callable[[], None]]:
    """Yields ``step()`` to call after each of ``total`` blocks (a no-op when disabled or one block)."""
    if not enabled or total <= 1:
        yield lambda: None
        return
    with Progress(transient=True) as bar:
        task = bar.add_task(what, total=total)
        yield lambda: bar.advance(task)

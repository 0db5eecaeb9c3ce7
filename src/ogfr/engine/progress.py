"""A rich progress bar per epoch showing loss, learning rate and images/s."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["EpochBar", "epoch_progress"]


class EpochBar:
    """Handle returned by :func:`epoch_progress`; ``advance`` after each optimizer step."""

    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, loss: float, lr: float, rate: float) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, advance=1, loss=f"{loss:.4f}", lr=f"{lr:.2e}", rate=f"{rate:.1f}"
            )


@contextmanager
def epoch_progress(epoch: int, epochs: int, total: int, enabled: bool = True) -> Iterator[EpochBar]:
    """Progress bar ``epoch i/n`` over ``total`` steps (a no-op handle when disabled)."""
    if not enabled:
        yield EpochBar(None, None)
        return
    columns = (
        TextColumn(f"epoch {epoch}/{epochs}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}  lr {task.fields[lr]}  {task.fields[rate]} img/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns) as progress:
        task = progress.add_task("train", total=total, loss="-", lr="-", rate="-")
        yield EpochBar(progress, task)

"""A progress bar on stderr for long model runs (rich), or nothing when disabled."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


class _Silent:
    def advance(self, steps: int = 1) -> None:
        pass


class _Bar:
    def __init__(self, progress, task):
        self.progress, self.task = progress, task

    def advance(self, steps: int = 1) -> None:
        self.progress.advance(self.task, steps)


@contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator[_Bar | _Silent]:
    """A bar counting to `total`; `bar.advance(k)` moves it. Silent when not `enabled`."""
    if not enabled:
        yield _Silent()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("{task.description}", markup=False),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield _Bar(progress, progress.add_task(description, total=total))

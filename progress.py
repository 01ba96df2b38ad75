"""The one progress bar of headcode: rich, on stderr, or nothing when disabled.

    with progress_bar(total, "scoring", enabled) as bar:
        bar.advance(k)          # k more steps done
        bar.say("heads 0.1")    # a short status beside the bar
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol


class Bar(Protocol):
    """What long work reports to: steps done, and a status line."""

    def advance(self, steps: int = 1) -> None: ...

    def say(self, message: str) -> None: ...


class _Silent:
    def advance(self, steps: int = 1) -> None:
        pass

    def say(self, message: str) -> None:
        pass


class _Bar:
    def __init__(self, progress, task):
        self.progress, self.task = progress, task

    def advance(self, steps: int = 1) -> None:
        self.progress.advance(self.task, steps)

    def say(self, message: str) -> None:
        self.progress.update(self.task, status=message)


@contextmanager
def progress_bar(total: int, description: str, enabled: bool = True) -> Iterator[Bar]:
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
        TextColumn("{task.fields[status]}", markup=False),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        yield _Bar(progress, progress.add_task(description, total=total, status=""))

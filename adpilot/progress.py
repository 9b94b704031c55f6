"""Progress bars on stderr, the same on every command and benchmark (rich's, on stderr so
stdout stays the command's answer).

On a terminal the bar moves; elsewhere (a pipe, a CI log) rich draws it once, finished,
when the work is done. An error takes the bar away, so the error is the line a person
reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)


def stderr_console() -> Console:
    return Console(stderr=True)


@contextmanager
def progress_bar(console: Console | None = None) -> Iterator[Progress]:
    """A rich progress display; add a task per stage (``bar.add_task("backfill", total=n)``)."""
    bar = Progress(
        TextColumn("{task.description:<10}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[note]}"),
        console=console or stderr_console(),
    )
    with bar:
        try:
            yield bar
        except BaseException:
            bar.live.transient = True
            raise


def add_task(bar: Progress, description: str, total: int, note: str = "") -> TaskID:
    """A task whose ``note`` field (shown after the timer) can be updated as work goes."""
    return bar.add_task(description, total=total, note=note)

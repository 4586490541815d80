"""Progress bars for long steps (embedding, model search), on stderr, off with ``verbose=0``."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def progress_bar(description: str, total: int, verbose: int) -> Iterator[Callable[[int], None]]:
    """Yield ``advance(n)``; draws a rich progress bar when ``verbose`` and the work is not trivially small."""
    if not verbose or total <= 0:
        yield lambda n: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


@contextmanager
def status_bar(description: str, total: int, verbose: int, remaining: bool = False
               ) -> Iterator[Callable[[int, str], None]]:
    """Yield ``update(n, status)``: advances the bar by ``n`` and shows ``status`` beside it (epochs, best score);
    with ``remaining``, an estimate of the time left (from the pace so far) too."""
    if not verbose or total <= 0:
        yield lambda n, status: None
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

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               *((TextColumn("left"), TimeRemainingColumn()) if remaining else ()), TextColumn("{task.fields[status]}"))
    with Progress(*columns, console=Console(stderr=True), transient=False) as bar:
        task = bar.add_task(description, total=total, status="")
        yield lambda n, status: bar.update(task, advance=n, status=status)
        bar.update(task, completed=total)  # finished: what the plan counted and did not need is done too


def scored_note(result: Any) -> str:
    """The progress bar's note after a candidate: which one was just scored, and how well."""
    c = result.candidate
    score = f" {result.estimate.mean:.2f}" if getattr(result, "estimate", None) is not None else f" ({result.status})"
    return f"last: {c.backbone} + {c.learner}{' + augmented' if c.augment else ''}{score}"

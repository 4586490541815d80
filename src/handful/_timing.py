"""Seconds per stage of a fit: where the time goes (reading, embedding per backbone, each candidate, saving...).

``recording()`` makes a :class:`Timings` the active one for the code below it; ``stage(name)`` anywhere underneath
adds the seconds of its block to it. Stages nest: a stage opened inside another is stored under
``"outer/inner"``, so a parent's seconds include its children's. With nothing recording, ``stage`` costs one
context-variable lookup, so library code can mark its stages unconditionally.

Example:
    >>> with recording() as timings:
    ...     with stage("embed"):
    ...         with stage("decode"):
    ...             pass
    >>> sorted(timings.seconds)
    ['embed', 'embed/decode']
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field


@dataclass
class Timings:
    """Seconds per stage path (``"search/cv lite0+linear"``), in the order the stages first started."""

    seconds: dict[str, float] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds of this process (all its threads)
    _path: list[str] = field(default_factory=list, repr=False)

    def add(self, name: str, seconds: float) -> None:
        """Add ``seconds`` to stage ``name`` under the stage now open (for work timed elsewhere, e.g. a worker)."""
        key = "/".join([*self._path, name])
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds

    def as_dict(self) -> dict[str, float]:
        """The stages' wall seconds rounded to milliseconds, ready for a JSON manifest."""
        return {name: round(value, 3) for name, value in self.seconds.items()}

    def cpu_dict(self) -> dict[str, float]:
        """The stages' CPU seconds in this process (work in worker processes is not in it), rounded."""
        return {name: round(value, 3) for name, value in self.cpu.items()}


_active: ContextVar[Timings | None] = ContextVar("handful_timings", default=None)


@contextmanager
def recording(timings: Timings | None = None) -> Iterator[Timings]:
    """Make ``timings`` (a new :class:`Timings` when ``None``) the one ``stage`` records into, for this block."""
    timings = Timings() if timings is None else timings
    token = _active.set(timings)
    try:
        yield timings
    finally:
        _active.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Count the seconds of this block as stage ``name`` of the recording in progress, if any."""
    timings = _active.get()
    if timings is None:
        yield
        return
    timings._path.append(name)
    key = "/".join(timings._path)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        timings.seconds[key] = timings.seconds.get(key, 0.0) + time.perf_counter() - start
        timings.cpu[key] = timings.cpu.get(key, 0.0) + time.process_time() - cpu
        timings._path.pop()


def current() -> Timings | None:
    """The recording in progress, or ``None``."""
    return _active.get()


def add(name: str, seconds: float) -> None:
    """Add ``seconds`` timed elsewhere (e.g. in a worker process) as stage ``name`` of the recording, if any."""
    timings = _active.get()
    if timings is not None:
        timings.add(name, seconds)


def table(seconds: dict[str, float], total: float | None = None) -> list[tuple[str, float, float | None]]:
    """Rows ``(indented stage name, seconds, share of total)`` in recording order, children under their parent;
    a parent's time outside its children, when over 1% of the total, is the row ``(other)`` under it.

    ``total`` defaults to the sum of the top-level stages.
    """
    if total is None:
        total = sum(value for name, value in seconds.items() if "/" not in name)
    seconds = dict(seconds)
    for parent in list(seconds):  # what a parent spent outside its children (start-up, waiting, bookkeeping)
        children = [v for k, v in seconds.items() if k.startswith(parent + "/") and "/" not in k[len(parent) + 1:]]
        rest = seconds[parent] - sum(children)
        if children and total and rest > 0.01 * total:
            seconds[f"{parent}/(other)"] = rest
    order = sorted(seconds, key=lambda name: _parents_first(name, list(seconds)))
    return [("  " * name.count("/") + name.rsplit("/", 1)[-1], seconds[name],
             seconds[name] / total if total else None) for name in order]


def paths(rows: list[tuple[str, float, float | None]]) -> list[str]:
    """The stage path (``"search/cv a+linear"``) of each row of :func:`table`, to look up other figures by."""
    path: list[str] = []
    found = []
    for name, _, _ in rows:
        depth = (len(name) - len(name.lstrip(" "))) // 2
        path = [*path[:depth], name.strip()]
        found.append("/".join(path))
    return found


def _parents_first(name: str, names: list[str]) -> tuple[int, ...]:
    """Sort key putting every stage right under its parent, siblings in recording order."""
    parts = name.split("/")
    return tuple(names.index("/".join(parts[: i + 1])) if "/".join(parts[: i + 1]) in names else len(names)
                 for i in range(len(parts)))

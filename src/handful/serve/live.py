"""Serve a model registry: each name's promoted version, swapped for a newly promoted one without a restart.

The app looks models up through :class:`RegistryModels`, a read-only mapping of name -> loaded model. Lookups
check the registry's promoted versions (one small SQLite read) at most once per ``interval`` seconds; when a
name's promoted version changed, the new one is loaded and swapped in as a whole new dictionary, so a request
sees either the old model or the new one, never half of each. A version that fails to load is logged and skipped
(the old one keeps serving) until the registry promotes something else.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator, Mapping, ValuesView
from pathlib import Path

from handful.artifacts.store import Registry
from handful.serve.served import Served, load_served

logger = logging.getLogger(__name__)

INTERVAL_S = 1.0


class RegistryModels(Mapping[str, Served]):
    """The promoted version of every name in the registry at ``root``, kept current while the server runs.

    Args:
        root: the registry root (holding ``registry.db``).
        interval: the most often, in seconds, that lookups check the registry for newly promoted versions.

    Raises:
        ValueError: ``root`` is not a registry, or none of its promoted versions can be loaded.

    Example:
        >>> models = RegistryModels("models")  # doctest: +SKIP
        >>> models["defects"].version  # doctest: +SKIP
        'v3'
    """

    def __init__(self, root: str | Path, interval: float = INTERVAL_S) -> None:
        self.registry = Registry(root)
        self.interval = interval
        self._models: dict[str, Served] = {}
        self._loaded: dict[str, int] = {}  # name -> version now served
        self._failed: dict[str, int] = {}  # name -> promoted version that would not load
        self._lock = threading.Lock()
        self._checked = float("-inf")
        self._problem = ""
        self.refresh(wait=True)
        if not self._models:
            raise ValueError(f"{self.registry.root} holds no promoted model that can be loaded"
                             + (f" ({self._problem})" if self._problem else "") + "; register one with "
                             f"handful train DATA --name NAME --root {self.registry.root}")

    def refresh(self, wait: bool = False) -> None:
        """Load newly promoted versions, drop names no longer registered; at most once per ``interval``.

        Lookups call it without waiting: while one request refreshes, the others go on with the models as they are.
        """
        if time.monotonic() - self._checked < self.interval:
            return
        if not self._lock.acquire(blocking=wait):
            return
        try:
            if time.monotonic() - self._checked < self.interval:
                return
            self._checked = time.monotonic()
            try:
                promoted = self.registry.promoted()
            except (sqlite3.Error, OSError, ValueError) as error:  # ValueError: a row refused (ModelFileError)
                self._problem = str(error)
                logger.warning("could not read the model registry %s (%s); serving the models as they are",
                               self.registry.root, error)
                return
            if all(self._loaded.get(n) == v.version for n, v in promoted.items()) and set(promoted) == set(
                    self._models):
                return
            models = {name: served for name, served in self._models.items() if name in promoted}
            for name, version in promoted.items():
                if self._loaded.get(name) == version.version or self._failed.get(name) == version.version:
                    continue
                try:
                    models[name] = load_served(name, version.path, f"v{version.version}")
                except (ValueError, OSError) as error:  # ModelFileError is a ValueError
                    self._failed[name] = version.version
                    kept = f"v{self._loaded[name]} keeps serving" if name in self._loaded else "it is not served"
                    logger.error("cannot load %s (%s); %s", version.label, error, kept)
                    continue
                self._failed.pop(name, None)
                if name in self._loaded:
                    logger.warning("now serving %s (was v%s)", version.label, self._loaded[name])
                self._loaded[name] = version.version
            for name in set(self._loaded) - set(models):
                logger.warning("%s is no longer registered; it is not served any more", name)
                del self._loaded[name]
            self._models = models
        finally:
            self._lock.release()

    def __getitem__(self, name: str) -> Served:
        return self._models[name]

    def __contains__(self, name: object) -> bool:
        self.refresh()
        return name in self._models

    def __iter__(self) -> Iterator[str]:
        self.refresh()
        return iter(list(self._models))

    def __len__(self) -> int:
        self.refresh()
        return len(self._models)

    def values(self) -> ValuesView[Served]:
        """The models served now (one consistent snapshot)."""
        self.refresh()
        return self._models.values()

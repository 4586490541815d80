"""Helpers for the hostile tests: hash a user's files before and after, and make a path unreadable for real."""

from __future__ import annotations

import hashlib
import os
import pathlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def snapshot(folder: Path) -> dict[str, str]:
    """Every file below ``folder`` (hidden ones too) by relative path -> SHA-256 of its bytes."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def unreadable(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """Make a file or folder unreadable: chmod 000, and where the tests run as root (who reads anything) the same
    PermissionError raised at the operating-system boundary for exactly that path."""
    blocked: list[Path] = []
    original_open, original_scandir = pathlib.Path.open, os.scandir

    def deny(path: Any) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    def guarded_open(self: Path, *args: Any, **kwargs: Any) -> Any:
        if any(self == b or b in self.parents for b in blocked):
            deny(self)
        return original_open(self, *args, **kwargs)

    def guarded_scandir(path: Any = ".") -> Any:
        if any(Path(path) == b for b in blocked):
            deny(path)
        return original_scandir(path)

    def make(path: Path) -> None:
        os.chmod(path, 0)
        blocked.append(path)

    if os.geteuid() == 0:
        monkeypatch.setattr(pathlib.Path, "open", guarded_open)
        monkeypatch.setattr(os, "scandir", guarded_scandir)
    yield make
    for path in blocked:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)

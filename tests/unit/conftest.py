"""Unit tests fit tiny models on tiny data: one math-library thread each, as handful's own small fits run.

With two threads, torch's and the BLAS's idle workers spin between the many tiny operations: the unit suite
took 69 s of CPU for 54 s of wall time, and 58 s of CPU with one thread, no slower (issue 11 part 6: under 60).
"""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread: None) -> None:
    """Every unit test runs under ``one_thread`` (tests/conftest.py)."""

"""Unit tests fit tiny models on tiny data: one math-library thread each, as handful's own small fits run.

With two threads, torch's and the BLAS's idle workers spin between the many tiny operations: the unit suite
took 69 s of CPU for 54 s of wall time, and 58 s of CPU with one thread, no slower (issue 11 part 6: under 60).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(threads)

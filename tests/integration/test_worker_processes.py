"""Worker processes: the same results as in this process, one thread per task there too, embedding batches spread
over them. Moved from tests/unit: starting the processes is most of their cost."""

from __future__ import annotations

from typing import Any

import numpy as np

from handful import selection
from handful.selection import Candidate, FoldJob, LocalExecutor, fold_probabilities
from tests.unit.test_executor import blobs, threads


def test_every_task_runs_on_one_thread_in_worker_processes() -> None:
    import torch  # noqa: F401  (loaded, so its threads are held too)

    assert LocalExecutor(2, startup=0).map(threads, [None], [(0, 0), (0, 1)]) == [(1, 1), (1, 1)]


def test_worker_processes_give_the_same_probabilities_as_this_process() -> None:
    x, y = blobs()
    folds = selection.make_folds(y, 3, 2, seed=0)
    jobs = [FoldJob(Candidate("tiny-image", name, "l2", "test"), x, y, 3) for name in ("linear", "mlp")]
    here = fold_probabilities(jobs, folds, LocalExecutor(1))
    there = fold_probabilities(jobs, folds, LocalExecutor(2, startup=0))
    assert len(here) == 2 and all(len(p) == len(folds) for p in here)
    for mine, theirs in zip(here, there, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(a, b)


def test_a_pool_embedded_in_batches_on_workers_matches_embedding_here(tmp_path: Any) -> None:
    from handful.backbones.cache import embed
    from handful.backbones.registry import get_backbone
    from handful.data import load
    from handful.selection.embedding import embed_on
    from tests.conftest import write_images

    examples = load(write_images(tmp_path / "pool", per_class=5)).train.examples
    expected = embed(get_backbone("tiny-image"), examples)
    spread = embed_on(LocalExecutor(2, startup=0), "tiny-image", examples, batch_size=3)  # 4 batches over 2 processes
    np.testing.assert_allclose(spread, expected, rtol=1e-5, atol=1e-6)


def slow_pid(_: Any, __: Any) -> int:
    import os
    import time

    time.sleep(0.3)
    return os.getpid()


def test_slow_tasks_go_to_worker_processes_once_two_have_shown_they_are_worth_starting() -> None:
    import os

    from handful.selection import executor

    executor.LocalExecutor._pool_used = -float("inf")  # as if no worker had started yet
    spread = LocalExecutor(2, startup=0.5)
    pids = spread.map(slow_pid, [None], [(0, k) for k in range(8)])
    # the first is a warm-up, not counted; 0.3 s x 6 left x (1 - 1/2) > 0.5 s after the second: six run on workers
    assert pids[:2] == [os.getpid()] * 2 and os.getpid() not in pids[2:]
    # and the same executor's next call (a search's next fold group) goes to them at once
    assert os.getpid() not in spread.map(slow_pid, [None], [(0, k) for k in range(4)])

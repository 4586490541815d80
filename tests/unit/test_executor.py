"""The fold loop and its executors: one thread per task, failures kept to their candidate. The tests that start
worker processes are in tests/integration/test_worker_processes.py (their start-up is most of their cost)."""

from __future__ import annotations

import socket
import sys
from typing import Any

import numpy as np
import pytest

import handful
from handful import selection
from handful.selection import Candidate, FoldJob, LocalExecutor, fold_probabilities, make_executor


def blobs(n: int = 60, d: int = 8, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    return rng.normal(0, 3, (k, d))[y] + rng.normal(0, 1, (n, d)), y


def threads(_: Any, __: Any) -> tuple[int, int]:
    import torch
    from threadpoolctl import threadpool_info

    return max(p["num_threads"] for p in threadpool_info()), torch.get_num_threads()


def test_every_task_runs_on_one_thread_here() -> None:
    import torch  # noqa: F401  (loaded, so its threads are held too)

    assert LocalExecutor(1).map(threads, [None], [(0, 0), (0, 1)]) == [(1, 1), (1, 1)]


def test_a_class_absent_from_a_folds_training_part_is_never_predicted() -> None:
    x, y = blobs()
    train, test = np.flatnonzero(y != 2), np.arange(len(y))
    job = FoldJob(Candidate("tiny-image", "prototypes", "l2", "test"), x, y, 3)
    proba = fold_probabilities([job], [(train, test)])[0][0]
    assert proba.shape == (len(y), 3) and proba[:, 2].max() == 0.0 and np.allclose(proba.sum(axis=1), 1)
    lone = fold_probabilities([job], [(np.flatnonzero(y == 1), test)])[0][0]
    assert (lone.argmax(axis=1) == 1).all()


def test_a_broken_candidate_fails_alone_when_candidates_run_side_by_side() -> None:
    x, y = blobs()
    folds = selection.make_folds(y, 3, 1, seed=0)
    search = selection.Search(lambda name: x, y, 3, folds, 0, executor=LocalExecutor(1))
    broken = Candidate("tiny-image", "finetune", "l2", "test")  # fine-tuning needs a trunk's rows
    results = search.run([Candidate("tiny-image", "linear", "l2", "test"), broken])
    assert [r.status for r in results] == ["ok", "failed"]
    assert results[0].estimate is not None and "needs the rows of a trunk backbone" in results[1].message


def test_the_ray_address_comes_from_the_argument_or_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HANDFUL_RAY_ADDRESS", raising=False)
    assert make_executor(2).name == "local"
    with socket.create_server(("127.0.0.1", 0)) as head, socket.create_server(("127.0.0.1", 0)) as other:
        assert make_executor(1, ray=f"127.0.0.1:{head.getsockname()[1]}").name == "ray"
        address = f"127.0.0.1:{other.getsockname()[1]}"
        monkeypatch.setenv("HANDFUL_RAY_ADDRESS", address)
        executor = make_executor(1)
        assert executor.name == "ray" and executor.address == address  # type: ignore[attr-defined]


def test_an_unreachable_ray_cluster_is_refused_before_any_work(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.conftest import write_images

    monkeypatch.setitem(sys.modules, "ray", None)  # no Ray process may start here: importing it would fail the test
    with socket.create_server(("127.0.0.1", 0)) as closed:
        address = f"127.0.0.1:{closed.getsockname()[1]}"  # nothing listens there once it is closed
    photos = write_images(tmp_path / "photos", per_class=4)
    clf = handful.Classifier(backbone="tiny-image", preset="fast", verbose=0, cache_dir=tmp_path / "cache",
                             ray=address)
    with pytest.raises(RuntimeError, match=rf"cannot reach the Ray cluster at {address} \(.*\)\. Start its head "
                                           r"there \(ray\sstart --head\), check the address and port, or leave out"):
        clf.fit(photos)
    assert not (tmp_path / "cache").exists()  # refused before anything was embedded


def test_predict_embeds_what_is_not_cached_through_the_embedder_it_is_given(tmp_path: Any) -> None:
    from handful.backbones.features import embed_all
    from handful.data import load
    from handful.selection.embedding import embed_on
    from tests.conftest import write_images

    examples = load(write_images(tmp_path / "pool", per_class=4)).train.examples
    asked: list[int] = []

    def spread(name: str, missing: Any) -> np.ndarray:
        asked.append(len(missing))
        return embed_on(LocalExecutor(1), name, missing, batch_size=3)

    first = embed_all(["tiny-image"], examples, tmp_path / "cache", embedder=spread)["tiny-image"]
    again = embed_all(["tiny-image"], examples, tmp_path / "cache", embedder=spread)["tiny-image"]
    here = embed_all(["tiny-image"], examples, False)["tiny-image"]
    assert asked == [8]  # the second call found everything cached
    np.testing.assert_allclose(first, here, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(first, again)


def where(_: Any, __: Any) -> int:
    import os

    return os.getpid()


@pytest.mark.parametrize("started", [False, True])
def test_quick_tasks_run_here_whether_or_not_worker_processes_are_started(started: bool,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import sys
    import time
    import types

    import sklearn.linear_model  # noqa: F401  the math libraries a search has loaded, as in the whole suite:
    import torch  # noqa: F401  finding them again is what made instant tasks look slow (4.6 ms each)

    from handful.selection import executor

    monkeypatch.setattr(executor.LocalExecutor, "_pool_used", time.monotonic() if started else -float("inf"))
    monkeypatch.setitem(sys.modules, "handful_test_just_imported", types.ModuleType("handful_test_just_imported"))
    assert set(LocalExecutor(2).map(where, [None], [(0, k) for k in range(40)])) == {os.getpid()}


_warmed: set[int] = set()


def warm_once(_: Any, __: Any) -> int:
    """0.4 s the first time in a process (a lazy import, such as torch.optim's of torch._dynamo), then instant."""
    import os
    import time

    if os.getpid() not in _warmed:
        _warmed.add(os.getpid())
        time.sleep(0.4)
    return os.getpid()


def test_a_first_call_that_pays_a_warm_up_does_not_start_worker_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    import os
    import time

    from handful.selection import executor

    monkeypatch.setattr(executor.LocalExecutor, "_pool_used", -float("inf"))  # no worker started yet
    _warmed.discard(os.getpid())
    started = time.perf_counter()
    # Counted as a task, the warm-up would look like 0.4 s x 9 left x (1 - 1/2) = 1.8 s > 1.5 s of start-up.
    assert set(LocalExecutor(2).map(warm_once, [None], [(0, k) for k in range(10)])) == {os.getpid()}
    assert time.perf_counter() - started < 1.0

"""Where (candidate, fold) tasks and embedding batches run: here, in worker processes, or on a Ray cluster.

An executor maps a function over tasks that share a few large payloads (a candidate's features and labels):
``executor.map(fn, payloads, tasks)`` calls ``fn(payloads[i], task)`` for each ``(i, task)`` and returns the
results in order. A task's result depends only on its arguments (every fit is seeded), so the same seed gives the
same leaderboard on every executor.

* :class:`LocalExecutor` (the default): worker processes on this machine, started only when the work left is worth
  their start-up (each imports numpy, scikit-learn and torch: about 1.3 s on 2 cores). Until then the tasks run
  here, timed; most heads on a few hundred examples finish here before a pool would have started.
* :class:`RayExecutor`: the tasks of an existing Ray cluster (``ray start --head`` on one machine, ``ray start
  --address`` on the others); ``pip install "handful[ray]"`` on every node.

Every task runs with BLAS, OpenMP and torch held to one thread: a task is small, tasks run side by side, and
several threads each would oversubscribe the cores (a logistic regression on 160 x 1280 features took 2.41 s
with the default threads against 0.02 s with one, with another process busy on the other core).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from handful.config import jobs

logger = logging.getLogger(__name__)

RAY_ENV = "HANDFUL_RAY_ADDRESS"
RAY_INSTALL = 'pip install "handful[ray]"'


_pools: tuple[int, Any] | None = None  # (modules imported when made, threadpoolctl.ThreadpoolController)


def _thread_pools() -> Any:
    """threadpoolctl's controller of the loaded BLAS/OpenMP libraries, made again only after more modules were
    imported. Making one inspects every library the process has loaded: 4.6 ms a call in a process with torch,
    SciPy and scikit-learn, against 0.1 ms to use one made before, and every fold's fit is such a call (115 of
    them in an ants update). Libraries come with imports; one loaded by ctypes alone, after the controller was
    made, is missed until the next import."""
    global _pools
    from threadpoolctl import ThreadpoolController

    if _pools is None or _pools[0] != len(sys.modules):
        _pools = (len(sys.modules), ThreadpoolController())
    return _pools[1]


@contextmanager
def one_thread() -> Iterator[None]:
    """Hold BLAS/OpenMP (threadpoolctl) and torch, if loaded, to one thread; restore them afterwards."""
    torch = sys.modules.get("torch")
    previous = torch.get_num_threads() if torch is not None else 0
    with _thread_pools().limit(limits=1):
        if torch is not None:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if torch is not None:
                torch.set_num_threads(previous)


def call_single_threaded(fn: Callable[[Any, Any], Any], payload: Any, task: Any) -> Any:
    """``fn(payload, task)`` with one thread: what every executor runs, in whichever process."""
    with one_thread():
        return fn(payload, task)


class Executor(Protocol):
    """Runs ``fn(payloads[i], task)`` for each ``(i, task)``; results in the order of ``tasks``."""

    name: str

    def map(self, fn: Callable[[Any, Any], Any], payloads: Sequence[Any], tasks: Sequence[tuple[int, Any]]
            ) -> list[Any]: ...


STARTUP = 1.5  # seconds assumed for starting the worker processes (measured 1.3 s on 2 cores, load 1)
IDLE = 240.0  # seconds after its last use that a started pool counts as still there (loky stops idle ones at 300)
DISPATCH = 0.1  # seconds assumed for sending a call's tasks and payloads to workers already started


class LocalExecutor:
    """Worker processes on this machine (joblib's loky), or this process while that is quicker.

    The tasks run here, one after another and timed, until the time the rest would still take here is worth
    starting the workers: ``(their mean) x (tasks left) x (1 - 1 / workers) > startup + warm-up``. The first task
    is not in the mean: it pays the process's lazy imports, a warm-up (its excess over the mean) that each worker
    would pay again (a 16-row MLP's folds: 0.2 s a fit, 2.3 s for the first). The rest then go to the
    workers, which stay started for later calls (then the bar is ``DISPATCH``, sending the tasks to them), and
    this executor's later calls go to them at once (a search's calls are alike: timing each one's first tasks here
    cost the spoken-digits search 27 s against 18). Results are the same either way; quick tasks always run here,
    so a learner registered only in this process still works for them.

    Args:
        n_jobs: worker processes; 1 runs everything here, -1 one per CPU core.
        startup: the seconds starting the workers is assumed to cost; 0 sends every call's tasks to them.

    Example:
        >>> LocalExecutor(1).map(lambda base, x: base + x, [10], [(0, 1), (0, 2)])
        [11, 12]
    """

    name = "local"
    _pool_used = -float("inf")  # when worker processes last ran a task (shared: loky keeps one pool a process)

    def __init__(self, n_jobs: int = 1, startup: float = STARTUP) -> None:
        self.n_jobs = (os.cpu_count() or 1) if n_jobs == -1 else max(1, int(n_jobs))
        self.startup = startup
        self.worth_it = False  # once a call's tasks were worth the workers, the later calls skip the timing

    def map(self, fn: Callable[[Any, Any], Any], payloads: Sequence[Any], tasks: Sequence[tuple[int, Any]]
            ) -> list[Any]:
        if self.n_jobs == 1 or len(tasks) <= 1:
            return [call_single_threaded(fn, payloads[i], task) for i, task in tasks]
        results: list[Any] = []
        if self.startup > 0 and not self.worth_it:  # are the workers worth starting, or sending the tasks to?
            cost = self.startup if time.monotonic() - LocalExecutor._pool_used > IDLE else DISPATCH
            _thread_pools()  # made (or made again) outside the timing: it is not the tasks' cost
            first = spent = 0.0
            for i, task in tasks:
                started = time.perf_counter()
                results.append(call_single_threaded(fn, payloads[i], task))
                if len(results) == 1:  # it paid this process's lazy imports (torch.optim's: 2.3 s), which
                    first = time.perf_counter() - started  # every worker would pay again: not a task's cost
                    continue
                spent += time.perf_counter() - started
                left, mean = len(tasks) - len(results), spent / (len(results) - 1)
                warm_up = max(0.0, first - mean)
                if left > 1 and mean * left * (1 - 1 / min(self.n_jobs, left)) > cost + warm_up:
                    self.worth_it = True  # this fit's later calls go to the workers at once
                    break
        rest = tasks[len(results):]
        if not rest:
            return results
        from joblib import Parallel, delayed

        results += Parallel(n_jobs=min(self.n_jobs, len(rest)))(
            delayed(call_single_threaded)(fn, payloads[i], task) for i, task in rest)
        LocalExecutor._pool_used = time.monotonic()
        return results


class RayExecutor:
    """The tasks of an existing Ray cluster at ``address`` (``host:port`` of the head, or ``auto``).

    Each payload is put into the cluster's object store once and shared by its tasks; each task asks for one CPU.
    The nodes need handful and its dependencies installed (the same versions as here).
    """

    name = "ray"

    def __init__(self, address: str) -> None:
        check_reachable(address)  # before any work: a fit would embed for minutes, then wait on ray.init
        self.address = address

    def _ray(self) -> Any:
        try:
            import ray
        except ImportError as error:
            raise ImportError(f"running on a Ray cluster needs ray, not installed. Install with: {RAY_INSTALL}"
                              ) from error
        if not ray.is_initialized():
            logger.info("connecting to the Ray cluster at %s", self.address)
            ray.init(address=self.address, log_to_driver=False, logging_level=logging.WARNING)
        return ray

    def map(self, fn: Callable[[Any, Any], Any], payloads: Sequence[Any], tasks: Sequence[tuple[int, Any]]
            ) -> list[Any]:
        if not tasks:
            return []
        ray = self._ray()
        refs = [ray.put(payload) for payload in payloads]
        remote = ray.remote(num_cpus=1, max_retries=0)(call_single_threaded)
        # An ObjectRef given as an argument reaches the task as its value, fetched once per node.
        return list(ray.get([remote.remote(fn, refs[i], task) for i, task in tasks]))


_REACHED: set[str] = set()  # Ray addresses this process has reached (a failure is tried again next time)


def check_reachable(address: str, seconds: float = 5.0) -> None:
    """A RuntimeError naming the fix when nothing answers at a Ray ``host:port`` (``ray.init`` would wait there
    for minutes); ``auto`` and addresses without a port are left to Ray."""
    import socket

    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit() or address in _REACHED:
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=seconds).close()
        _REACHED.add(address)  # once a process: predict makes an executor per call, the server per request
    except OSError as error:
        raise RuntimeError(
            f"cannot reach the Ray cluster at {address} ({error.strerror or error}). Start its head there (ray start "
            "--head), check the address and port, or leave out --ray (and HANDFUL_RAY_ADDRESS) to run on this "
            "machine.") from error


def make_executor(n_jobs: int = 1, ray: str | None = None) -> Executor:
    """The executor to use: Ray at ``ray`` (or at ``$HANDFUL_RAY_ADDRESS``) when given, else local processes
    (``n_jobs`` of them, -1 one per core), started only when the work is worth it (:class:`LocalExecutor`).

    Example:
        >>> make_executor(2).n_jobs
        2
    """
    local = jobs(n_jobs)
    address = ray or os.environ.get(RAY_ENV) or None
    if address:
        return RayExecutor(address)
    return LocalExecutor(local)

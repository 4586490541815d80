"""Embedding batches on an executor: a large pool of files decoded and embedded by the executor's workers.

Each worker loads the backbone once (kept for its process by :func:`handful.backbones.features.encoder`) and
decodes and embeds whole batches, so a pool of
100,000 files can be spread over a Ray cluster. Files are read by the workers at the path the examples give: on
a cluster the pool must sit on storage every node sees at the same path.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from handful.backbones.cache import decode_example
from handful.backbones.features import encoder as _encoder
from handful.data.dataset import Example
from handful.selection.executor import Executor, LocalExecutor, RayExecutor, make_executor

BATCH = 64  # examples a task: large enough that a task's overhead is small beside the embedding


def embed_batch(name: str, batch: Sequence[Example]) -> np.ndarray:
    """One task: decode ``batch`` and embed it with backbone ``name`` (loaded once per process)."""
    encoder = _encoder(name)
    return np.asarray(encoder.embed([decode_example(e, encoder.spec.modality) for e in batch]), dtype=np.float32)


def embed_on(executor: Executor | None, name: str, examples: Sequence[Example], batch_size: int = BATCH) -> Any:
    """The features of ``examples`` (in order) by backbone ``name`` (not fused), in batches on ``executor``.

    Example:
        >>> from handful.data import from_texts
        >>> embed_on(None, "tiny-text", from_texts(["good", "bad"], ["pos", "neg"]).examples).shape[0]
        2
    """
    executor = executor or LocalExecutor(1)
    tasks = [(0, list(examples[start:start + batch_size])) for start in range(0, len(examples), batch_size)]
    if not tasks:
        return np.zeros((0, _encoder(name).spec.dim), dtype=np.float32)
    return np.concatenate(executor.map(embed_batch, [name], tasks))


def cluster_embedder(ray: str | None = None) -> Callable[[str, Sequence[Example]], Any] | None:
    """What embeds the inputs of ``predict`` and ``suggest`` that are not cached yet: the Ray cluster at ``ray``
    (or at ``$HANDFUL_RAY_ADDRESS``) when there is one, in batches on its workers; else None (this process).

    Example:
        >>> cluster_embedder(None) is None or "HANDFUL_RAY_ADDRESS" in __import__("os").environ
        True
    """
    executor = make_executor(1, ray)
    if not isinstance(executor, RayExecutor):
        return None
    return functools.partial(embed_on, executor)

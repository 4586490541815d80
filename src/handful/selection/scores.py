"""Cross-validation results kept on disk, keyed by everything they depend on."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from handful.data.dataset import Dataset
from handful.evaluation.metrics import cv_estimate
from handful.learners import LEARNERS
from handful.selection.folds import Folds
from handful.selection.results import Candidate, Result, uses_pool

logger = logging.getLogger(__name__)


class ScoreCache:
    """Cross-validation results on disk, so re-running the same search on the same data costs nothing.

    A result is keyed by everything it depends on: the ordered example digests and labels, the folds, the seed,
    the candidate, the feature versions (backbone cache keys) and the handful version. Any change recomputes.
    """

    def __init__(self, root: Path, context: str, pool: str = "") -> None:
        self.folder = Path(root) / "scores"
        self.context = context
        self.pool = pool  # a digest of the unlabelled pool: part of the key of candidates that learn from it

    def key(self, candidate: Candidate) -> str:
        from handful._version import __version__
        from handful.backbones.features import parts_of
        from handful.backbones.registry import get_spec

        parts = [get_spec(p).cache_key() for p in parts_of(candidate.backbone)]
        learner = candidate.learner
        recipe = LEARNERS[learner].version if learner in LEARNERS else "?"
        fields: list[Any] = [self.context, __version__, parts, learner if recipe == "1" else f"{learner}-v{recipe}",
                  candidate.scaling]
        if candidate.augment:
            fields.append(candidate.augment)
        if candidate.members:
            fields.append([m.as_dict() for m in candidate.members])
        if uses_pool(candidate):
            fields.append(["pool", self.pool])
        text = json.dumps(fields)
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, candidate: Candidate) -> Result | None:
        from safetensors import safe_open

        path = self.folder / f"{self.key(candidate)}.safetensors"
        if not path.exists():
            return None
        try:
            with safe_open(str(path), framework="numpy") as handle:
                meta = handle.metadata() or {}
                result = Result(candidate, balanced=handle.get_tensor("balanced").tolist(),
                                accuracy=handle.get_tensor("accuracy").tolist(), oof_proba=handle.get_tensor("oof"),
                                seconds=float(meta.get("seconds", 0.0)))
                folds = sorted((k for k in handle.keys() if k.startswith("fold")), key=lambda k: int(k[4:]))
                result.fold_proba = [handle.get_tensor(k) for k in folds] or None
                fraction = float(meta["test_fraction"])
        except Exception as error:  # a damaged entry is recomputed, never trusted
            logger.warning("ignoring unreadable score cache entry %s (%s)", path, error)
            return None
        examples = len(result.oof_proba) if result.oof_proba is not None else None
        result.estimate = cv_estimate(result.balanced, fraction, examples)
        result.accuracy_estimate = cv_estimate(result.accuracy, fraction, examples)
        result.message, result.cached = "cross-validation results reused from the cache", True
        return result

    def put(self, result: Result, test_fraction: float) -> None:
        from safetensors.numpy import save_file

        if result.status != "ok" or result.oof_proba is None:
            return
        tensors = {"balanced": np.asarray(result.balanced), "accuracy": np.asarray(result.accuracy),
                   "oof": np.ascontiguousarray(result.oof_proba)}
        for index, proba in enumerate(result.fold_proba or []):
            tensors[f"fold{index}"] = np.ascontiguousarray(proba)
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.folder / f".{uuid.uuid4().hex}.tmp"
            save_file(tensors, str(temporary),
                      metadata={"seconds": str(result.seconds), "test_fraction": str(test_fraction)})
            os.replace(temporary, self.folder / f"{self.key(result.candidate)}.safetensors")
        except OSError as error:
            logger.warning("could not write the score cache in %s (%s)", self.folder, error)


def search_context(digests: list[str], y: np.ndarray, folds: Folds, seed: int) -> str:
    """Everything about the data and the folds that a cross-validation result depends on, as one digest."""
    digest = hashlib.sha256()
    digest.update("\n".join(digests).encode())
    digest.update(np.asarray(y, dtype=np.int64).tobytes())
    for train, test in folds:
        digest.update(np.asarray(train, dtype=np.int64).tobytes() + b"|" + np.asarray(test, dtype=np.int64).tobytes())
    digest.update(str(seed).encode())
    return digest.hexdigest()


def score_cache(root: Path | None, train: Dataset, y: np.ndarray, folds: Folds, seed: int,
                pool: Dataset | None = None) -> ScoreCache | None:
    """The score cache of one fit under ``root`` (None: no cache), keyed by the data, folds, seed and pool."""
    if root is None:
        return None
    pool_digest = "" if pool is None else hashlib.sha256("\n".join(e.digest for e in pool.examples).encode()
                                                        ).hexdigest()
    return ScoreCache(root, search_context([e.digest for e in train.examples], y, folds, seed), pool_digest)

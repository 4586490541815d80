"""Prediction sets with a coverage guarantee: "ants or bees" when the model is not sure, "ants" when it is.

Split conformal prediction (Vovk et al., 2005; Sadinle et al., 2019) on out-of-fold probabilities: the
non-conformity score of an example is one minus the probability given to its true class. A class enters an input's
set when its score would be no larger than the ``ceil((n + 1) * level) / n`` quantile of the out-of-fold scores, so
on new examples exchangeable with the training ones the set holds the true class at least ``level`` of the time.
Class-conditional ("Mondrian") thresholds, one per class, hold the level for every class separately; they are used
where the classes are imbalanced, since one shared threshold then lets the rare class fall short. With groups, the
out-of-fold scores come from models that never saw the example's group, so the guarantee is for new groups.

The sorted out-of-fold scores are kept (a few floats per example) so a set at another level (``--coverage 0.95``)
is one quantile away.

A set may be empty: when no class's probability is high enough for the level, the model is less sure of every
label than the guarantee needs ("no label at 90%"; the top label is still given beside the set). Forcing the top
label in would make the sets cover at least as often as the model is right: a model right 97% of the time would
give "90%" sets that cover 97%, and the level would mean nothing (issue 10 asks 0.87-0.95 at 90%).

Written by hand rather than with ``crepes`` or ``MAPIE``: MAPIE wraps and refits an estimator, and crepes'
``ConformalClassifier`` takes one Mondrian category per test object, not per candidate label, and keeps the whole
calibration set to smooth p-values with random draws; what handful needs to save is a threshold per class.

Example:
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.4, 0.6], [0.2, 0.8], [0.6, 0.4]] * 10)
    >>> y = np.array([0, 0, 1, 1] * 10)
    >>> sets = ConformalSets.fit(proba, y, level=0.9)
    >>> sets.predict(np.array([[0.95, 0.05], [0.5, 0.5]])).tolist()
    [[True, False], [True, True]]
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_LEVEL = 0.9
IMBALANCE = 1.5  # largest class / smallest class from which thresholds are per class


def _threshold(scores: np.ndarray, level: float) -> float:
    """The conformal quantile of sorted ``scores`` at ``level``; ``inf`` when there are too few to promise it."""
    n = len(scores)
    rank = math.ceil((n + 1) * level)
    if n == 0 or rank > n:
        return math.inf
    return float(np.sort(scores)[rank - 1])


@dataclass
class ConformalSets:
    """Thresholds on ``1 - p(class)`` fitted on out-of-fold probabilities; one per class when class-conditional."""

    level: float
    class_conditional: bool
    scores: list[np.ndarray] = field(repr=False)  # sorted non-conformity scores, per class (or one shared list)

    @classmethod
    def fit(cls, proba: np.ndarray, y: np.ndarray, level: float = DEFAULT_LEVEL,
            class_conditional: bool | None = None) -> ConformalSets:
        """Fit on out-of-fold probabilities ``proba`` (n, n_classes) and true classes ``y``.

        ``class_conditional`` ``None`` decides from the data: per-class thresholds when the largest class has at
        least 1.5 times the examples of the smallest.
        """
        _check_level(level)
        proba = np.asarray(proba, dtype=np.float64)
        y = np.asarray(y, dtype=np.int64)
        n_classes = proba.shape[1]
        counts = np.bincount(y, minlength=n_classes)
        if class_conditional is None:
            class_conditional = bool(counts.min() == 0 or counts.max() >= IMBALANCE * counts.min())
        score = 1.0 - proba[np.arange(len(y)), y]
        if class_conditional:
            kept = [np.sort(score[y == c]) for c in range(n_classes)]
        else:
            kept = [np.sort(score)]
        return cls(level, class_conditional, kept)

    @property
    def n_classes(self) -> int:
        return len(self.scores) if self.class_conditional else 0

    def thresholds(self, level: float | None = None) -> np.ndarray:
        """The score threshold of each class (one shared value when not class-conditional) at ``level``."""
        level = self.level if level is None else level
        _check_level(level)
        return np.array([_threshold(s, level) for s in self.scores])

    def predict(self, proba: np.ndarray, level: float | None = None) -> np.ndarray:
        """A boolean mask (n, n_classes): which classes are in each input's set (a row may hold none)."""
        proba = np.asarray(proba, dtype=np.float64)
        limits = self.thresholds(level)
        return (1.0 - proba) <= limits[None, :] + 1e-12

    def coverage(self, proba: np.ndarray, y: np.ndarray, level: float | None = None) -> dict[str, float]:
        """How often the set holds the true class, and its mean size, on labelled data."""
        inside = self.predict(proba, level)
        y = np.asarray(y, dtype=np.int64)
        return {"level": float(self.level if level is None else level),
                "coverage": float(inside[np.arange(len(y)), y].mean()) if len(y) else float("nan"),
                "mean_size": float(inside.sum(axis=1).mean()) if len(y) else float("nan"),
                "n": int(len(y))}

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able parameters (level, thresholds) and tensors (the sorted scores), for the model file."""
        limits = self.thresholds()
        params = {"level": self.level, "class_conditional": self.class_conditional,
                  "thresholds": [None if math.isinf(t) else t for t in limits.tolist()]}
        tensors = {f"conformal.scores.{i}": s.astype(np.float64) for i, s in enumerate(self.scores)}
        return params, tensors

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> ConformalSets:
        count = sum(1 for key in tensors if key.startswith("conformal.scores."))
        scores = [np.sort(np.asarray(tensors[f"conformal.scores.{i}"], dtype=np.float64)) for i in range(count)]
        if not scores:
            raise ValueError("the model file has conformal settings but no conformal scores")
        return cls(float(params["level"]), bool(params["class_conditional"]), scores)


def _check_level(level: float) -> None:
    if not isinstance(level, float | int) or not 0.0 < float(level) < 1.0:
        raise ValueError(f"coverage must be a fraction between 0 and 1 (e.g. 0.9 for 90%), got {level!r}")


def describe(labels: list[str]) -> str:
    """A set in words: ``"ants"``, ``"ants or bees"``, or ``""`` for an empty set."""
    if len(labels) <= 1:
        return labels[0] if labels else ""
    return ", ".join(labels[:-1]) + " or " + labels[-1]

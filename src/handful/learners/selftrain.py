"""Self-training: a logistic regression refitted, a few rounds, on its own confident pseudo-labels for the pool.

Each round the current model labels the unlabelled pool; per class, the pool rows it assigns to that class with a
confidence at or above the class's own threshold (the median confidence of the rows assigned to it, so a class the
model is less sure of is not starved) are candidates; the same number is taken for every class (the most
confident first), so the majority class does not swallow the pool; that number grows each round. Pseudo-labelled
rows weigh half a labelled row. Pseudo-labels live inside ``fit`` only: a cross-validation fold trains on them and
is scored on its labelled test rows, which are never in the pool.
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from handful.learners._pool import fit_logistic, pool_of, restore_linear
from handful.learners.base import Array, FitContext, as_context, register_learner
from handful.learners.linear import LinearHead


def balanced_confident(proba: Array, per_class: int) -> tuple[Array, Array]:
    """Pool rows to pseudo-label and their labels: per class, up to ``per_class`` rows assigned to it at or above
    its threshold (the median confidence among its rows), the same number for every class.

    Example:
        >>> proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])
        >>> balanced_confident(proba, 5)
        (array([0, 3]), array([0, 1]))
    """
    predicted, confidence = proba.argmax(axis=1), proba.max(axis=1)
    eligible = []
    for label in range(proba.shape[1]):
        rows = np.flatnonzero(predicted == label)
        if len(rows) == 0:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)  # a class the pool never shows: no pseudo-labels
        threshold = np.median(confidence[rows])
        rows = rows[confidence[rows] >= threshold]
        eligible.append(rows[np.argsort(-confidence[rows], kind="stable")])
    chosen = take_balanced(eligible, per_class)
    return chosen, predicted[chosen]


def take_balanced(eligible: list[Array], per_class: int) -> Array:
    """The first ``per_class`` of each class's ranked ``eligible`` rows, the same number for every class (no more
    than the class with the fewest has), so the majority class does not swallow the pool.

    Example:
        >>> take_balanced([np.array([4, 0, 2]), np.array([3, 1])], 5).tolist()
        [4, 0, 3, 1]
    """
    take = min(per_class, *(len(rows) for rows in eligible))
    return np.concatenate([rows[:take] for rows in eligible])


@register_learner
class SelfTraining(LinearHead):
    """Logistic regression plus class-balanced pseudo-labels for the unlabelled pool, refitted for a few rounds."""

    name = "self-training"
    description = "logistic regression refitted on its own confident, class-balanced pseudo-labels of the pool"
    dense_only = True
    cheap = False
    uses_unlabelled = True

    def __init__(self, scaling: str = "l2", C: float = 10.0, rounds: int = 3, share: float = 0.5,
                 weight: float = 0.5) -> None:
        super().__init__(scaling, C)
        self.rounds, self.share, self.weight = rounds, share, weight
        self.pseudo_counts: list[int] = []

    def fit(self, features: Any, y: Array, n_classes: int, context: FitContext | int = 0) -> SelfTraining:
        context = as_context(context)
        self.n_classes = n_classes
        labelled = self.scaler.fit(features).transform(features)
        pool = pool_of(context)
        self.coef, self.intercept = fit_logistic(labelled, y, n_classes, self.C, context.seed)
        self.pseudo_counts = [0] * n_classes
        if pool is None:
            return self
        scaled_pool = self.scaler.transform(pool)
        for round_ in range(1, self.rounds + 1):
            per_class = int(np.ceil(self.share * len(pool) / n_classes * round_ / self.rounds))
            chosen, labels = balanced_confident(self.predict_proba(pool), per_class)
            if len(chosen) == 0:
                break
            x = np.concatenate([labelled, scaled_pool[chosen]])
            weight = np.concatenate([np.ones(len(y)), np.full(len(chosen), self.weight)])
            self.coef, self.intercept = fit_logistic(x, np.concatenate([y, labels]), n_classes, self.C,
                                                     context.seed, weight)
            self.pseudo_counts = np.bincount(labels, minlength=n_classes).tolist()
        return self

    def params(self) -> dict[str, Any]:
        return {**super().params(), "rounds": self.rounds, "share": self.share, "weight": self.weight,
                "pseudo_counts": self.pseudo_counts}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> Self:
        head = restore_linear(cls(params["scaling"], params["C"], params["rounds"], params["share"], params["weight"]),
                              params, tensors)
        head.pseudo_counts = list(params.get("pseudo_counts", []))
        return head

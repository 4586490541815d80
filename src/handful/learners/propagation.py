"""Label spreading over a nearest-neighbour graph of labelled and unlabelled rows, then a linear head on the result.

scikit-learn's ``LabelSpreading`` (Zhou et al. 2004, "Learning with Local and Global Consistency") spreads the
labels along a k-nearest-neighbour graph of the labelled rows and the pool; each pool row gets a label
distribution. A logistic regression is then fitted on the labelled rows plus the pool rows with their spread
labels, weighted by how sure the spreading is (and half a labelled row at most), so the saved model is a plain
linear head that predicts new inputs without the graph. Only labelled rows of a fold's training part and the pool
are in the graph, never the fold's test rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from handful.learners._pool import fit_logistic, pool_of, restore_linear
from handful.learners.base import Array, FitContext, as_context, register_learner
from handful.learners.linear import LinearHead


@register_learner
class LabelSpreadingHead(LinearHead):
    """Labels spread over a kNN graph of labelled + pool rows; a weighted logistic regression learns from both."""

    name = "label-spreading"
    description = "label spreading over a kNN graph of labelled and unlabelled rows, then logistic regression"
    dense_only = True
    cheap = False
    uses_unlabelled = True

    def __init__(self, scaling: str = "l2", C: float = 10.0, neighbours: int = 10, alpha: float = 0.2,
                 weight: float = 0.5) -> None:
        super().__init__(scaling, C)
        self.neighbours, self.alpha, self.weight = neighbours, alpha, weight
        self.spread_counts: list[int] = []

    def fit(self, features: Any, y: Array, n_classes: int, context: FitContext | int = 0) -> LabelSpreadingHead:
        from sklearn.semi_supervised import LabelSpreading

        context = as_context(context)
        self.n_classes = n_classes
        pool = pool_of(context)
        self.scaler.fit(features if pool is None else np.concatenate([np.asarray(features, float), pool]))
        labelled = self.scaler.transform(features)
        self.spread_counts = [0] * n_classes
        if pool is None:
            self.coef, self.intercept = fit_logistic(labelled, y, n_classes, self.C, context.seed)
            return self
        scaled_pool = self.scaler.transform(pool)
        rows = np.concatenate([labelled, scaled_pool])
        spreading = LabelSpreading(kernel="knn", n_neighbors=min(self.neighbours, len(rows) - 1), alpha=self.alpha,
                                   max_iter=100)
        spreading.fit(rows, np.concatenate([y, np.full(len(pool), -1)]))
        distribution = spreading.label_distributions_[len(y):]
        present = spreading.classes_[spreading.classes_ >= 0].astype(int)
        spread = present[distribution.argmax(axis=1)]
        sure = np.nan_to_num(distribution.max(axis=1), nan=0.0)
        keep = sure > 0
        weight = np.concatenate([np.ones(len(y)), self.weight * sure[keep]])
        self.coef, self.intercept = fit_logistic(np.concatenate([labelled, scaled_pool[keep]]),
                                                 np.concatenate([y, spread[keep]]), n_classes, self.C, context.seed,
                                                 weight)
        self.spread_counts = np.bincount(spread[keep], minlength=n_classes).tolist()
        return self

    def params(self) -> dict[str, Any]:
        return {**super().params(), "neighbours": self.neighbours, "alpha": self.alpha, "weight": self.weight,
                "spread_counts": self.spread_counts}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> LabelSpreadingHead:
        head = restore_linear(cls(params["scaling"], params["C"], params["neighbours"], params["alpha"],
                                  params["weight"]), params, tensors)
        head.spread_counts = list(params.get("spread_counts", []))
        return head

"""Co-training: pseudo-labels for the unlabelled pool that every backbone's own model gives alike.

Self-training trusts one model's confident guesses, and its mistakes teach it its own mistakes. Co-training (Blum
and Mitchell, "Combining labeled and unlabeled data with co-training", COLT 1998) reads each example through two or
more views: here pretrained backbones whose embeddings were learnt apart (on SST-2 at 64 sentences a class, the
half of a 2,000-sentence pool on which e5-small's and MiniLM's logistic regressions agree most surely is labelled
right 92% of the time, against 82% for e5-small's alone on all of it; 5 draws). Each round, a logistic
regression per view is fitted on the labelled rows plus the pseudo-labels so far; the pool rows that all views
assign to the same class are candidates, ranked by their mean probability; the same number is taken for every
class (so the majority class does not swallow the pool), a growing share each round, up to every agreeing row in
the last. The model kept is the first view's logistic regression on the labelled rows and the last round's
pseudo-labels: it is served on the first backbone's columns, and the other backbones only vouch for the pool's
labels.

Run when asked for (``--learner co-training``; not under the ``best`` preset, where it did not change the model
chosen on SST-2 and its second backbone's pass over the pool cost a seventh of the fit), on fused features
(``a+b``: the first backbone first), one candidate for each backbone as the first view, only with an unlabelled
pool (see :func:`handful.selection.plan.candidates`). Pseudo-labels live inside ``fit``:
a cross-validation fold trains on them and is scored on its labelled test rows, which are never in the pool.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from handful.backbones.features import parts_of
from handful.learners._pool import pool_of
from handful.learners.base import Array, FitContext, Learner, State, as_context, register_learner
from handful.learners.linear import LinearHead
from handful.learners.selftrain import take_balanced


def agreed(probas: list[Array], per_class: int) -> tuple[Array, Array]:
    """Pool rows to pseudo-label and their labels: rows every view assigns to the same class, per class up to
    ``per_class`` of the most probable (mean over the views), the same number for every class.

    Example:
        >>> one = np.array([[0.9, 0.1], [0.8, 0.2], [0.4, 0.6], [0.3, 0.7]])
        >>> two = np.array([[0.7, 0.3], [0.3, 0.7], [0.2, 0.8], [0.45, 0.55]])
        >>> agreed([one, two], 5)
        (array([0, 2]), array([0, 1]))
    """
    mean = np.mean(probas, axis=0)
    predicted = mean.argmax(axis=1)
    agree = np.all([p.argmax(axis=1) == predicted for p in probas], axis=0)
    eligible = []
    for label in range(mean.shape[1]):
        rows = np.flatnonzero(agree & (predicted == label))
        if len(rows) == 0:
            return np.zeros(0, dtype=int), np.zeros(0, dtype=int)  # no agreed row of a class: no pseudo-labels
        eligible.append(rows[np.argsort(-mean[rows, label], kind="stable")])
    chosen = take_balanced(eligible, per_class)
    return chosen, predicted[chosen]


@register_learner
class CoTraining(Learner):
    """A logistic regression on the first backbone, refitted on pool rows that every backbone labels alike."""

    name = "co-training"
    description = "logistic regression refitted on pool rows that every backbone's own model labels alike"
    dense_only = True
    cheap = False
    uses_unlabelled = True
    multi_backbone = True

    def __init__(self, scaling: str = "standard", C: float = 10.0, rounds: int = 3) -> None:
        super().__init__(scaling)
        self.C, self.rounds = C, rounds
        self.widths: list[int] = []
        self.kept: LinearHead | None = None
        self.pseudo_counts: list[int] = []

    def fit(self, features: Any, y: Array, n_classes: int, context: FitContext | int = 0) -> CoTraining:
        from handful.backbones.registry import get_spec

        context = as_context(context)
        if not context.backbone:
            raise ValueError("co-training needs to know its backbones: fit it on fused features (FitContext.backbone)")
        specs = [get_spec(part) for part in parts_of(context.backbone)]
        self.n_classes, self.widths = n_classes, [spec.dim for spec in specs]
        if sum(self.widths) != features.shape[1]:
            raise ValueError(f"co-training on {context.backbone} expects {sum(self.widths)} feature columns, got "
                             f"{features.shape[1]}")
        starts = np.concatenate([[0], np.cumsum(self.widths)])
        views = [np.asarray(features, dtype=np.float64)[:, a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
        pool = pool_of(context)
        pool_views = [] if pool is None else [pool[:, a:b] for a, b in zip(starts[:-1], starts[1:], strict=True)]
        chosen, labels = np.zeros(0, dtype=int), np.zeros(0, dtype=int)
        self.pseudo_counts = [0] * n_classes

        def fitted(view: int) -> LinearHead:
            rows = views[view] if not len(chosen) else np.concatenate([views[view], pool_views[view][chosen]])
            head = LinearHead(specs[view].normalize, self.C)
            return head.fit(rows, np.concatenate([y, labels]), n_classes, context.seed)

        for round_ in range(1, self.rounds + 1 if pool is not None else 1):
            probas = [fitted(v).predict_proba(pool_views[v]) for v in range(len(views))]
            per_class = int(np.ceil(len(pool_views[0]) / n_classes * round_ / self.rounds))
            chosen, labels = agreed(probas, per_class)
            self.pseudo_counts = np.bincount(labels, minlength=n_classes).tolist()
        self.kept = fitted(0)
        return self

    def predict_proba(self, features: Any) -> Array:
        if self.kept is None or not self.widths:
            raise RuntimeError("CoTraining used before fit")
        return self.kept.predict_proba(np.asarray(features)[:, : self.widths[0]])

    def params(self) -> dict[str, Any]:
        return {"scaling": self.scaling, "C": self.C, "rounds": self.rounds, "widths": self.widths,
                "n_classes": self.n_classes, "pseudo_counts": self.pseudo_counts}

    def state(self) -> State:
        if self.kept is None:
            raise RuntimeError("CoTraining saved before fit")
        kept, tensors = self.kept.state()
        return {**self.params(), "kept": kept}, tensors

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> CoTraining:
        head = cls(params["scaling"], params["C"], params["rounds"])
        head.n_classes, head.widths = params["n_classes"], [int(w) for w in params["widths"]]
        head.pseudo_counts = list(params.get("pseudo_counts", []))
        head.kept = LinearHead.from_state(params["kept"], tensors)
        return head

"""A weighted ensemble of the searched candidates, built from their out-of-fold probabilities and scored nested."""

from __future__ import annotations

import time

import numpy as np

from handful.backbones.features import fuse
from handful.evaluation.metrics import balanced_accuracy, cv_estimate
from handful.learners.ensemble import EnsembleHead, Member, greedy_weights, parts_of
from handful.selection.folds import Folds, test_fraction
from handful.selection.results import Candidate, Result, uses_pool


def ensemble(results: list[Result], y: np.ndarray, n_classes: int, folds: Folds) -> Result | None:
    """A weighted ensemble of the scored candidates (greedy selection on out-of-fold log loss), or None when the
    selection keeps a single model or fewer than two candidates qualify.

    Members are pretrained (or fused, or fine-tuned) candidates scored without augmentation, whose per-fold
    probabilities are known. The ensemble's score is nested: for each fold the weights are selected on the
    out-of-fold probabilities of that fold's training rows only, and the ensemble so weighted is scored on the
    fold's test rows, which the selection never saw. (Those out-of-fold probabilities come from models whose
    training data included the test rows; the test rows' labels never choose the weights.) The weights the
    model keeps are selected on all rows.
    """
    pool = [r for r in results if r.status == "ok" and r.candidate.kind not in ("baseline", "ensemble")
            and not r.candidate.augment and not r.candidate.members and r.oof_proba is not None
            and r.fold_proba is not None and len(r.fold_proba) == len(folds)]
    if len(pool) < 2:
        return None
    start = time.perf_counter()
    oofs = [r.oof_proba for r in pool if r.oof_proba is not None]
    weights = greedy_weights(oofs, y)
    if np.count_nonzero(weights) < 2:
        return None
    members = tuple(Member(r.candidate.backbone, r.candidate.learner, r.candidate.scaling, float(w))
                    for r, w in zip(pool, weights, strict=True) if w > 0)
    name = fuse(parts_of(members))
    result = Result(Candidate(name, EnsembleHead.name, "standard", "ensemble", members=members))
    oof = np.zeros((len(y), n_classes))
    seen = np.zeros(len(y))
    result.fold_proba = []
    for index, (train, test) in enumerate(folds):
        inner = greedy_weights([p[train] for p in oofs], y[train])
        proba = sum(w * r.fold_proba[index] for r, w in zip(pool, inner, strict=True)  # type: ignore[index]
                    if w > 0)
        predicted = np.asarray(proba).argmax(axis=1)
        result.accuracy.append(float(np.mean(predicted == y[test])))
        result.balanced.append(balanced_accuracy(y[test], predicted, n_classes))
        result.fold_proba.append(np.asarray(proba))
        oof[test] += proba
        seen[test] += 1
    share = test_fraction(folds, len(y))
    result.estimate = cv_estimate(result.balanced, share, len(y))
    result.accuracy_estimate = cv_estimate(result.accuracy, share, len(y))
    result.oof_proba = oof / np.maximum(seen, 1)[:, None]
    chosen = ", ".join(f"{m.backbone}+{m.learner} ({m.weight:.2f})" for m in members)
    result.message = f"weighted ensemble of {chosen}; score nested (weights chosen on each fold's training rows)"
    # Its cost: the selection, plus the cross-validation of the members it keeps (their fits are refitted too).
    result.seconds = time.perf_counter() - start + sum(r.seconds for r, w in zip(pool, weights, strict=True) if w > 0)
    return result


def ensemble_candidates(results: list[Result], y: np.ndarray, n_classes: int, folds: Folds) -> list[Result]:
    """The ensemble of all scored candidates (:func:`ensemble`) and, where some learn from the unlabelled pool, the
    ensemble of those that learn from labelled examples only, each when there is one and once.

    The pool must not take away a model the search would have had without it. Measured (SST-2 64 a class, draw 2,
    empty caches): without the pool the labelled-only ensemble won (0.820 on the test split); with it, the one
    ensemble drew on the pool's heads, scored 0.007 below the best single head, and an MLP was kept (0.799).
    """
    found = [ensemble(results, y, n_classes, folds)]
    plain = [r for r in results if not uses_pool(r.candidate)]
    if len(plain) < len(results):
        found.append(ensemble(plain, y, n_classes, folds))
    kept: list[Result] = []
    for result in found:
        if result is not None and all(k.candidate.members != result.candidate.members for k in kept):
            kept.append(result)
    return kept

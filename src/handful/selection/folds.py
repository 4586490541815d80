"""Repeated stratified folds, augmented views kept with their examples, and cross-validation of one candidate."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import scipy.sparse

from handful.evaluation.metrics import balanced_accuracy, cv_estimate
from handful.learners import FitContext, Learner, make_learner
from handful.learners.ensemble import EnsembleHead
from handful.selection.results import Candidate, Result

Folds = list[tuple[np.ndarray, np.ndarray]]


def n_folds(y: np.ndarray, wanted: int, groups: np.ndarray | None = None) -> int:
    """As many folds as wanted, but no more than the smallest class has examples (without groups) or than there
    are groups (with groups)."""
    if groups is not None:
        return int(max(2, min(wanted, len(np.unique(np.asarray(groups, dtype=str))))))
    return int(min(wanted, np.bincount(y).min()))


def make_folds(y: np.ndarray, folds: int, repeats: int, seed: int, groups: np.ndarray | None = None) -> Folds:
    """Repeated stratified k-fold splits; with ``groups``, stratified group k-fold repeated with different shuffles,
    so the examples of one group are always on the same side of every split.

    Example:
        >>> y = np.array([0, 0, 0, 1, 1, 1])
        >>> folds = make_folds(y, 2, 1, seed=0, groups=np.array(["a", "a", "b", "b", "c", "c"]))
        >>> all(len(set("aabbcc"[i] for i in tr) & set("aabbcc"[i] for i in te)) == 0 for tr, te in folds)
        True
    """
    if groups is None:
        from sklearn.model_selection import RepeatedStratifiedKFold

        splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
        return [(train, test) for train, test in splitter.split(np.zeros(len(y)), y)]
    import warnings

    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    codes = np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1]
    n_groups = int(codes.max()) + 1 if len(codes) else 0
    if n_groups < 2:
        raise ValueError("grouped cross-validation needs at least two groups; got "
                         f"{n_groups}. Give groups that separate the examples, or none.")
    splits = max(2, min(folds, n_groups))
    stratify = splits <= np.bincount(np.asarray(y, dtype=np.int64)).max()  # else scikit-learn refuses: no classes
    found: Folds = []
    for repeat in range(repeats):
        splitter = (StratifiedGroupKFold if stratify else GroupKFold)(
            n_splits=splits, shuffle=True, random_state=seed + repeat)
        with warnings.catch_warnings():  # "least populated class" warnings count examples, not groups
            warnings.simplefilter("ignore", UserWarning)
            found += [(train, test) for train, test in splitter.split(np.zeros(len(y)), y, codes)
                      if len(train) and len(test)]
    return found


Views = tuple[Any, np.ndarray]  # features of augmented views, and the index of the example owning each row


def view_rows(train: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Rows of the augmented views whose example is in ``train``: the only views a fold may train on."""
    return np.flatnonzero(np.isin(owner, train))


def with_views(features: Any, y: np.ndarray, rows: np.ndarray, views: Views | None) -> tuple[Any, np.ndarray]:
    """Features and labels of examples ``rows`` followed by the augmented views of those same examples."""
    if views is None:
        return features[rows], y[rows]
    view_features, owner = views
    extra = view_rows(rows, owner)
    if scipy.sparse.issparse(features):
        stacked = scipy.sparse.vstack([features[rows], view_features[extra]]).tocsr()
    else:
        stacked = np.concatenate([np.asarray(features[rows]), np.asarray(view_features[extra])])
    return stacked, np.concatenate([y[rows], y[owner[extra]]])


def fit_learner(
    candidate: Candidate, features: Any, y: np.ndarray, n_classes: int, rows: np.ndarray, context: FitContext,
    views: Views | None = None,
) -> Learner:
    """The candidate's learner fitted on examples ``rows`` (and their augmented views, if any).

    The learner's context is ``context`` (seed, time budget, verbose) with the candidate's backbone and the
    example owning each row (``groups``: a view carries its example's index), so a learner that holds back
    data holds back whole examples.
    """
    if candidate.members:  # an ensemble refits each member on its own backbone's columns
        ensemble = EnsembleHead(candidate.scaling, candidate.members)
        return ensemble.fit(np.asarray(features)[rows], y[rows], n_classes, context)
    learner = make_learner(candidate.learner, candidate.scaling)
    x, labels = with_views(features, y, rows, views)
    owners = rows if views is None else np.concatenate([rows, views[1][view_rows(rows, views[1])]])
    return learner.fit(x, labels, n_classes, context.replace(groups=owners, backbone=candidate.backbone))


def _fit_fold(
    candidate: Candidate, features: Any, y: np.ndarray, n_classes: int, train: np.ndarray, test: np.ndarray, seed: int,
    views: Views | None = None, time_budget: float | None = None,
) -> np.ndarray:
    learner = fit_learner(candidate, features, y, n_classes, train, FitContext(seed, time_budget=time_budget), views)
    return learner.predict_proba(features[test])


def cross_validate(
    candidate: Candidate, features: Any, y: np.ndarray, n_classes: int, folds: Folds, seed: int, n_jobs: int = 1,
    views: Views | None = None, fit_budget: float | None = None,
) -> Result:
    """Fit the candidate's learner on each fold's training part and score it on the rest.

    With ``views`` (augmented views' features and the example owning each), a fold trains on its training
    examples plus the views of those examples only, and is scored on original examples only: no fold ever trains
    on an augmented copy of an example it is tested on.

    With ``n_jobs`` > 1 folds run in worker processes (joblib limits each worker's BLAS threads); results do not
    depend on ``n_jobs``. ``fit_budget`` (seconds) bounds each fit of a learner that fine-tunes a backbone.
    """
    result = Result(candidate)
    start = time.perf_counter()
    oof = np.zeros((len(y), n_classes))
    seen = np.zeros(len(y))
    if n_jobs == 1:
        probas = [_fit_fold(candidate, features, y, n_classes, tr, te, seed + i, views, fit_budget)
                  for i, (tr, te) in enumerate(folds)]
    else:
        from joblib import Parallel, delayed

        probas = Parallel(n_jobs=n_jobs)(
            delayed(_fit_fold)(candidate, features, y, n_classes, tr, te, seed + i, views, fit_budget)
            for i, (tr, te) in enumerate(folds)
        )
    for (_, test), proba in zip(folds, probas, strict=True):
        predicted = proba.argmax(axis=1)
        result.accuracy.append(float(np.mean(predicted == y[test])))
        result.balanced.append(balanced_accuracy(y[test], predicted, n_classes))
        oof[test] += proba
        seen[test] += 1
    test_fraction = float(np.mean([len(t) for _, t in folds]) / len(y))
    result.estimate = cv_estimate(result.balanced, test_fraction)
    result.accuracy_estimate = cv_estimate(result.accuracy, test_fraction)
    result.oof_proba = oof / np.maximum(seen, 1)[:, None]
    result.fold_proba = list(probas)
    result.seconds = time.perf_counter() - start
    return result

"""Folds, augmented views kept with their examples, and the one fold loop (cross-validation, learning curves,
`update`'s comparison) that hands (candidate, fold) tasks to an executor."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse

from handful.evaluation.metrics import balanced_accuracy, cv_estimate
from handful.learners import FitContext, Learner, make_learner
from handful.learners.ensemble import EnsembleHead
from handful.selection.executor import Executor, LocalExecutor
from handful.selection.results import Candidate, Result

Folds = list[tuple[np.ndarray, np.ndarray]]


def n_folds(y: np.ndarray, wanted: int, groups: np.ndarray | None = None) -> int:
    """As many folds as wanted, but no more than the smallest class has examples (without groups) or than there
    are groups (with groups)."""
    if groups is not None:
        return int(max(2, min(wanted, len(np.unique(np.asarray(groups, dtype=str))))))
    return int(min(wanted, np.bincount(y).min()))


def repetition_ends(folds: Folds, n: int) -> list[int]:
    """The fold counts at which a repetition of k-fold ends: every one of the ``n`` examples tested once more.

    Example:
        >>> folds = [(np.arange(8), np.arange(8, 10))] * 10  # stand-ins: 5 folds of 2, twice, over 10 examples
        >>> repetition_ends(folds, 10)
        [5, 10]
    """
    ends: list[int] = []
    tested = 0
    for index, (_, test) in enumerate(folds):
        tested += len(test)
        if tested >= n * (len(ends) + 1):
            ends.append(index + 1)
    return ends


def test_fraction(folds: Folds, n: int) -> float:
    """The mean share of the ``n`` examples that a fold tests on (about 1/k for k folds): the Nadeau-Bengio
    correction's ``n_test / n`` (:func:`handful.evaluation.metrics.corrected_error`)."""
    return float(np.mean([len(test) for _, test in folds]) / max(n, 1)) if folds else 0.2


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
    # context.groups, when given, is the group of each example (of all of y); a row then carries its example's group
    held = owners if context.groups is None else np.asarray(context.groups)[owners]
    return learner.fit(x, labels, n_classes, context.replace(groups=held, backbone=candidate.backbone))


@dataclass(frozen=True)
class FoldJob:
    """What every fold of one candidate shares: the candidate, its features, the labels, the augmented views
    (features and owning example of each) and the fit context (its seed is replaced by each fold's)."""

    candidate: Candidate
    features: Any
    y: np.ndarray
    n_classes: int
    views: Views | None = None
    context: FitContext = FitContext()


def fit_predict(job: FoldJob, fold: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
    """One fold: the job's learner fitted on examples ``train`` (and their views) with ``seed``, and its
    probabilities for examples ``test``, one column per class of the job.

    Before predicting, the learner adapts to the test rows (:meth:`handful.learners.Learner.adapt`: a no-op but for
    a learner that aligns domains, which at prediction aligns to the unlabelled pool instead). Classes absent from
    ``train`` are never predicted (probability 0): the learner is fitted on the classes present; with one class
    present it predicts that class, with none it predicts nothing (all zeros).
    """
    train, test, seed = fold
    y, n_classes = job.y, job.n_classes
    present = np.unique(y[train])
    proba = np.zeros((len(test), n_classes))
    if len(present) < 2:
        proba[:, present] = 1.0
        return proba
    context = job.context.replace(seed=seed)
    x_test = job.features[test]
    every = len(present) == n_classes
    labels = y if every else np.searchsorted(present, y)  # else the classes present, numbered 0..k-1
    learner = fit_learner(job.candidate, job.features, labels, len(present), train, context, job.views)
    learner.adapt(x_test)
    if every:
        return learner.predict_proba(x_test)
    proba[:, present] = learner.predict_proba(x_test)
    return proba


def _timed(job: FoldJob, fold: tuple[np.ndarray, np.ndarray, int]) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    proba = fit_predict(job, fold)
    return proba, time.perf_counter() - start


def fold_probabilities(
    jobs: Sequence[FoldJob], folds: Folds, executor: Executor | None = None, seeds: Sequence[int] | None = None,
    seconds: list[float] | None = None,
) -> list[list[np.ndarray]]:
    """The one fold loop: each job's learner fitted on each fold's training part, and its probabilities for the
    fold's test part (per job, per fold; the rows of ``test``, one column per class).

    With views, a fold trains on its training examples plus the views of those examples only, and is scored on
    original examples only: no fold ever trains on an augmented copy of an example it is tested on. Fold ``i`` is
    fitted with seed ``seeds[i]`` (by default the job's seed + i). All (job, fold) tasks go to the executor at
    once, so candidates run side by side as well as folds; the result does not depend on the executor.
    Folds may come from grouped splitting: any (train, test) index arrays will do. ``seconds``, if given, gets
    each job's fitting time (summed over its folds, wherever they ran).
    """
    executor = executor or LocalExecutor(1)
    tasks = [(j, (train, test, (job.context.seed + i) if seeds is None else int(seeds[i])))
             for j, job in enumerate(jobs) for i, (train, test) in enumerate(folds)]
    flat = executor.map(_timed, list(jobs), tasks)
    per_job = [flat[j * len(folds):(j + 1) * len(folds)] for j in range(len(jobs))]
    if seconds is not None:
        seconds[:] = [float(sum(t for _, t in found)) for found in per_job]
    return [[proba for proba, _ in found] for found in per_job]


def learner_fold_probabilities(
    learner: str, scaling: str, features: Any, y: np.ndarray, n_classes: int, folds: Folds, seeds: Sequence[int],
    executor: Executor | None = None,
) -> list[np.ndarray]:
    """:func:`fold_probabilities` for a bare head (no backbone to tune, no views): the learning curve's fold loop.

    Example:
        >>> x, y = np.eye(2)[np.arange(8) % 2] + 0.1, np.arange(8) % 2
        >>> learner_fold_probabilities("prototypes", "l2", x, y, 2, [(np.arange(4), np.arange(4, 8))], [0])[0].shape
        (4, 2)
    """
    job = FoldJob(Candidate("", learner, scaling, "curve"), features, y, n_classes)
    return fold_probabilities([job], folds, executor, seeds)[0]


def score_folds(candidate: Candidate, probas: Sequence[np.ndarray], y: np.ndarray, n_classes: int, folds: Folds,
                seconds: float = 0.0) -> Result:
    """A candidate's result from its per-fold probabilities: the fold scores, their estimates and the out-of-fold
    probabilities (averaged over repetitions)."""
    result = Result(candidate)
    oof = np.zeros((len(y), n_classes))
    seen = np.zeros(len(y))
    for (_, test), proba in zip(folds, probas, strict=True):
        predicted = proba.argmax(axis=1)
        result.accuracy.append(float(np.mean(predicted == y[test])))
        result.balanced.append(balanced_accuracy(y[test], predicted, n_classes))
        oof[test] += proba
        seen[test] += 1
    share = test_fraction(folds, len(y))
    result.estimate = cv_estimate(result.balanced, share, len(y))
    result.accuracy_estimate = cv_estimate(result.accuracy, share, len(y))
    result.oof_proba = oof / np.maximum(seen, 1)[:, None]
    result.fold_proba = list(probas)
    result.seconds = seconds
    return result


def cross_validate(
    candidate: Candidate, features: Any, y: np.ndarray, n_classes: int, folds: Folds, seed: int,
    executor: Executor | None = None, views: Views | None = None, fit_budget: float | None = None,
    unlabelled: Any = None, groups: np.ndarray | None = None,
) -> Result:
    """Fit the candidate's learner on each fold's training part and score it on the rest (see
    :func:`fold_probabilities`). ``fit_budget`` (seconds) bounds each fit of a learner that trains for long.

    ``unlabelled`` (features of the unlabelled pool) goes to every fold's fit; pseudo-labelled or generated rows
    made from it live inside that fit, so a fold is scored on its labelled test rows only, and the pool never holds
    a labelled example (:func:`handful.data.pool.gather` leaves them out). ``groups`` (one per example) reach the
    learner, so one that holds back data holds back whole groups.
    """
    job = FoldJob(candidate, features, y, n_classes, views,
                  FitContext(seed, groups=groups, time_budget=fit_budget, unlabelled=unlabelled))
    seconds: list[float] = []
    probas = fold_probabilities([job], folds, executor, seconds=seconds)[0]
    return score_folds(candidate, probas, y, n_classes, folds, seconds[0])


def describe_protocol(folds: Folds, repeats: int, groups: np.ndarray | None, source: str | None,
                      merged: int = 0, planned: int | None = None, hint: str | None = None) -> dict[str, Any]:
    """What the model card says about the cross-validation: "grouped 5-fold, 3 repeats, 4 groups", the groups'
    sizes, where they came from, and for whom the scores hold; with ``planned`` repetitions above ``repeats``,
    that repeating stopped early (the repetitions agreed); ``hint``, where groups were not given, a way to give
    them (see :func:`handful.data.groups.sub_folder_hint`)."""
    per_repeat = max(1, len(folds) // max(repeats, 1))
    record: dict[str, Any] = {"folds": per_repeat, "repeats": repeats, "grouped": groups is not None,
                              "groups_from": source, "near_duplicates_merged": merged}
    times = f"{repeats} repeat{'s' if repeats != 1 else ''}"
    if planned is not None and planned > repeats:
        record["planned_repeats"] = planned
        times += f" (of up to {planned}: they agreed)"
    if source is None and hint:
        record["groups_hint"] = hint
    if groups is None:
        record["text"] = f"stratified {per_repeat}-fold, {times}"
        record["scores_for"] = "new examples like the training ones (independent of them)"
        return record
    names, sizes = np.unique(np.asarray(groups, dtype=str), return_counts=True)
    record.update({
        "n_groups": int(len(names)),
        "group_sizes": {"min": int(sizes.min()), "median": float(np.median(sizes)), "max": int(sizes.max())},
        "groups": {str(n): int(c) for n, c in zip(names[:50], sizes[:50], strict=True)},
    })
    if source is None:  # only near-duplicates were put together
        pairs = f"{merged} pair" + ("" if merged == 1 else "s")
        record["text"] = f"stratified {per_repeat}-fold, {times}, near-duplicates kept together ({pairs})"
        record["scores_for"] = "new examples like the training ones (independent of them)"
    else:
        record["text"] = f"grouped {per_repeat}-fold, {times}, {len(names)} groups"
        record["scores_for"] = "new groups: examples from groups the model has not seen"
    return record

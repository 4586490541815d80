"""The review after a fit: what to do next. The out-of-fold mistakes and scores, the learning curve and its
forecast, the diagnosis, and the training examples whose labels look wrong."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handful._progress import progress_bar
from handful._timing import stage
from handful.config import LARGE
from handful.data.dataset import Dataset
from handful.evaluation import noise
from handful.evaluation.curve import LearningCurve, learning_curve, skip_reason
from handful.evaluation.diagnosis import Diagnosis, diagnose, misclassified
from handful.evaluation.metrics import Estimate, balanced_accuracy, holdout_metrics
from handful.learners import Learner
from handful.selection import learner_fold_probabilities, make_folds, n_folds

logger = logging.getLogger(__name__)


@dataclass
class Review:
    """What the review found; the classifier keeps each as a fitted attribute."""

    oof_metrics: dict[str, Any] | None = None
    misclassified: list[dict[str, Any]] = field(default_factory=list)
    learning_curve: LearningCurve | None = None
    diagnosis: Diagnosis | None = None


def label_issues(train: Dataset, y: np.ndarray, proba: np.ndarray | None, classes: list[str], blocks: list[Any],
                 content: Any = None) -> dict[str, Any]:
    """Likely label errors, outliers and near-duplicates among the training examples (see
    :mod:`handful.evaluation.noise`); ``content`` are the baseline's scaled features, on which near-duplicates are
    judged too. A check that fails is logged and found empty, never fatal."""
    texts = [e.text for e in train.examples] if train.modality == "text" else None
    try:
        return noise.summarize(proba, y, classes, [e.source for e in train.examples], texts, blocks, content=content)
    except (ValueError, MemoryError) as error:  # a failed check must not cost the user the model
        logger.warning("could not check the labels for errors: %s", error)
        return noise.summarize(None, y, [], [])


def review(
    train: Dataset,
    y: np.ndarray,
    classes: list[str],
    oof: np.ndarray | None,
    head: Learner,
    features: Any,
    learner: str,
    scaling: str,
    cv: tuple[int, int],
    cv_score: Estimate | None,
    baseline: dict[str, Any] | None,
    issues: Any,
    seed: int,
    verbose: int = 0,
    curve_features: Any = None,
    executor: Any = None,
    groups: np.ndarray | None = None,
    augmentation: dict[str, Any] | None = None,
    leaderboard: list[dict[str, Any]] | None = None,
) -> Review:
    """What to do next: the learning curve and its forecast, the diagnosis, and the out-of-fold mistakes.

    ``features`` are the chosen model's (``head`` was fitted on them); ``curve_features`` are what the learning
    curve is measured on, when not ``features``; ``oof`` the winner's out-of-fold probabilities; ``cv`` the search's
    folds and repetitions; ``executor`` where the curve's fits run (the search's: both cores for its many small fits);
    ``groups`` keep each group on one side of the curve's splits too; ``augmentation`` (the model card's record)
    and ``leaderboard`` keep the diagnosis from suggesting what the search already tried.
    """
    found = Review()
    texts = [e.text for e in train.examples] if train.modality == "text" else None
    found.oof_metrics = holdout_metrics(y, oof, classes) if oof is not None else None
    found.misclassified = misclassified(oof, y, classes, [e.source for e in train.examples], texts) \
        if oof is not None else []
    # As many repetitions as the search used (at most 3): a curve of 5 fractions costs 5 times its folds' fits.
    curve_folds = make_folds(y, n_folds(y, cv[0], groups), min(3, cv[1]) if len(y) < LARGE else 1, seed + 1,
                             groups=groups)
    # A curve the data is too small for is not measured, so no bar is drawn for it (it would stand at 0).
    reason = skip_reason(y, len(classes))
    try:
        if reason is not None:
            found.learning_curve = LearningCurve(skipped=reason)
        else:
            with progress_bar("Learning curve", len(curve_folds), verbose) as advance, stage("learning curve"):
                found.learning_curve = learning_curve(
                    features if curve_features is None else curve_features, y, classes, curve_folds, learner,
                    scaling, seed, on_fold=advance,
                    fold_loop=functools.partial(learner_fold_probabilities, executor=executor))
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as error:  # a failed curve must not cost the model
        logger.warning("could not measure the learning curve: %s", error)
        found.learning_curve = LearningCurve(skipped=f"it could not be measured ({error})")
    with stage("train score"):
        train_score = balanced_accuracy(y, head.predict_proba(features).argmax(axis=1), len(classes))
    base = (baseline or {}).get("balanced_accuracy") or {}
    found.diagnosis = diagnose(
        train_score, cv_score.mean if cv_score else float("nan"), classes, train.modality, learner, base.get("mean"),
        found.learning_curve, found.oof_metrics["confusion"] if found.oof_metrics else None,
        None if isinstance(issues, dict) and issues.get("caution") else  # its flags are mostly its own mistakes
        issues.get("examples") if isinstance(issues, dict) else issues, augmentation,
        baseline_chosen=bool((baseline or {}).get("chosen")), leaderboard=leaderboard,
    )
    return found

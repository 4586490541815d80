"""How far to trust a model: calibrated probabilities, prediction sets and the "unlike anything learned" flag,
fitted together on the chosen model's out-of-fold probabilities and saved with it.

The calibrator is chosen and fitted on the out-of-fold probabilities; the conformal thresholds on the calibrated
out-of-fold probabilities (the nested, cross-fitted ones, so the sets are not flattered); the out-of-distribution
threshold on leave-fold-out distances in the frozen backbone's embedding. All use the same folds as model selection,
so with groups every figure is for new groups.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = np.repeat([0, 1], 30)
    >>> proba = np.column_stack([1 - (y * 0.6 + 0.2), y * 0.6 + 0.2])
    >>> features = rng.normal(0, 1, (60, 4)) + y[:, None]
    >>> folds = [(np.flatnonzero(np.arange(60) % 3 != f), np.flatnonzero(np.arange(60) % 3 == f)) for f in range(3)]
    >>> trust = fit_trust(proba, y, features, folds, seed=0)
    >>> trust.sets.predict(trust.calibrator.transform(proba[:1])).shape
    (1, 2)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handful.data.dataset import Problem
from handful.evaluation.calibration import (
    VECTOR_MIN_PER_CLASS,
    Calibrator,
    expected_calibration_error,
    fit_calibration,
    group_gaps,
)
from handful.evaluation.conformal import DEFAULT_LEVEL, ConformalSets
from handful.evaluation.metrics import holdout_metrics
from handful.evaluation.ood import FALSE_ALARM, OODDetector, more_unlike

logger = logging.getLogger(__name__)


@dataclass
class Trust:
    """The fitted calibrator, prediction-set thresholds and out-of-distribution detector, and their figures."""

    calibrator: Calibrator
    sets: ConformalSets
    ood: OODDetector | None
    summary: dict[str, Any] = field(default_factory=dict)  # figures for the model card and report (JSON-able)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able parameters and the tensors, for the model file (tensor names are prefixed)."""
        calibration, tensors = self.calibrator.state()
        sets, set_tensors = self.sets.state()
        params: dict[str, Any] = {"calibration": calibration, "sets": sets, "summary": self.summary, "ood": None}
        tensors = {**tensors, **set_tensors}
        if self.ood is not None:
            params["ood"], ood_tensors = self.ood.state()
            tensors.update(ood_tensors)
        return params, {f"trust.{k}": v for k, v in tensors.items()}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> Trust:
        own = {k[len("trust."):]: v for k, v in tensors.items() if k.startswith("trust.")}
        ood = OODDetector.from_state(params["ood"], own) if params.get("ood") else None
        return cls(Calibrator.from_state(params["calibration"], own), ConformalSets.from_state(params["sets"], own),
                   ood, dict(params.get("summary") or {}))


def fit_trust(
    oof_proba: np.ndarray, y: np.ndarray, embeddings: Any, folds: list[tuple[np.ndarray, np.ndarray]], seed: int,
    groups: np.ndarray | None = None, level: float = DEFAULT_LEVEL, false_alarm: float = FALSE_ALARM,
    fold_proba: list[np.ndarray] | None = None, group_names: list[str] | None = None,
) -> Trust:
    """Fit the calibrator, the conformal thresholds and the out-of-distribution detector.

    Args:
        oof_proba: the chosen model's out-of-fold probabilities (n, n_classes).
        y: true class indices.
        embeddings: the frozen backbone's embeddings of the training examples (for the distance), or None.
        folds: the selection folds (their test parts give the leave-fold-out distances).
        seed: seeds the calibrator's nested split.
        groups: examples that belong together, kept on one side of the nested split.
        level: the prediction sets' coverage.
        false_alarm: the fraction of inputs like the training ones that may be flagged.
        fold_proba: each fold's probabilities for its test rows. When given, calibration and sets are fitted on
            these rows, one per (fold, example), rather than on ``oof_proba``: with repeated folds ``oof_proba``
            averages an example's repetitions, which makes it less confident than any one model, the final one
            included. The nested split keeps an example's repetitions (and its group) together.
        group_names: each example's group name, of which ``groups`` are the codes (the order of the sorted
            names), for the figures: which group is off, and how.
    """
    y = np.asarray(y, dtype=np.int64)
    proba, labels, nested, owners = np.asarray(oof_proba), y, groups, None
    if fold_proba is not None and len(fold_proba) == len(folds):
        owners = np.concatenate([test for _, test in folds])
        proba = np.concatenate([np.asarray(p) for p in fold_proba])
        labels = y[owners]
        nested = owners if groups is None else np.asarray(groups)[owners]
    # Vector scaling needs many distinct examples a class (repetitions of one example are not more data).
    rich = np.bincount(y, minlength=proba.shape[1]).min() >= VECTOR_MIN_PER_CLASS
    methods = ("none", "temperature", "vector") if rich else ("none", "temperature")
    calibration = fit_calibration(proba, labels, seed=seed, groups=nested, methods=methods, examples=owners)
    sets = ConformalSets.fit(calibration.calibrated_oof, labels, level=level)
    ood = OODDetector.fit(embeddings, folds, false_alarm) if embeddings is not None else None
    oof_sets = sets.coverage(calibration.calibrated_oof, labels)
    names = sorted(set(group_names)) if group_names is not None else None
    by_group = (group_gaps(calibration.calibrated_oof, labels, nested, owners, names)
                if groups is not None and nested is not None else None)
    summary = {
        "calibration": {**calibration.as_dict(), "by_group": by_group},
        "sets": {**sets.state()[0], "oof_coverage": oof_sets["coverage"], "oof_mean_size": oof_sets["mean_size"]},
        "ood": ood.as_dict() if ood is not None else None,
        "new_groups": groups is not None,
    }
    logger.info("calibration %s: out-of-fold ECE %.3f -> %.3f; %d%% sets cover %.3f (mean size %.2f)",
                calibration.calibrator.method, calibration.ece_before, calibration.ece_after, round(level * 100),
                oof_sets["coverage"], oof_sets["mean_size"])
    return Trust(calibration.calibrator, sets, ood, summary)


def held_out_trust(trust: Trust, proba: np.ndarray, y: np.ndarray,
                   distances: np.ndarray | None = None) -> dict[str, Any]:
    """Calibration and set coverage on labelled data the model did not train on (``proba``: uncalibrated) and,
    given each input's ``distances`` to the training data, the share flagged as unlike anything it learned beside
    the share expected of data like the training data (the detector's false-alarm rate)."""
    calibrated = trust.calibrator.transform(proba)
    covered = trust.sets.coverage(calibrated, y)
    found = {"ece_before": expected_calibration_error(proba, y), "ece": expected_calibration_error(calibrated, y),
             "set_coverage": covered["coverage"], "set_mean_size": covered["mean_size"], "set_level": covered["level"]}
    if distances is not None and trust.ood is not None and len(distances):
        share = float(np.mean(distances > trust.ood.threshold))
        found |= {"unlike_share": share, "unlike_expected": trust.ood.false_alarm,
                  "unlike_more": more_unlike(share, trust.ood, len(distances))}
    return found


def held_out_scores(classes: list[str], y: np.ndarray, calibrated: np.ndarray, raw: np.ndarray,
                    distances: np.ndarray | None, trust: Trust | None, features: Any, where: str
                    ) -> tuple[dict[str, Any], list[Problem]]:
    """What ``evaluate`` reports on labelled examples (:func:`~handful.evaluation.metrics.holdout_metrics` and,
    with ``trust``, :func:`held_out_trust`), scored on those the model did not learn from.

    An example whose embedding in the distance detector's backbone (``features``) is a training example's own is
    that file or text again: it is left out, and a problem says how many, since on them the model looks better than
    on new data. Every example being one is an error. ``raw``: uncalibrated probabilities; ``calibrated``: as served.
    """
    seen = trust.ood.learned(features) if trust is not None and trust.ood is not None and features is not None \
        else np.zeros(len(y), dtype=bool)
    if len(y) and seen.all():
        raise ValueError(f"all {len(seen)} examples in {where} are ones the model learned from, so a score on them "
                         "would say nothing about new data; evaluate on examples it has not seen.")
    new = ~seen
    metrics = holdout_metrics(y[new], calibrated[new], classes)
    metrics["trust"] = held_out_trust(trust, raw[new], y[new], None if distances is None else distances[new]) \
        if trust is not None else None
    said = f"{int(seen.sum())} of its {len(seen)} examples are ones the model learned from (the same file or text " \
           "again), left out of the scores: on them it would look better than on new data"
    return metrics, [Problem(where, said)] if seen.any() else []

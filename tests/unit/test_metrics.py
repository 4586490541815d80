"""Intervals that reflect how little a small evaluation can say."""

from __future__ import annotations

import numpy as np

from handful.evaluation import cv_estimate, holdout_metrics, wilson_interval


def test_corrected_interval_is_wider_than_naive() -> None:
    scores = [0.8, 0.9, 0.85, 0.9, 0.8, 0.75, 0.95, 0.85, 0.9, 0.8]
    estimate = cv_estimate(scores, test_fraction=0.2)
    naive = 2.262 * np.std(scores, ddof=1) / np.sqrt(len(scores))
    assert estimate.low < estimate.mean < estimate.high
    assert estimate.high - estimate.mean > naive


def test_single_score_has_no_spread() -> None:
    estimate = cv_estimate([0.7], 0.2)
    assert (estimate.low, estimate.high, estimate.std) == (0.7, 0.7, 0.0)


def test_folds_that_all_score_one_on_few_examples_do_not_claim_certainty() -> None:
    # 20 examples, 2-fold twice, every fold right: the folds' spread is 0, the accuracy on new examples is not 1.
    alone = cv_estimate([1.0, 1.0, 1.0, 1.0], test_fraction=0.5)
    assert (alone.low, alone.high) == (1.0, 1.0)
    estimate = cv_estimate([1.0, 1.0, 1.0, 1.0], test_fraction=0.5, examples=20)
    assert (estimate.low, estimate.high) == (wilson_interval(20, 20)[0], 1.0) and estimate.low < 0.85
    scores = [0.8, 0.9, 0.85, 0.9, 0.8, 0.75, 0.95, 0.85, 0.9, 0.8]  # a wide spread is kept as it is
    assert cv_estimate(scores, 0.2, examples=2000) == cv_estimate(scores, 0.2)


def test_wilson_interval_known_values() -> None:
    low, high = wilson_interval(8, 10)
    assert abs(low - 0.4902) < 1e-3 and abs(high - 0.9433) < 1e-3
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_holdout_metrics_per_class_and_confusion() -> None:
    y = np.array([0, 0, 1, 1, 1])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.1, 0.9], [0.3, 0.7], [0.6, 0.4]])
    metrics = holdout_metrics(y, proba, ["a", "b"])
    assert metrics["accuracy"] == 0.6
    assert metrics["confusion"] == [[1, 1], [1, 2]]
    assert metrics["per_class"]["b"] == {"precision": 2 / 3, "recall": 2 / 3, "support": 3}
    assert abs(metrics["balanced_accuracy"] - (0.5 + 2 / 3) / 2) < 1e-12

"""Measuring a model: metrics with confidence intervals, the learning curve and its forecast, the diagnosis, label
noise, what to label next, calibration, conformal sets and out-of-distribution flags, and the review after a fit
(:mod:`~handful.evaluation.review`)."""

from handful.evaluation.curve import Forecast, LearningCurve, fit_power_law, learning_curve, power_law
from handful.evaluation.diagnosis import Diagnosis, diagnose, misclassified
from handful.evaluation.metrics import (
    Estimate,
    balanced_accuracy,
    cv_estimate,
    holdout_metrics,
    wilson_interval,
)
from handful.evaluation.noise import DuplicatePair, LabelIssue, find_near_duplicates, rank_label_issues
from handful.evaluation.suggest import Suggestion, select, suggestions, uncertainty

__all__ = [
    "Diagnosis", "Estimate", "Forecast", "LearningCurve", "balanced_accuracy", "cv_estimate", "diagnose",
    "fit_power_law", "holdout_metrics", "learning_curve", "misclassified", "power_law", "wilson_interval",
    "DuplicatePair", "LabelIssue", "Suggestion", "find_near_duplicates", "rank_label_issues", "select", "suggestions",
    "uncertainty",
]

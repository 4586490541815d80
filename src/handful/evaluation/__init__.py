"""Metrics with confidence intervals (and, later, learning curves, diagnosis, label noise, what to label next)."""

from handful.evaluation.metrics import (
    Estimate,
    balanced_accuracy,
    cv_estimate,
    holdout_metrics,
    wilson_interval,
)

__all__ = ["Estimate", "balanced_accuracy", "cv_estimate", "holdout_metrics", "wilson_interval"]

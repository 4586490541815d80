"""Scores with honest uncertainty: intervals for cross-validated means and for held-out accuracy."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Estimate:
    """A mean score with its spread over folds and a 95% interval."""

    mean: float
    std: float
    low: float
    high: float
    n: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        return f"{self.mean:.3f} ± {self.std:.3f} (95% CI {self.low:.3f}-{self.high:.3f})"


def cv_estimate(scores: np.ndarray | list[float], test_fraction: float, examples: int | None = None) -> Estimate:
    """Mean of repeated cross-validation scores with the Nadeau-Bengio corrected interval.

    Folds share training data, so the plain standard error is too small; the correction (Nadeau & Bengio, 2003)
    inflates the variance by ``n_test / n_train``. Given the number of ``examples`` scored, the interval is at least
    the Wilson interval of the mean on that many: folds that all score 1.000 on 20 examples do not make the
    accuracy on new ones certain.

    Example:
        >>> round(cv_estimate([0.8, 0.9, 0.85, 0.9, 0.8], 0.2).mean, 2)
        0.85
        >>> found = cv_estimate([1.0, 1.0, 1.0, 1.0], 0.5, examples=20)
        >>> round(found.low, 3), found.high
        (0.839, 1.0)
    """
    values = np.asarray(scores, dtype=np.float64)
    n = len(values)
    mean = float(values.mean()) if n else float("nan")
    std = float(values.std(ddof=1)) if n > 1 else 0.0
    low, high = mean, mean
    if n >= 2:
        half = float(stats.t.ppf(0.975, n - 1) * corrected_error(values, test_fraction))
        low, high = max(0.0, mean - half), min(1.0, mean + half)
    if examples and n:
        floor, ceiling = wilson_interval(round(mean * examples), examples)
        low, high = min(low, floor), max(high, ceiling)
    return Estimate(mean, std, low, high, n)


def corrected_error(scores: np.ndarray | list[float], test_fraction: float) -> float:
    """The Nadeau-Bengio corrected standard error of the mean of repeated cross-validation scores (or of paired
    per-fold differences between two candidates scored on the same folds); 0 for fewer than two scores.

    Example:
        >>> round(corrected_error([0.1, -0.1, 0.1, -0.1], 0.2), 3)  # the plain standard error is 0.058
        0.082
    """
    values = np.asarray(scores, dtype=np.float64)
    if len(values) < 2:
        return 0.0
    ratio = test_fraction / max(1e-9, 1 - test_fraction)
    return float(np.sqrt((1.0 / len(values) + ratio) * values.var(ddof=1)))


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval for a proportion (accuracy on a held-out set)."""
    if total == 0:
        return (0.0, 1.0)
    p = correct / total
    denominator = 1 + z**2 / total
    centre = (p + z**2 / (2 * total)) / denominator
    half = z * np.sqrt(p * (1 - p) / total + z**2 / (4 * total**2)) / denominator
    return (float(max(0.0, centre - half)), float(min(1.0, centre + half)))


def balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> float:
    """Mean per-class recall over the classes present in ``y_true``."""
    recalls = [np.mean(y_pred[y_true == c] == c) for c in range(n_classes) if np.any(y_true == c)]
    return float(np.mean(recalls)) if recalls else float("nan")


def holdout_metrics(y_true: np.ndarray, proba: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Accuracy (with Wilson interval), balanced accuracy, per-class precision/recall and the confusion matrix."""
    y_pred = proba.argmax(axis=1)
    n_classes = len(classes)
    correct = int((y_pred == y_true).sum())
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(confusion, (y_true, y_pred), 1)
    per_class = {}
    for index, name in enumerate(classes):
        predicted = confusion[:, index].sum()
        actual = confusion[index].sum()
        per_class[name] = {
            "precision": float(confusion[index, index] / predicted) if predicted else None,
            "recall": float(confusion[index, index] / actual) if actual else None,
            "support": int(actual),
        }
    low, high = wilson_interval(correct, len(y_true))
    return {
        "n": int(len(y_true)),
        "accuracy": correct / len(y_true) if len(y_true) else float("nan"),
        "accuracy_interval": [low, high],
        "balanced_accuracy": balanced_accuracy(y_true, y_pred, n_classes),
        "per_class": per_class,
        "confusion": confusion.tolist(),
    }

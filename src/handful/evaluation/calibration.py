"""Calibrated probabilities: does "probability 0.73" mean right 73% of the time?

A calibrator is fitted on the chosen model's out-of-fold probabilities (each example scored by a model that did not
see it), so it corrects the confidence the model will have on new data. Candidates:

- ``none``: the probabilities as they are;
- ``temperature``: one number ``T``, ``softmax(log p / T)`` (Guo et al., 2017): keeps the ranking, fixes over- or
  under-confidence. It is fitted to labels smoothed by one pseudo-example spread over the classes (Laplace's rule:
  n right answers of n do not make a probability 1): on 20 examples that the fold models all got right, a fit to
  the bare labels drives ``T`` towards 0 (0.04), and a mistake at probability 0.3 then costs a log loss of 16;
- ``vector``: a scale and a bias per class on the log-probabilities (diagonal Dirichlet calibration, Kull et al.,
  2019), lightly pulled towards the identity; worth it only with enough examples.

The choice is honest: each candidate is fitted on part of the out-of-fold rows and scored (log loss) on the rest
(a nested split that keeps groups together). A correction is used only when its held-out log loss is lower than
with none by more than one standard error of the paired per-row difference (rows of one group counted as one
cluster, so a speaker's hundred clips are not a hundred independent votes), so a final model that was already
calibrated is not spoiled by a correction the rows could not tell from noise. Among the corrections that pass, the
simpler wins unless a richer one's held-out log loss is lower by a margin. The winner is then refitted on all rows.
The nested, cross-fitted probabilities give the "after" figures, so they are not flattered by fitting and scoring
on the same rows.

Written by hand: scikit-learn's ``CalibratedClassifierCV`` refits the model itself (handful already has the
out-of-fold probabilities) and offers no temperature scaling; the fit is one small convex problem.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 400)
    >>> logits = np.where(y[:, None] == np.arange(2), 3.0, 0.0) + rng.normal(0, 2.0, (400, 2))
    >>> proba = np.exp(3 * logits) / np.exp(3 * logits).sum(axis=1, keepdims=True)  # over-confident
    >>> fitted = fit_calibration(proba, y, seed=0)
    >>> fitted.calibrator.method in ("temperature", "vector")
    True
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize
from scipy.special import log_softmax

logger = logging.getLogger(__name__)

METHODS = ("none", "temperature", "vector")
N_BINS = 15
EPS = 1e-7
VECTOR_MIN_PER_CLASS = 100  # per-class parameters need many examples of each class (64 a class overfit SST-2)
MARGIN = 0.002  # a richer method must lower the held-out log loss by this fraction to be chosen
GAIN_ERRORS = 1.0  # ... and by this many standard errors of the paired per-row difference (see the tests)
VECTOR_PENALTY = 1e-2  # pull towards the identity, per row
PSEUDO_EXAMPLES = 1.0  # the temperature's labels are smoothed by this many examples (see the module's docstring)


def _log_proba(proba: np.ndarray) -> np.ndarray:
    proba = np.clip(np.asarray(proba, dtype=np.float64), EPS, 1.0)
    return np.log(proba / proba.sum(axis=1, keepdims=True))


def row_losses(proba: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each row's negative log-probability of its true class."""
    proba = np.clip(np.asarray(proba, dtype=np.float64), EPS, 1.0)
    return -np.log(proba[np.arange(len(y)), y])


def log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    """Mean negative log-probability of the true class (0 is perfect; log(n_classes) is a uniform guess)."""
    return float(np.mean(row_losses(proba, y)))


def paired_gain(before: np.ndarray, after: np.ndarray, clusters: np.ndarray | None = None) -> tuple[float, float]:
    """Mean of ``before - after`` (per-row losses) and its standard error, cluster-robust when rows come in
    clusters (a group's rows, an example's repetitions): the clusters' sums are the independent units.

    Example:
        >>> gain, error = paired_gain(np.array([1.0, 1.0, 1.0, 1.0]), np.array([0.5, 0.6, 0.4, 0.5]))
        >>> round(gain, 2), round(error, 3)
        (0.5, 0.041)
    """
    difference = np.asarray(before, dtype=np.float64) - np.asarray(after, dtype=np.float64)
    n = len(difference)
    mean = float(difference.mean()) if n else 0.0
    if clusters is None:
        clusters = np.arange(n)
    _, index = np.unique(np.asarray(clusters), return_inverse=True)
    sums = np.bincount(index, weights=difference - mean)
    count = len(sums)
    if count < 2:
        return mean, float("inf")
    return mean, float(np.sqrt(count / (count - 1) * np.sum(sums**2)) / n)


@dataclass(frozen=True)
class Reliability:
    """A reliability diagram's data: per confidence bin, the mean confidence, the accuracy and the count."""

    edges: list[float]
    confidence: list[float | None]
    accuracy: list[float | None]
    count: list[int]

    def as_dict(self) -> dict[str, Any]:
        return {"edges": self.edges, "confidence": self.confidence, "accuracy": self.accuracy, "count": self.count}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reliability:
        return cls(list(data["edges"]), list(data["confidence"]), list(data["accuracy"]), list(data["count"]))


def reliability(proba: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> Reliability:
    """Top-label confidence against accuracy in ``n_bins`` equal-width bins of confidence."""
    proba = np.asarray(proba, dtype=np.float64)
    confidence = proba.max(axis=1)
    correct = proba.argmax(axis=1) == np.asarray(y)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    conf: list[float | None] = []
    acc: list[float | None] = []
    count: list[int] = []
    for b in range(n_bins):
        inside = which == b
        count.append(int(inside.sum()))
        conf.append(float(confidence[inside].mean()) if inside.any() else None)
        acc.append(float(correct[inside].mean()) if inside.any() else None)
    return Reliability([float(e) for e in edges], conf, acc, count)


def expected_calibration_error(proba: np.ndarray, y: np.ndarray, n_bins: int = N_BINS) -> float:
    """ECE: the count-weighted mean gap between confidence and accuracy over ``n_bins`` equal-width bins.

    Example:
        >>> expected_calibration_error(np.array([[0.9, 0.1], [0.9, 0.1]]), np.array([0, 1]))
        0.4
    """
    table = reliability(proba, y, n_bins)
    total = sum(table.count)
    if total == 0:
        return float("nan")
    gap = sum(n * abs(c - a) for n, c, a in zip(table.count, table.confidence, table.accuracy, strict=True)
              if n and c is not None and a is not None)
    return round(float(gap / total), 12)


def ece_noise(proba: np.ndarray, n_draws: int = 400, seed: int = 0, n_bins: int = N_BINS) -> tuple[float, float]:
    """The ECE a perfectly calibrated model would show with these confidences on this many examples: the mean and
    95th percentile over ``n_draws`` label draws in which each top label is right with exactly its stated
    probability (consistency resampling, Bröcker and Smith, 2007). With a few hundred examples the binned ECE of
    a perfect model is not 0 but about 0.03-0.06; an ECE inside this range cannot be told from perfect.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> p = rng.uniform(0.5, 1.0, 200)
        >>> mean, high = ece_noise(np.column_stack([p, 1 - p]))
        >>> 0.01 < mean < high < 0.12
        True
    """
    proba = np.asarray(proba, dtype=np.float64)
    if len(proba) == 0:
        return float("nan"), float("nan")
    confidence = proba.max(axis=1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, n_bins - 1)
    rng = np.random.default_rng(seed)
    right = rng.random((n_draws, len(confidence))) < confidence  # each draw: which top labels were right
    gaps = np.zeros(n_draws)
    for b in np.unique(which):
        inside = which == b
        gaps += np.abs(right[:, inside].sum(axis=1) - confidence[inside].sum())
    ece = gaps / len(confidence)
    return round(float(ece.mean()), 6), round(float(np.quantile(ece, 0.95)), 6)


def group_gaps(proba: np.ndarray, y: np.ndarray, groups: np.ndarray, examples: np.ndarray | None = None,
               names: list[str] | None = None) -> dict[str, Any] | None:
    """Does calibration differ from group to group (speaker to speaker, patient to patient) beyond chance?

    A pooled ECE can be small while each group is off its own way: one speaker over-confident, another
    under-confident. A new group will be off its own way too, which no calibrator fitted on the others removes. For
    each group, ``gap`` is its mean top-label confidence minus its accuracy; a perfectly calibrated model's gap has
    variance ``mean c(1 - c) / m`` on ``m`` examples of confidence ``c`` (rows that repeat an example count once).

    Returns None with fewer than two groups, else ``groups`` (their count); ``rms_gap``, how far a new group's
    confidence and accuracy may differ beyond chance (the root mean square of the gaps less that variance, at least
    0); ``p_value`` of the gaps under perfect calibration in every group (their sum of squared z-scores against a
    chi-square with one degree of freedom a group); ``beyond_chance`` (p < 0.05); and ``most_over`` /
    ``most_under``: the group with the largest positive / negative gap and that gap, or None.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> p = np.full(600, 0.8)
        >>> groups = np.repeat([0, 1, 2], 200)
        >>> right = rng.random(600) < np.repeat([0.95, 0.8, 0.65], 200)  # the first too shy, the last too sure
        >>> found = group_gaps(np.column_stack([p, 1 - p]), np.where(right, 0, 1), groups, names=["a", "b", "c"])
        >>> found["beyond_chance"], found["most_over"]["group"], found["most_under"]["group"]
        (True, 'c', 'a')
    """
    from scipy.stats import chi2

    proba = np.asarray(proba, dtype=np.float64)
    groups = np.asarray(groups)
    owners = np.arange(len(proba)) if examples is None else np.asarray(examples)
    confidence = np.clip(proba.max(axis=1), EPS, 1 - EPS)
    right = proba.argmax(axis=1) == np.asarray(y)
    kept = np.unique(groups)
    if len(kept) < 2:
        return None
    gaps, variances = [], []
    for g in kept:
        inside = groups == g
        c = confidence[inside]
        gaps.append(float(c.mean() - right[inside].mean()))
        variances.append(float(np.mean(c * (1 - c)) / len(np.unique(owners[inside]))))
    gap, variance = np.array(gaps), np.array(variances)
    statistic = float(np.sum(gap ** 2 / variance))
    p_value = float(chi2.sf(statistic, len(kept)))
    name = (lambda i: str(names[int(kept[i])])) if names is not None else (lambda i: str(kept[i]))
    over, under = int(gap.argmax()), int(gap.argmin())
    largest, smallest = round(float(gap[over]), 4), round(float(gap[under]), 4)
    return {
        "groups": len(kept),
        "rms_gap": round(float(np.sqrt(max(0.0, float(np.mean(gap ** 2 - variance))))), 4),
        "p_value": round(p_value, 6),
        "beyond_chance": p_value < 0.05,
        "most_over": {"group": name(over), "gap": largest} if largest > 0 else None,
        "most_under": {"group": name(under), "gap": smallest} if smallest < 0 else None,
    }


@dataclass
class Calibrator:
    """A fitted calibration map from a model's probabilities to calibrated ones."""

    method: str = "none"
    temperature: float = 1.0
    scale: np.ndarray | None = None  # vector scaling: per-class scale on log-probabilities
    bias: np.ndarray | None = None

    def transform(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (rows sum to 1; ``none`` returns the input unchanged)."""
        proba = np.asarray(proba, dtype=np.float64)
        if self.method == "none" or len(proba) == 0:
            return proba
        logits = _log_proba(proba)
        if self.method == "temperature":
            return np.exp(log_softmax(logits / self.temperature, axis=1))
        if self.method == "vector" and self.scale is not None and self.bias is not None:
            return np.exp(log_softmax(logits * self.scale + self.bias, axis=1))
        raise ValueError(f"unknown calibration method {self.method!r}; expected one of {', '.join(METHODS)}")

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able parameters and tensors, for the model file."""
        params = {"method": self.method, "temperature": float(self.temperature)}
        tensors = {}
        if self.method == "vector" and self.scale is not None and self.bias is not None:
            tensors = {"calibration.scale": self.scale.astype(np.float64),
                       "calibration.bias": self.bias.astype(np.float64)}
        return params, tensors

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> Calibrator:
        method = params.get("method", "none")
        if method not in METHODS:
            raise ValueError(f"unknown calibration method {method!r} in the model file")
        if method == "vector":
            return cls(method, 1.0, np.asarray(tensors["calibration.scale"]), np.asarray(tensors["calibration.bias"]))
        return cls(method, float(params.get("temperature", 1.0)))


def _fit_one(method: str, logits: np.ndarray, y: np.ndarray, examples: int | None = None) -> Calibrator:
    """Fit ``method`` on ``logits`` (rows) and labels ``y``; ``examples``: how many distinct examples the rows hold
    (an example's repetitions are not more evidence), which sets the weight of the temperature's pseudo-example."""
    n, k = logits.shape
    rows = np.arange(n)
    if method == "none":
        return Calibrator()
    if method == "temperature":
        smooth = PSEUDO_EXAMPLES / (max(examples or n, 1) + PSEUDO_EXAMPLES)
        target = (1 - smooth) * np.eye(k)[y] + smooth / k

        def loss_t(theta: np.ndarray) -> tuple[float, np.ndarray]:
            t = np.exp(theta[0])
            z = logits / t
            logp = log_softmax(z, axis=1)
            p = np.exp(logp)
            loss = -(target * logp).sum(axis=1).mean()
            # d loss / d z = p - target; dz/dtheta = -z
            grad = float(np.mean(np.sum((p - target) * -z, axis=1)))
            return float(loss), np.array([grad])

        found = minimize(loss_t, np.zeros(1), jac=True, method="L-BFGS-B", bounds=[(-4.0, 4.0)])
        return Calibrator("temperature", float(np.exp(found.x[0])))
    if method == "vector":
        onehot = np.eye(k)[y]

        def loss_v(theta: np.ndarray) -> tuple[float, np.ndarray]:
            w, b = theta[:k], theta[k:]
            logp = log_softmax(logits * w + b, axis=1)
            p = np.exp(logp)
            delta = (p - onehot) / n
            penalty = VECTOR_PENALTY * (np.sum((w - 1) ** 2) + np.sum(b**2))
            grad = np.concatenate([(delta * logits).sum(axis=0) + 2 * VECTOR_PENALTY * (w - 1),
                                   delta.sum(axis=0) + 2 * VECTOR_PENALTY * b])
            return float(-logp[rows, y].mean() + penalty), grad

        found = minimize(loss_v, np.concatenate([np.ones(k), np.zeros(k)]), jac=True, method="L-BFGS-B")
        return Calibrator("vector", 1.0, found.x[:k].copy(), found.x[k:].copy())
    raise ValueError(f"unknown calibration method {method!r}; expected one of {', '.join(METHODS)}")


@dataclass
class CalibrationFit:
    """The chosen calibrator and the figures a model card shows (before: the raw out-of-fold probabilities; after:
    the nested cross-fitted calibrated ones)."""

    calibrator: Calibrator
    scores: dict[str, float]  # held-out log loss of each candidate method
    ece_before: float
    ece_after: float
    log_loss_before: float
    log_loss_after: float
    reliability_before: Reliability
    reliability_after: Reliability
    calibrated_oof: np.ndarray = field(repr=False)
    ece_noise: tuple[float, float] = (float("nan"), float("nan"))  # a perfect model's ECE here: mean, 95th pct

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.calibrator.method, "temperature": self.calibrator.temperature,
            "candidates": {k: round(v, 6) for k, v in self.scores.items()},
            "ece_before": self.ece_before, "ece_after": self.ece_after,
            "ece_perfect_mean": self.ece_noise[0], "ece_perfect_high": self.ece_noise[1],
            "log_loss_before": self.log_loss_before, "log_loss_after": self.log_loss_after,
            "reliability_before": self.reliability_before.as_dict(),
            "reliability_after": self.reliability_after.as_dict(),
        }


def _nested_folds(y: np.ndarray, groups: np.ndarray | None, seed: int, wanted: int = 5
                  ) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

    smallest = int(np.bincount(y).min()) if len(y) else 0
    if groups is not None:
        n_groups = len(np.unique(groups))
        if n_groups < 2:
            return []
        splits = max(2, min(wanted, n_groups))
        splitter = StratifiedGroupKFold(n_splits=splits, shuffle=True, random_state=seed)
        try:
            with warnings.catch_warnings():  # "least populated class" warnings count rows, not groups
                warnings.simplefilter("ignore", UserWarning)
                return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), y, groups) if len(tr) and len(te)]
        except ValueError:  # too few examples per class to stratify: no honest choice, no calibration
            return []
    splits = min(wanted, smallest)
    if splits < 2:
        return []
    splitter = StratifiedKFold(n_splits=splits, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(y)), y))


def fit_calibration(
    proba: np.ndarray, y: np.ndarray, seed: int = 0, groups: np.ndarray | None = None,
    methods: tuple[str, ...] | None = None, examples: np.ndarray | None = None,
) -> CalibrationFit:
    """Choose and fit a calibrator on out-of-fold probabilities ``proba`` (rows: examples) with labels ``y``.

    Args:
        proba: out-of-fold class probabilities, shape (n, n_classes).
        y: true class indices.
        seed: seeds the nested split.
        groups: examples that belong together (same speaker, same session) stay on one side of the nested split.
        methods: candidates; by default ``none`` and ``temperature``, plus ``vector`` when every class has at least
            100 examples.
        examples: the example each row belongs to, when rows repeat examples (one row per fold and example); by
            default each row is an example of its own.

    Returns:
        The chosen calibrator (refitted on all rows) with ECE and log loss before and after.
    """
    proba = np.asarray(proba, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    n_classes = proba.shape[1]
    logits = _log_proba(proba)
    counts = np.bincount(y, minlength=n_classes)
    if methods is None:
        methods = ("none", "temperature") + (("vector",) if counts.min() >= VECTOR_MIN_PER_CLASS else ())
    owners = np.arange(len(y)) if examples is None else np.asarray(examples)
    folds = _nested_folds(y, groups, seed)
    held_out = {m: np.zeros_like(proba) for m in methods}
    if folds:
        for train, test in folds:
            distinct = len(np.unique(owners[train]))
            for method in methods:
                held_out[method][test] = _fit_one(method, logits[train], y[train], distinct).transform(proba[test])
        losses = {m: row_losses(held_out[m], y) for m in methods}
        scores = {m: float(losses[m].mean()) for m in methods}
        # A correction must beat none (the first method) by a margin (0.2% of the log loss) and by more than one
        # standard error of the paired difference: 128 rows cannot tell a small gain from noise. Among those that
        # do, the simpler wins unless a richer one's held-out log loss is lower by the margin.
        chosen = methods[0]
        for method in methods[1:]:
            gain, error = paired_gain(losses[methods[0]], losses[method], groups)
            if gain > scores[methods[0]] * MARGIN and gain > GAIN_ERRORS * error \
                    and (chosen == methods[0] or scores[method] < scores[chosen] * (1 - MARGIN)):
                chosen = method
    else:  # too few rows to choose honestly: leave the probabilities alone
        scores, chosen = {"none": log_loss(proba, y)}, "none"
        held_out = {"none": proba}
    calibrator = _fit_one(chosen, logits, y, len(np.unique(owners)))
    after = held_out[chosen]
    logger.info("calibration: %s (held-out log loss %s)", chosen,
                ", ".join(f"{k} {v:.4f}" for k, v in scores.items()))
    return CalibrationFit(
        calibrator, scores,
        ece_before=expected_calibration_error(proba, y), ece_after=expected_calibration_error(after, y),
        log_loss_before=log_loss(proba, y), log_loss_after=log_loss(after, y),
        reliability_before=reliability(proba, y), reliability_after=reliability(after, y),
        calibrated_oof=after, ece_noise=ece_noise(after, seed=seed),
    )

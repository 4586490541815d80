"""Learning curve: how the chosen model's cross-validated score grows with the amount of labelled data.

At growing fractions of each class (stratified, nested subsamples drawn anew for every fold) the head is trained
on part of each fold's training rows and scored on that fold's held-out rows, never on training rows. An inverse
power law ``score(n) = a - b * (n / n_now) ** -c`` is fitted to the mean scores; a bootstrap over folds (widened by
the Nadeau-Bengio factor, since folds share training rows) gives a band, and the band at 2x and 5x the data is the
forecast. Recall per class across fractions says which classes would gain most from more examples.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from handful.evaluation.metrics import balanced_accuracy

logger = logging.getLogger(__name__)

FRACTIONS: tuple[float, ...] = (0.2, 0.35, 0.5, 0.7, 1.0)
FACTORS: tuple[float, ...] = (2.0, 5.0)
MIN_EXAMPLES = 30
MIN_PER_CLASS = 6
FLAT = 0.01  # a gain below this for twice the data is "flattened"
RISING = 0.03
WIDE = 0.10  # a 95% range for the 2x forecast wider than this cannot tell a flat curve from a rising one

Folds = list[tuple[np.ndarray, np.ndarray]]
# (learner, scaling, features, y, n_classes, folds, seeds) -> each fold's test-row probabilities
FoldLoop = Callable[[str, str, Any, np.ndarray, int, Folds, list[int]], list[np.ndarray]]


@dataclass
class Forecast:
    """The expected cross-validated score with ``factor`` times the labelled data, and its 95% band."""

    factor: float
    n_train: float
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        return f"with {self.factor:g}x the data: {self.value:.2f} ({self.low:.2f}-{self.high:.2f})"


@dataclass
class LearningCurve:
    """Measured scores at growing amounts of data, the fitted curve, its band and the forecast.

    ``skipped`` holds the reason when the data was too small for a meaningful curve; the other fields are then
    empty. Scores are balanced accuracies; ``n_train`` counts the training rows of one cross-validation fold.
    """

    learner: str = ""
    proxy_for: str | None = None
    fractions: list[float] = field(default_factory=list)
    n_train: list[float] = field(default_factory=list)
    scores: list[list[float]] = field(default_factory=list)
    mean: list[float] = field(default_factory=list)
    params: dict[str, float] = field(default_factory=dict)
    band: dict[str, list[float]] = field(default_factory=dict)
    forecasts: list[Forecast] = field(default_factory=list)
    class_recall: dict[str, list[float]] = field(default_factory=dict)
    class_gain: dict[str, float] = field(default_factory=dict)
    verdict: str = ""
    note: str = ""
    skipped: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LearningCurve:
        values = dict(data)
        values["forecasts"] = [Forecast(**f) for f in values.get("forecasts", [])]
        return cls(**values)

    def predict(self, n_train: np.ndarray | float) -> np.ndarray:
        """The fitted curve's score at ``n_train`` training rows."""
        if not self.params:
            raise ValueError(f"this learning curve has no fit: {self.skipped or 'no measurements'}")
        return power_law(np.asarray(n_train, dtype=np.float64) / self.params["n_now"],
                         self.params["a"], self.params["b"], self.params["c"])


def power_law(x: np.ndarray, a: float | np.ndarray, b: float | np.ndarray, c: float | np.ndarray) -> np.ndarray:
    """``a - b * x ** -c``: the score rises towards ``a``; ``b`` is the gap left at ``x = 1``."""
    return a - b * np.power(x, -c)


def fit_power_law(
    x: np.ndarray, y: np.ndarray, sigma: np.ndarray | None = None, start: tuple[float, float, float] | None = None
) -> tuple[float, float, float]:
    """Least-squares fit of :func:`power_law` with bounds (a in [0, 1], b in [0, 1], c in [0.05, 3]).

    ``x`` is measured in units of the present amount of data; ``start`` is the initial guess (a warm start for
    bootstrap refits). A failed fit falls back to a flat line at the mean.

    Example:
        >>> x = np.array([0.2, 0.35, 0.5, 0.7, 1.0])
        >>> a, b, c = fit_power_law(x, power_law(x, 0.9, 0.1, 0.5))
        >>> round(a, 3), round(b, 3), round(c, 3)
        (0.9, 0.1, 0.5)
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if start is None:
        start = (min(1.0, float(y.max()) + 0.02), max(1e-3, float(y.max() - y.min())), 0.5)
    start = (min(max(start[0], 1e-6), 1 - 1e-6), min(max(start[1], 1e-6), 1 - 1e-6), min(max(start[2], 0.06), 2.9))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            params, _ = curve_fit(power_law, x, y, p0=start, sigma=sigma, bounds=([0, 0, 0.05], [1, 1, 3]),
                                  maxfev=5000)
        return float(params[0]), float(params[1]), float(params[2])
    except (RuntimeError, ValueError) as error:
        logger.debug("power-law fit failed (%s); using a flat line", error)
        return float(np.mean(y)), 0.0, 1.0


C_GRID = np.exp(np.linspace(np.log(0.05), np.log(3.0), 161))  # the exponents bootstrap refits choose among


def fit_power_laws(x: np.ndarray, ys: np.ndarray, sigmas: np.ndarray) -> np.ndarray:
    """Weighted least-squares fits of :func:`power_law` to each row of ``ys`` at once (bounds as in
    :func:`fit_power_law`; ``c`` on the log-spaced ``C_GRID``): one ``(a, b, c)`` row per row of ``ys``.

    Written by hand because the bootstrap refits the curve 200 times, and ``curve_fit`` costs about 6 ms a call
    (1.2 s of every train): for a fixed ``c`` the model is linear in ``a`` and ``b``, so each row's best fit
    at each ``c`` is a 2 x 2 solve, or, where that leaves the box, the best point on one of the box's four edges.

    Example:
        >>> x = np.array([0.2, 0.35, 0.5, 0.7, 1.0])
        >>> a, b, c = fit_power_laws(x, power_law(x, 0.9, 0.1, 0.5)[None], np.ones((1, 5)))[0]
        >>> round(float(a), 3), round(float(b), 3), round(float(c), 2)
        (0.9, 0.1, 0.5)
    """
    w = 1.0 / np.square(sigmas)[:, None, :]  # (rows, 1, sizes)
    z = np.power(x[None, :], -C_GRID[:, None])[None]  # (1, grid, sizes)
    y = ys[:, None, :]
    sz, szz, szy = (w * z).sum(-1), (w * z * z).sum(-1), (w * z * y).sum(-1)  # (rows, grid)
    sw, sy, syy = (np.broadcast_to(v.sum(-1), sz.shape) for v in (w, w * y, w * y * y))
    det = sw * szz - sz * sz
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = ((sy * szz - sz * szy) / det, (sz * sy - sw * szy) / det)
        tries = [inside] + [(np.full_like(sw, a0), np.clip((a0 * sz - szy) / szz, 0, 1)) for a0 in (0.0, 1.0)] \
            + [(np.clip((sy + b0 * sz) / sw, 0, 1), np.full_like(sw, b0)) for b0 in (0.0, 1.0)]
    a = np.stack([t[0] for t in tries], -1)  # (rows, grid, 5)
    b = np.stack([t[1] for t in tries], -1)
    sse = (syy[..., None] - 2 * a * sy[..., None] + 2 * b * szy[..., None] + a * a * sw[..., None]
           - 2 * a * b * sz[..., None] + b * b * szz[..., None])
    sse = np.where((a >= 0) & (a <= 1) & (b >= 0) & (b <= 1) & np.isfinite(sse), sse, np.inf)
    best = sse.reshape(len(ys), -1).argmin(axis=1)
    g, t = np.divmod(best, len(tries))
    rows = np.arange(len(ys))
    return np.stack([a[rows, g, t], b[rows, g, t], C_GRID[g]], axis=1)


def skip_reason(y: np.ndarray, n_classes: int) -> str | None:
    """Why a learning curve would be meaningless on labels ``y``, or ``None`` when it is worth measuring."""
    counts = np.bincount(y, minlength=n_classes)
    if counts.min() < MIN_PER_CLASS:
        return (f"the smallest class has {int(counts.min())} examples, so the smaller training sets of a learning "
                f"curve would hold one or two of it; a curve needs at least {MIN_PER_CLASS} a class")
    if len(y) < MIN_EXAMPLES:
        return (f"with {len(y)} examples the smaller training sets of a learning curve would be too small to read; "
                f"a curve needs at least {MIN_EXAMPLES}")
    return None


def curve_learner(learner: str) -> tuple[str, str | None]:
    """The head measured for the curve: the chosen one if cheap, else the linear head as a stand-in."""
    from handful.learners import LEARNERS

    return (learner, None) if learner in LEARNERS and LEARNERS[learner].cheap else ("linear", learner)


def _subsample(train: np.ndarray, y: np.ndarray, fractions: tuple[float, ...], rng: np.random.Generator,
               ) -> list[np.ndarray]:
    """Nested stratified subsets of ``train``: the first ``ceil(f * n_class)`` of a shuffled order per class."""
    orders = [rng.permutation(train[y[train] == c]) for c in np.unique(y[train])]
    return [np.sort(np.concatenate([o[: max(1, int(np.ceil(f * len(o) - 1e-9)))] for o in orders]))
            for f in fractions]


def learning_curve(
    features: Any,
    y: np.ndarray,
    classes: list[str],
    folds: Folds,
    learner: str,
    scaling: str,
    seed: int,
    fractions: tuple[float, ...] = FRACTIONS,
    n_boot: int = 200,
    on_fold: Callable[[int], None] | None = None,
    factors: tuple[float, ...] = FACTORS,
    *,
    fold_loop: FoldLoop,
) -> LearningCurve:
    """Measure, fit and forecast the learning curve of ``learner`` on ``features``.

    Args:
        features: one row per example (dense array or sparse matrix).
        y: class index per row.
        classes: class names, in index order.
        folds: (train rows, test rows) pairs, e.g. from repeated stratified k-fold.
        learner: the chosen head; costly heads (mlp, cosine) are measured with the linear head as a proxy.
        scaling: the feature scaling the head uses.
        seed: seeds the subsamples, the heads and the bootstrap.
        fractions: fractions of each class's training rows, ending with 1.0.
        n_boot: bootstrap replicates for the band.
        on_fold: called with 1 after each fold (a progress bar's ``advance``).
        factors: multiples of the present data to forecast (the first is the one the verdict reads).
        fold_loop: the fold loop that fits the head on each subset and predicts the fold's test rows:
            :func:`handful.selection.learner_fold_probabilities` (passed in, as selection sits below evaluation).

    Returns:
        The curve; ``skipped`` says why when the data is too small.

    Example:
        >>> from sklearn.datasets import make_classification  # doctest: +SKIP
        >>> X, y = make_classification(200, random_state=0)  # doctest: +SKIP
        >>> folds = list(StratifiedKFold(5).split(X, y))  # doctest: +SKIP
        >>> from handful.selection import learner_fold_probabilities  # doctest: +SKIP
        >>> curve = learning_curve(X, y, ["a", "b"], folds, "linear", "standard", 0,
        ...                        fold_loop=learner_fold_probabilities)  # doctest: +SKIP
        >>> print(curve.verdict)  # doctest: +SKIP
    """
    n_classes = len(classes)
    reason = skip_reason(y, n_classes)
    if reason is not None:
        return LearningCurve(skipped=reason)
    measured, proxy_for = curve_learner(learner)
    rng = np.random.default_rng(seed)
    scores = np.zeros((len(fractions), len(folds)))
    recall = np.full((len(fractions), len(folds), n_classes), np.nan)
    sizes = np.zeros((len(fractions), len(folds)))
    # Every (fold, fraction) fit is one task of the fold loop; fold j's fits are seeded with seed + j.
    subsets = [(rows, test) for train, test in folds for rows in _subsample(train, y, fractions, rng)]
    seeds = [seed + j for j in range(len(folds)) for _ in fractions]
    probas = iter(fold_loop(measured, scaling, features, y, n_classes, subsets, seeds))
    for j, (_, test) in enumerate(folds):
        for i in range(len(fractions)):
            predicted = next(probas).argmax(axis=1)
            scores[i, j] = balanced_accuracy(y[test], predicted, n_classes)
            sizes[i, j] = len(subsets[j * len(fractions) + i][0])
            for c in range(n_classes):
                if np.any(y[test] == c):
                    recall[i, j, c] = np.mean(predicted[y[test] == c] == c)
        if on_fold is not None:
            on_fold(1)
    curve = fit_curve(scores, sizes.mean(axis=1), float(np.mean([len(t) for _, t in folds]) / len(y)), rng, n_boot,
                      factors)
    curve.learner, curve.proxy_for, curve.fractions = measured, proxy_for, [float(f) for f in fractions]
    class_recall = np.nanmean(recall, axis=1)
    curve.class_recall = {name: [round(float(v), 4) for v in class_recall[:, c]] for c, name in enumerate(classes)}
    doublings = np.log2(curve.n_train)
    curve.class_gain = {name: round(float(np.polyfit(doublings, class_recall[:, c], 1)[0]), 4)
                        if len(set(curve.n_train)) > 1 else 0.0 for c, name in enumerate(classes)}
    curve.verdict = verdict(curve)
    curve.note = (f"Measured with the linear head on the same features, as a quicker stand-in for the chosen "
                  f"{proxy_for} head." if proxy_for else "")
    return curve


def fit_curve(scores: np.ndarray, n_train: np.ndarray, test_fraction: float, rng: np.random.Generator,
              n_boot: int = 200, factors: tuple[float, ...] = FACTORS) -> LearningCurve:
    """Fit the power law to the mean score per size, bootstrap the folds for a 95% band, and forecast.

    Args:
        scores: one row per training size, one column per fold (the same folds in every row).
        n_train: training rows at each size, the last being all the data.
        test_fraction: share of the rows each fold tests on (for the Nadeau-Bengio widening).
        rng: the bootstrap's random generator.
        n_boot: bootstrap replicates.
        factors: multiples of the present data to forecast.

    Example:
        >>> x = np.array([20, 35, 50, 70, 100.0])
        >>> scores = np.tile(power_law(x / 100, 0.9, 0.1, 0.5)[:, None], (1, 5))
        >>> round(fit_curve(scores, x, 0.2, np.random.default_rng(0)).forecasts[0].value, 3)
        0.829
    """
    n_folds = scores.shape[1]
    n_now = float(n_train[-1])
    x = n_train / n_now
    mean = scores.mean(axis=1)
    sigma = scores.std(axis=1, ddof=1) / np.sqrt(n_folds) + 0.005 if n_folds > 1 else None
    a, b, c = fit_power_law(x, mean, sigma)
    grid = np.exp(np.linspace(np.log(x[0]), np.log(max(factors)), 40))
    targets = np.concatenate([grid, np.asarray(factors)])
    point = power_law(targets, a, b, c)
    if sigma is not None and n_boot > 0:
        boots = scores[:, rng.integers(0, n_folds, (n_boot, n_folds))].transpose(1, 0, 2)  # (n_boot, sizes, folds)
        fits = fit_power_laws(x, np.concatenate([mean[None], boots.mean(axis=2)]),
                              np.concatenate([sigma[None], boots.std(axis=2, ddof=1) / np.sqrt(n_folds) + 0.005]))
        curves = power_law(targets[None, :], fits[:, :1], fits[:, 1:2], fits[:, 2:])
        # Folds share training rows, so their spread understates the uncertainty; widen by Nadeau & Bengio's factor.
        widen = np.sqrt(1.0 + n_folds * test_fraction / max(1e-9, 1.0 - test_fraction))
        deviation = curves[1:] - curves[0]  # each refit against the same method's fit to all folds
        low = np.clip(point + widen * np.percentile(deviation, 2.5, axis=0), 0.0, 1.0)
        high = np.clip(point + widen * np.percentile(deviation, 97.5, axis=0), 0.0, 1.0)
    else:
        low, high = point.copy(), point.copy()
    g = len(grid)
    forecasts = [Forecast(float(f), round(float(f * n_now), 1), round(float(point[g + i]), 4),
                          round(float(low[g + i]), 4), round(float(high[g + i]), 4)) for i, f in enumerate(factors)]
    return LearningCurve(
        n_train=[round(float(n), 1) for n in n_train],
        scores=[[round(float(v), 4) for v in row] for row in scores],
        mean=[round(float(v), 4) for v in mean],
        params={"a": round(a, 5), "b": round(b, 5), "c": round(c, 5), "n_now": n_now},
        band={"n_train": [round(float(v * n_now), 2) for v in grid], "value": [round(float(v), 4) for v in point[:g]],
              "low": [round(float(v), 4) for v in low[:g]], "high": [round(float(v), 4) for v in high[:g]]},
        forecasts=forecasts,
    )


def forecast_gain(curve: LearningCurve | None) -> tuple[float, float, float] | None:
    """The change in balanced accuracy the curve expects with the first forecast's data (2x): (value, low, high),
    measured from the fitted curve at the present size; None without a curve.

    Example:
        >>> x = np.array([20, 35, 50, 70, 100.0])
        >>> curve = fit_curve(np.tile(power_law(x / 100, 0.9, 0.1, 0.5)[:, None], (1, 5)), x, 0.2,
        ...                   np.random.default_rng(0))
        >>> [round(v, 3) for v in forecast_gain(curve)]
        [0.029, 0.029, 0.029]
    """
    if curve is None or curve.skipped or not curve.forecasts:
        return None
    now = float(curve.predict(curve.params["n_now"]))
    first = curve.forecasts[0]
    return first.value - now, first.low - now, first.high - now


def verdict(curve: LearningCurve) -> str:
    """A plain-language reading of the forecast: how much more data would buy, said only as far as its range allows.

    Scores are given as changes from now, not as levels: the curve is measured on its own cross-validation rounds
    (and for costly heads with a linear stand-in), so its level is not the chosen model's score shown elsewhere.
    "Flattened" needs the whole 95% range to be narrow (``WIDE``); a wide range says so instead.
    """
    if curve.skipped:
        return f"No learning curve: {curve.skipped}."
    found = forecast_gain(curve)
    if found is None:
        return "No forecast."
    gain, low, high = found
    text = (f"Expected change in balanced accuracy with 2x the data: {100 * gain:+.0f} points (95% range "
            f"{100 * low:+.0f} to {100 * high:+.0f}). ")
    if high - low > WIDE:
        text += ("The range is too wide to tell whether the curve has flattened or is still rising; more examples "
                 "would narrow it.")
    elif gain < FLAT:
        text += "The curve has flattened: more of the same data will not help much."
    elif gain < RISING:
        text += "More data helps a little."
    else:
        text += "The curve is still rising: more labelled examples are the surest gain."
    return text

"""The report's plots, drawn with matplotlib (Agg: no display needed) and returned as base64 PNG for embedding.

Titles and axis labels are in plain words for readers who are not machine-learning specialists.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from handful.evaluation.curve import LearningCurve

WIDTH = 7.0
CHOSEN = "#1b7f3b"
OTHER = "#5b7db1"
BASELINE = "#b5651d"


def _figure(width: float = WIDTH, height: float = 4.0) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=100)
    return figure, figure.add_subplot(1, 1, 1)


def _png(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def leaderboard_png(rows: list[dict[str, Any]], chosen: tuple[str, ...]) -> str | None:
    """Each scored option as a dot with its 95% interval; the chosen one green, the simple baseline brown.

    Example:
        >>> row = {"backbone": "b", "learner": "linear", "kind": "pretrained", "status": "ok",
        ...        "balanced_accuracy": {"mean": 0.8, "low": 0.7, "high": 0.9}}
        >>> leaderboard_png([row], ("b", "linear"))[:8]
        'iVBORw0K'
    """
    scored = [r for r in rows if r.get("status") == "ok" and r.get("balanced_accuracy")][:15]
    if not scored:
        return None
    figure, axes = _figure(9.0, 1.4 + 0.38 * len(scored))
    for i, row in enumerate(reversed(scored)):
        score = row["balanced_accuracy"]
        key = (row["backbone"], row["learner"], row.get("augment") or "")[: len(chosen)]
        colour = CHOSEN if key == chosen else (
            BASELINE if row.get("kind") == "baseline" else OTHER)
        axes.errorbar(score["mean"], i, xerr=[[score["mean"] - score["low"]], [score["high"] - score["mean"]]],
                      fmt="o", color=colour, capsize=4, markersize=7)
    names = [f"{r['backbone']} + {r['learner']}" + (" + augmented" if r.get("augment") else "")
             + (" (simple baseline)" if r.get("kind") == "baseline" else "") for r in reversed(scored)]
    axes.set_yticks(range(len(scored)), names)
    axes.set_xlabel("Balanced accuracy on unseen examples (dot: average; bar: 95% range)")
    axes.set_title("How well each option did (green: chosen)")
    axes.set_xlim(max(0.0, min(r["balanced_accuracy"]["low"] for r in scored) - 0.05), 1.0)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


def confusion_png(matrix: list[list[int]] | np.ndarray, classes: list[str], title: str) -> str:
    """The confusion matrix as a grid of counts: rows are the given labels, columns what the model said."""
    counts = np.asarray(matrix, dtype=np.float64)
    size = min(9.0, 2.5 + 0.55 * len(classes))
    figure, axes = _figure(size + 1.0, size)
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    image = axes.imshow(share, cmap="Blues", vmin=0.0, vmax=1.0)
    if len(classes) <= 20:
        for (i, j), value in np.ndenumerate(counts):
            axes.text(j, i, f"{int(value)}", ha="center", va="center", fontsize=9,
                      color="white" if share[i, j] > 0.6 else "black")
    axes.set_xticks(range(len(classes)), classes, rotation=45 if len(classes) > 4 else 0, ha="right"
                    if len(classes) > 4 else "center")
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("What the model said")
    axes.set_ylabel("Label given in your data")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="Share of the row", fraction=0.046, pad=0.04)
    return _png(figure)


def per_class_png(per_class: dict[str, dict[str, Any]]) -> str:
    """Precision and recall per class as paired bars."""
    names = list(per_class)
    recall = [per_class[n].get("recall") or 0.0 for n in names]
    precision = [per_class[n].get("precision") or 0.0 for n in names]
    figure, axes = _figure(max(WIDTH, 0.6 * len(names) + 2), 3.6)
    x = np.arange(len(names))
    axes.bar(x - 0.2, recall, 0.4, label="Found (recall): share of the class the model recognised", color=OTHER)
    axes.bar(x + 0.2, precision, 0.4, label="Right when it says so (precision)", color="#9bb7d9")
    axes.set_xticks(x, names, rotation=45 if len(names) > 6 else 0)
    axes.set_ylim(0, 1.05)
    axes.set_ylabel("Share (1 = perfect)")
    axes.set_title("How well each class is recognised")
    axes.legend(loc="lower left", fontsize=8)
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def curve_png(curve: LearningCurve) -> str | None:
    """Measured scores at growing amounts of data, the fitted curve with its band, and the 2x / 5x forecast."""
    if curve.skipped or not curve.params:
        return None
    figure, axes = _figure(height=4.9)
    band = curve.band
    axes.fill_between(band["n_train"], band["low"], band["high"], color=OTHER, alpha=0.18,
                      label="Likely range (95%)")
    axes.plot(band["n_train"], band["value"], color=OTHER, label="Fitted curve")
    spread = [float(np.std(s, ddof=1)) if len(s) > 1 else 0.0 for s in curve.scores]
    axes.errorbar(curve.n_train, curve.mean, yerr=spread, fmt="o", color="black", capsize=3,
                  label="Measured (average and spread over folds)")
    forecasts = curve.forecasts
    axes.errorbar([f.n_train for f in forecasts], [f.value for f in forecasts],
                  yerr=[[f.value - f.low for f in forecasts], [f.high - f.value for f in forecasts]],
                  fmt="D", color=BASELINE, capsize=4, label="Forecast with 2x and 5x the data")
    axes.axvline(curve.n_train[-1], color=CHOSEN, linestyle="--", linewidth=1)
    axes.annotate("all your data", (curve.n_train[-1], axes.get_ylim()[1]), xytext=(4, -14),
                  textcoords="offset points", color=CHOSEN, fontsize=9)
    axes.set_xscale("log")
    axes.set_xlabel("Labelled examples used for training (per cross-validation round, log scale)")
    axes.set_ylabel("Balanced accuracy (the curve's own CV rounds)")
    axes.set_title("Would more labelled data help?")
    axes.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=8, frameon=False)
    axes.grid(alpha=0.3)
    return _png(figure)

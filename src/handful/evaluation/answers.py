"""What a prediction says to a person: the top labels, the prediction set in labels and in words, and whether the
input is unlike anything the model learned (see :mod:`handful.evaluation.trust`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from handful.evaluation.conformal import describe as describe_set

UNLIKE = "unlike anything it learned"
NO_LABEL = "no label is likely enough: the model is not sure of any"


def prediction_sets(trust: Any, proba: np.ndarray, coverage: float | None) -> np.ndarray:
    """Which classes are in each input's prediction set (a boolean row per input); a model saved before prediction
    sets (``trust`` None) gives the top label alone, with no guarantee."""
    if trust is None:
        inside = np.zeros(proba.shape, dtype=bool)
        inside[np.arange(len(proba)), proba.argmax(axis=1)] = True
        return inside
    return np.asarray(trust.sets.predict(proba, coverage))


def answers(classes: list[str], trust: Any, inputs: Sequence[str], proba: np.ndarray, distance: np.ndarray | None,
            top_k: int = 3, coverage: float | None = None, abstain: bool = False) -> list[dict[str, Any]]:
    """Answers from calibrated probabilities and distances: top labels, the set in labels and words, the
    out-of-distribution score and flag; with ``abstain``, a flagged input is labelled ``unknown``."""
    inside = prediction_sets(trust, proba, coverage)
    detector = trust.ood if trust is not None else None
    level = coverage if coverage is not None else (trust.sets.level if trust is not None else None)
    found: list[dict[str, Any]] = []
    for index, (shown, row) in enumerate(zip(inputs, proba, strict=True)):
        order = np.argsort(-row)
        members = [classes[i] for i in order if inside[index, i]]
        usable = distance is not None and detector is not None and not np.isnan(distance[index])
        flagged = bool(usable and distance[index] > detector.threshold)  # type: ignore[index,union-attr]
        record = {"input": shown, "label": classes[order[0]],
                  "top": [{"label": classes[i], "probability": float(row[i])} for i in order[:top_k]],
                  "set": members, "set_level": level, "set_text": _set_words(members),
                  "ood": {"score": float(distance[index]), "flag": flagged,  # type: ignore[index]
                          "text": UNLIKE if flagged else ""} if usable else None}
        if abstain and flagged:
            record["label"] = "unknown"
        found.append(record)
    return found


def _set_words(members: list[str]) -> str:
    """A prediction set in words: "ants" (the model is sure), "ants or bees: the model is not sure", or, for an
    empty set, that no label is likely enough."""
    if not members:
        return NO_LABEL
    return describe_set(members) if len(members) == 1 else f"{describe_set(members)}: the model is not sure"

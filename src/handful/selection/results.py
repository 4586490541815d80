"""A candidate (backbone x learner), its cross-validated result, and the rule that picks the winner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handful.evaluation.metrics import Estimate
from handful.learners.ensemble import Member


@dataclass
class Candidate:
    backbone: str
    learner: str
    scaling: str
    kind: str  # "pretrained", "baseline", "test", "fused" or "ensemble"
    augment: str = ""  # an Augmentation key: trained on augmented views of each training example as well
    members: tuple[Member, ...] = ()  # an ensemble's models (learner "ensemble"; backbone: their parts)


@dataclass
class Result:
    """One candidate's cross-validated scores (per fold), their estimate and its out-of-fold probabilities."""

    candidate: Candidate
    balanced: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    estimate: Estimate | None = None
    accuracy_estimate: Estimate | None = None
    seconds: float = 0.0
    status: str = "ok"
    message: str = ""
    oof_proba: np.ndarray | None = None
    fold_proba: list[np.ndarray] | None = None  # each fold's probabilities for its test rows, in fold order

    def row(self) -> dict[str, Any]:
        return {
            "backbone": self.candidate.backbone,
            "learner": self.candidate.learner,
            "kind": self.candidate.kind,
            "augment": self.candidate.augment,
            "status": self.status,
            "message": self.message,
            "balanced_accuracy": self.estimate.as_dict() if self.estimate else None,
            "accuracy": self.accuracy_estimate.as_dict() if self.accuracy_estimate else None,
            "seconds": round(self.seconds, 3),
            **({"members": [m.as_dict() for m in self.candidate.members]} if self.candidate.members else {}),
        }



def log_loss(result: Result, y: np.ndarray) -> float:
    """Mean out-of-fold log loss: how confident a candidate was in the right answers."""
    if result.oof_proba is None:
        return float("inf")
    return float(-np.mean(np.log(np.clip(result.oof_proba[np.arange(len(y)), y], 1e-6, 1.0))))


def best(results: list[Result], y: np.ndarray) -> Result:
    """The candidate with the highest mean balanced accuracy (the baseline only when clearly ahead).

    With few examples accuracies tie often (a 3-example fold scores 0, 1/3, 2/3 or 1); a tie goes to the lower
    out-of-fold log loss, then to the earlier candidate.
    """
    scored = [r for r in results if r.status == "ok" and r.estimate is not None]
    if not scored:
        messages = "; ".join(f"{r.candidate.backbone}+{r.candidate.learner}: {r.message}" for r in results)
        raise RuntimeError(f"no candidate could be trained ({messages})")

    position = {id(r): index for index, r in enumerate(scored)}  # by identity: results holding arrays never ==

    def rank(r: Result) -> tuple[float, float, int]:
        return (round(r.estimate.mean, 9) if r.estimate else -1.0, -log_loss(r, y), -position[id(r)])

    winner = max(scored, key=rank)
    models = [r for r in scored if r.candidate.kind != "baseline"]
    if winner.candidate.kind == "baseline" and models:
        # The baseline is the reference to beat, and transfer from pretraining is the prior: the baseline is chosen
        # only when it is clearly better, by more than one standard error of the paired fold differences.
        challenger = max(models, key=rank)
        difference = np.asarray(winner.balanced) - np.asarray(challenger.balanced)
        error = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else 0.0
        if difference.mean() <= error:
            return challenger
    return winner

"""A candidate (backbone x learner), its cross-validated result, and the rule that picks the winner."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handful.backbones.features import parts_of
from handful.backbones.registry import frozen_name, get_spec
from handful.evaluation.metrics import Estimate, corrected_error
from handful.learners.base import reads_pool
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
    cached: bool = False  # read from the score cache: ``seconds`` are those of the run that computed it

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


def best(results: list[Result], y: np.ndarray, test_fraction: float = 0.2) -> Result:
    """The candidate to keep: the highest mean balanced accuracy, unless cross-validation cannot tell it apart.

    With few examples accuracies tie often (a 3-example fold scores 0, 1/3, 2/3 or 1); a tie goes to the lower
    out-of-fold log loss, then to the earlier candidate. ``test_fraction`` is the share of examples a fold tests on,
    for the corrected standard error of paired fold differences
    (:func:`~handful.evaluation.metrics.corrected_error`; folds share training rows, so the plain one is too small).

    Three rules use it, all because the highest of several noisy means is the one most likely to be high by luck:
    - The baseline is the reference to beat, and transfer from pretraining is the prior: the baseline is chosen
      only when it leads the best model by more than one standard error.
    - Among the models whose deficit to the leader is within one standard error, the one whose backbone is
      expected to transfer best (:attr:`~handful.backbones.registry.BackboneSpec.prior`, from published results
      on its pretraining task) is kept. With 16 examples every candidate is within that, and the leader is often
      the weaker backbone by chance; with hundreds the error is small and the leader stays.
    - Then, on that backbone, a model that learnt from the labelled examples only is kept over one that also learns
      from the unlabelled pool (:func:`uses_pool`): up to six pool heads are scored beside the labelled ones, so the
      best of them leads by luck often, and a model that leans on guessed labels must be clearly ahead to be
      trusted with them (measured: SST-2 at 64 a class, a VAE head 0.011 ahead in cross-validation lost 0.049 on
      the test split). Where the pool does help, as a new speaker's clips do, it leads by more than the error.
    """
    scored = [r for r in results if r.status == "ok" and r.estimate is not None]
    if not scored:
        messages = "; ".join(f"{r.candidate.backbone}+{r.candidate.learner}: {r.message}" for r in results)
        raise RuntimeError(f"no candidate could be trained ({messages})")

    position = {id(r): index for index, r in enumerate(scored)}  # by identity: results holding arrays never ==

    def rank(r: Result) -> tuple[float, float, int]:
        return (round(r.estimate.mean, 9) if r.estimate else -1.0, -log_loss(r, y), -position[id(r)])

    def behind(r: Result, leader: Result) -> float:
        """How far ``r`` trails ``leader`` beyond one standard error of their paired differences (> 0: clearly)."""
        if len(r.balanced) != len(leader.balanced) or len(r.balanced) < 2:  # not scored on the same folds
            return float(rank(r) < rank(leader))
        difference = np.asarray(leader.balanced) - np.asarray(r.balanced)
        return float(difference.mean() - corrected_error(difference, test_fraction))

    winner = max(scored, key=rank)
    models = [r for r in scored if r.candidate.kind != "baseline"]
    if not models:
        return winner
    leader = max(models, key=rank)
    if winner is not leader and behind(leader, winner) > 0:  # the baseline, clearly ahead
        return winner
    tied = [r for r in models if r is leader or behind(r, leader) <= 0]
    return max(tied, key=lambda r: (prior(r.candidate.backbone), not uses_pool(r.candidate), rank(r)))


def uses_pool(candidate: Candidate) -> bool:
    """Whether the candidate's learner (or one of an ensemble's members) learns from unlabelled rows too."""
    names = [m.learner for m in candidate.members] if candidate.members else [candidate.learner]
    return any(reads_pool(name) for name in names)


def prior(backbone: str) -> int:
    """How well a candidate's backbone is expected to transfer: its spec's ``prior``, the best of its parts for
    fused features and ensembles, and 0 for a name the registry does not know."""
    found = [0]
    for part in parts_of(backbone):
        try:
            found.append(get_spec(frozen_name(part)).prior)
        except ValueError:  # a candidate scored under a name no longer registered (an older search's scores)
            continue
    return max(found)


def choice_note(leaderboard: list[dict[str, Any]], backbone: str, learner: str, augment: str = "") -> str | None:
    """Why the chosen model is not the best-scoring model of the leaderboard (see :func:`best`), or None when it
    is."""
    models = [r for r in leaderboard if r["status"] == "ok" and r["kind"] != "baseline" and r["balanced_accuracy"]]
    if not models:
        return None
    top = max(models, key=lambda r: r["balanced_accuracy"]["mean"])
    chosen = next((r for r in models if (r["backbone"], r["learner"], r.get("augment") or "") ==
                   (backbone, learner, augment or "")), None)
    if chosen is None:
        return None
    baselines = [r for r in leaderboard if r["status"] == "ok" and r["kind"] == "baseline" and r["balanced_accuracy"]
                 and r["balanced_accuracy"]["mean"] > chosen["balanced_accuracy"]["mean"]]
    notes = []
    if baselines:  # ahead, but not clearly: see best()
        base = baselines[0]
        notes.append(
            f"The baseline ({base['backbone']} + {base['learner']}) scores {base['balanced_accuracy']['mean']:.3f} "
            f"and the chosen {backbone} + {learner} {chosen['balanced_accuracy']['mean']:.3f}: the baseline is the "
            f"reference to beat, kept only when it leads the best model by more than one standard error of their "
            f"paired fold scores, and on {base['balanced_accuracy']['n']} folds it does not.")
    behind_top = chosen is not top and chosen["balanced_accuracy"]["mean"] < top["balanced_accuracy"]["mean"]
    if behind_top and top.get("gain_over_labelled_only") is not None and chosen.get("gain_over_labelled_only") is None:
        notes.append(
            f"{top['backbone']} + {top['learner']}, which learns from the unlabelled examples too, scores "
            f"{top['balanced_accuracy']['mean']:.3f} and the chosen {backbone} + {learner} "
            f"{chosen['balanced_accuracy']['mean']:.3f}: a difference within one standard error of their paired fold "
            f"scores, so handful keeps the model that learnt from the labelled examples only; one that leans on "
            f"guessed labels must be clearly ahead.")
    elif behind_top:
        notes.append(
            f"{top['backbone']} + {top['learner']} scores {top['balanced_accuracy']['mean']:.3f} and the chosen "
            f"{backbone} + {learner} {chosen['balanced_accuracy']['mean']:.3f}: a difference within one standard "
            f"error of their paired fold scores, which cross-validation on {top['balanced_accuracy']['n']} folds "
            f"cannot tell from luck, so handful keeps the backbone whose pretraining is expected to transfer better.")
    return " ".join(notes) or None

"""Several fitted heads, possibly on different backbones, averaged with weights found by greedy selection.

Greedy ensemble selection with replacement (Caruana, Niculescu-Mizil, Crew & Ksikes, "Ensemble Selection from
Libraries of Models", ICML 2004), as AutoGluon builds its weighted ensembles: start from nothing, and for a fixed
number of rounds add (again, if it is already in) the model whose addition gives the lowest log loss of the
averaged out-of-fold probabilities. The weights are how often each model was added. Selection from out-of-fold
probabilities needs no new fits; the selected members are then refitted on all the data.

The ensemble's features are its backbones' features side by side (the parts of every member, each once, in the
order first used), so it is served like any model on fused features: :class:`EnsembleHead` gives each member the
columns of its own backbone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from handful.backbones.features import parts_of as backbone_parts
from handful.learners.base import Array, FitContext, Learner, State, as_context, reads_pool, register_learner

ROUNDS = 25  # additions with replacement; AutoGluon's default ensemble size is of this order


@dataclass(frozen=True)
class Member:
    """One model of an ensemble: its backbone (``a+b`` for fused features), head, feature scaling and weight."""

    backbone: str
    learner: str
    scaling: str
    weight: float

    def as_dict(self) -> dict[str, Any]:
        return {"backbone": self.backbone, "learner": self.learner, "scaling": self.scaling, "weight": self.weight}


def mean_log_loss(proba: Array, y: Array) -> float:
    """Mean negative log probability of the true class (clipped, so a sure mistake costs log(1e6), not infinity)."""
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-6, 1.0))))


def greedy_weights(probas: Sequence[Array], y: Array, rounds: int = ROUNDS) -> Array:
    """Weights of greedy ensemble selection with replacement on log loss (Caruana et al. 2004).

    Args:
        probas: each model's out-of-fold probabilities for the rows of ``y``, shape (len(y), n_classes).
        y: the true classes of those rows.
        rounds: how many additions (with replacement) to make.

    Returns:
        One weight per model, summing to 1 (how often each was added; ties go to the earlier model).

    Example:
        >>> y = np.array([0, 1])
        >>> good, bad = np.array([[0.9, 0.1], [0.2, 0.8]]), np.array([[0.5, 0.5], [0.5, 0.5]])
        >>> greedy_weights([bad, good], y, rounds=3).tolist()
        [0.0, 1.0]
    """
    if not probas:
        raise ValueError("greedy_weights needs at least one model's probabilities")
    counts = np.zeros(len(probas))
    total = np.zeros_like(np.asarray(probas[0], dtype=np.float64))
    for step in range(rounds):
        losses = [mean_log_loss((total + p) / (step + 1), y) for p in probas]
        chosen = int(np.argmin(losses))
        counts[chosen] += 1
        total = total + probas[chosen]
    return counts / counts.sum()


def parts_of(members: Sequence[Member]) -> list[str]:
    """The backbones the members need, each once, in the order first used."""
    found: list[str] = []
    for member in members:
        found += [p for p in backbone_parts(member.backbone) if p not in found]
    return found


@register_learner
class EnsembleHead(Learner):
    """A weighted average of member heads' probabilities, each member reading its own backbone's columns.

    ``fit`` takes the features of :func:`parts_of` side by side (widths from the backbone registry) and fits
    every member on its columns; members that fine-tune a backbone get ``time_budget`` shared between them. Its
    context's ``unlabelled``, if any, maps the backbone of each member that learns from the pool to the pool's
    features there (:func:`handful.selection.refit_pool`); the other members are fitted without it.
    """

    name = "ensemble"
    description = "weighted ensemble of heads, possibly on different backbones (greedy selection, Caruana 2004)"
    combines = True  # built from other candidates' results after the search, never a candidate of its own

    def __init__(self, scaling: str = "standard", members: Sequence[Member] = (), time_budget: float | None = None,
                 verbose: int = 0) -> None:
        super().__init__(scaling)
        self.members = list(members)
        self.time_budget, self.verbose = time_budget, verbose
        self.parts = parts_of(self.members)
        self.dims: list[int] = []
        self.heads: list[Learner] = []

    def _columns(self, backbone: str) -> Array:
        starts = np.concatenate([[0], np.cumsum(self.dims)])
        spans = [np.arange(starts[self.parts.index(p)], starts[self.parts.index(p) + 1])
                 for p in backbone_parts(backbone)]
        return np.concatenate(spans)

    def fit(self, features: Any, y: Array, n_classes: int, context: FitContext | int = 0) -> EnsembleHead:
        from handful.backbones.registry import get_spec
        from handful.learners import make_learner

        if not self.members:
            raise ValueError("an ensemble needs its members: build it with EnsembleHead(members=[...])")
        self.n_classes = n_classes
        self.dims = [get_spec(part).dim for part in self.parts]
        if sum(self.dims) != features.shape[1]:
            raise ValueError(f"the ensemble expects {sum(self.dims)} feature columns ({', '.join(self.parts)} side "
                             f"by side), got {features.shape[1]}")
        context = as_context(context)
        tuners = sum(_tunes(m.learner) for m in self.members)
        total = self.time_budget if self.time_budget is not None else context.time_budget
        budget = None if total is None else total / max(tuners, 1)
        self.heads = []
        for index, member in enumerate(self.members):
            columns = self._columns(member.backbone)
            x = np.asarray(features)[:, columns]
            pool = (context.unlabelled or {}).get(member.backbone) if reads_pool(member.learner) else None
            own = context.replace(seed=context.seed + index, groups=np.arange(len(y)), time_budget=budget,
                                  verbose=self.verbose or context.verbose, backbone=member.backbone, unlabelled=pool)
            self.heads.append(make_learner(member.learner, member.scaling).fit(x, y, n_classes, own))
        return self

    def predict_proba(self, features: Any) -> Array:
        if not self.heads:
            raise RuntimeError("EnsembleHead used before fit")
        dense = np.asarray(features)
        total = np.zeros((dense.shape[0], self.n_classes))
        for member, head in zip(self.members, self.heads, strict=True):
            total += member.weight * head.predict_proba(dense[:, self._columns(member.backbone)])
        return total / sum(m.weight for m in self.members)

    def adapt(self, target: Any) -> None:
        dense = np.asarray(target)
        for member, head in zip(self.members, self.heads, strict=True):
            head.adapt(dense[:, self._columns(member.backbone)])

    def params(self) -> dict[str, Any]:
        return {"scaling": self.scaling, "n_classes": self.n_classes, "parts": self.parts, "dims": self.dims,
                "members": [{**m.as_dict(), "params": h.params()} for m, h in zip(self.members, self.heads,
                                                                                   strict=False)]}

    def state(self) -> State:
        if not self.heads:
            raise RuntimeError("EnsembleHead saved before fit")
        tensors: dict[str, np.ndarray] = {}
        members = []
        for index, (member, head) in enumerate(zip(self.members, self.heads, strict=True)):
            params, arrays = head.state()
            members.append({**member.as_dict(), "params": params})
            tensors.update({f"member{index}.{key}": value for key, value in arrays.items()})
        return {"scaling": self.scaling, "n_classes": self.n_classes, "parts": self.parts, "dims": self.dims,
                "members": members}, tensors

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> EnsembleHead:
        from handful.learners import learner_from_state

        members = [Member(m["backbone"], m["learner"], m["scaling"], float(m["weight"])) for m in params["members"]]
        ensemble = cls(scaling=params["scaling"], members=members)
        if ensemble.parts != list(params["parts"]):
            raise ValueError(f"the ensemble's parts {params['parts']} do not match its members' backbones")
        ensemble.n_classes, ensemble.dims = int(params["n_classes"]), [int(d) for d in params["dims"]]
        for index, saved in enumerate(params["members"]):
            prefix = f"member{index}."
            own = {k.removeprefix(prefix): v for k, v in tensors.items() if k.startswith(prefix)}
            ensemble.heads.append(learner_from_state(saved["learner"], saved["params"], own))
        return ensemble


def _tunes(learner: str) -> bool:
    from handful.learners import LEARNERS

    return learner in LEARNERS and LEARNERS[learner].tunes_backbone

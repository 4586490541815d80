"""Heads trained on fixed features: each a small class with fit / predict_proba and a pickle-free state."""

from __future__ import annotations

from typing import Any

import numpy as np

from handful.learners.base import Learner, Scaler
from handful.learners.ensemble import EnsembleHead
from handful.learners.finetune import FineTune
from handful.learners.linear import LinearHead
from handful.learners.mlp import CosineHead, MLPHead
from handful.learners.prototypes import PrototypeHead

LEARNERS: dict[str, type[Learner]] = {
    cls.name: cls for cls in (LinearHead, MLPHead, CosineHead, PrototypeHead, FineTune, EnsembleHead)
}


def make_learner(
    name: str, scaling: str, backbone: str | None = None, time_budget: float | None = None, verbose: int = 0
) -> Learner:
    """A fresh learner of kind ``name`` with the feature scaling its backbone needs.

    A learner that tunes a backbone (``finetune``) also needs the name of the trunk backbone whose rows it gets,
    and takes a time budget in seconds and ``verbose``; other learners ignore those.
    """
    from handful.backbones.registry import unknown_name_error

    if name not in LEARNERS:
        raise unknown_name_error("learner", name, list(LEARNERS))
    if LEARNERS[name].tunes_backbone:
        if backbone is None:
            raise ValueError(f"the {name!r} learner needs the trunk backbone its features come from")
        return FineTune(scaling=scaling, backbone=backbone, time_budget=time_budget, verbose=verbose)
    return LEARNERS[name](scaling=scaling)


def learner_from_state(name: str, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> Learner:
    if name not in LEARNERS:
        raise ValueError(f"this model uses a learner {name!r} that this handful does not know; upgrade handful")
    return LEARNERS[name].from_state(params, tensors)


__all__ = ["LEARNERS", "Learner", "Scaler", "learner_from_state", "make_learner"]

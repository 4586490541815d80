"""Heads trained on fixed features: each a small class with fit / predict_proba and a pickle-free state."""

from __future__ import annotations

from typing import Any

import numpy as np

from handful.learners.base import Learner, Scaler
from handful.learners.linear import LinearHead
from handful.learners.mlp import CosineHead, MLPHead
from handful.learners.prototypes import PrototypeHead

LEARNERS: dict[str, type[Learner]] = {
    cls.name: cls for cls in (LinearHead, MLPHead, CosineHead, PrototypeHead)
}


def make_learner(name: str, scaling: str) -> Learner:
    """A fresh learner of kind ``name`` with the feature scaling its backbone needs."""
    from handful.backbones.registry import unknown_name_error

    if name not in LEARNERS:
        raise unknown_name_error("learner", name, list(LEARNERS))
    return LEARNERS[name](scaling=scaling)


def learner_from_state(name: str, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> Learner:
    if name not in LEARNERS:
        raise ValueError(f"this model uses a learner {name!r} that this handful does not know; upgrade handful")
    return LEARNERS[name].from_state(params, tensors)


__all__ = ["LEARNERS", "Learner", "Scaler", "learner_from_state", "make_learner"]

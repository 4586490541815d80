"""Heads trained on fixed features: each a small class with fit / predict_proba and a pickle-free state.

Each learner registers itself with :func:`register_learner` and describes itself (``cheap``, ``tunes_backbone``,
its advice and its ONNX export); ``fit`` takes a :class:`FitContext`. Importing this package registers the
built-in ones, in the order they are listed in error messages.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# isort: off
from handful.learners import linear, mlp, prototypes, finetune, ensemble  # noqa: F401  (registers them, in this order)
from handful.learners import selftrain, align, cotrain, propagation  # noqa: F401  (use unlabelled rows)
from handful.learners import autoencoder, synthetic  # noqa: F401  (use unlabelled rows)
# isort: on
from handful.learners.base import LEARNERS, FitContext, Learner, Scaler, as_context, register_learner


def make_learner(name: str, scaling: str) -> Learner:
    """A fresh learner of kind ``name`` with the feature scaling its backbone needs.

    What a fit needs beyond that (the trunk backbone a fine-tuning learner rebuilds, a time budget, groups, a
    progress bar) comes with the :class:`FitContext` given to ``fit``.
    """
    from handful.backbones.registry import unknown_name_error

    if name not in LEARNERS:
        raise unknown_name_error("learner", name, list(LEARNERS))
    return LEARNERS[name](scaling=scaling)


def learner_from_state(name: str, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> Learner:
    if name not in LEARNERS:
        raise ValueError(f"this model uses a learner {name!r} that this handful does not know; upgrade handful")
    return LEARNERS[name].from_state(params, tensors)


__all__ = ["LEARNERS", "FitContext", "Learner", "Scaler", "as_context", "learner_from_state", "make_learner",
           "register_learner"]

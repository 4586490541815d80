"""Nearest class prototype (mean embedding) with cosine similarity: robust with one to five examples a class."""

from __future__ import annotations

from typing import Any

import numpy as np

from handful.learners.base import Array, FitContext, Learner, Scaler, State, register_learner, softmax


@register_learner
class PrototypeHead(Learner):
    """Class means of the scaled features; probabilities are a softmax of ``temperature * cosine``."""

    name = "prototypes"
    description = "nearest class prototype (cosine)"
    cheap = True
    underfit_advice = "Try a more flexible head (`learners=['mlp']`)."
    simpler = None
    overfit_advice = ("The head is already the simplest there is (one mean a class): the gap comes from having few "
                      "examples, not from the head.")

    def __init__(self, scaling: str = "l2", temperature: float = 20.0) -> None:
        super().__init__(scaling)
        self.temperature = temperature
        self.prototypes: Array | None = None

    def fit(self, features: Any, y: Array, n_classes: int, context: FitContext | int = 0) -> PrototypeHead:
        self.n_classes = n_classes
        scaled = self.scaler.fit(features).transform(features)
        prototypes = np.zeros((n_classes, scaled.shape[1]))
        for label in range(n_classes):
            members = scaled[y == label]
            if len(members):
                prototypes[label] = members.mean(axis=0)
        self.prototypes = prototypes / np.maximum(np.linalg.norm(prototypes, axis=1, keepdims=True), 1e-12)
        return self

    def predict_proba(self, features: Any) -> Array:
        if self.prototypes is None:
            raise RuntimeError("PrototypeHead used before fit")
        scaled = self.scaler.transform(features)
        scaled = scaled / np.maximum(np.linalg.norm(scaled, axis=1, keepdims=True), 1e-12)
        return softmax(self.temperature * scaled @ self.prototypes.T)

    def params(self) -> dict[str, Any]:
        return {"scaling": self.scaling, "temperature": self.temperature, "n_classes": self.n_classes}

    def state(self) -> State:
        if self.prototypes is None:
            raise RuntimeError("PrototypeHead saved before fit")
        return self.params(), {"prototypes": self.prototypes, **self.scaler.state()}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> PrototypeHead:
        head = cls(scaling=params["scaling"], temperature=params["temperature"])
        head.n_classes = params["n_classes"]
        head.scaler = Scaler.from_state(params["scaling"], tensors)
        head.prototypes = tensors["prototypes"].astype(np.float64)
        return head

    def logits_module(self) -> Any:
        import torch
        from torch.nn import functional as F

        if self.prototypes is None:
            raise RuntimeError("PrototypeHead exported before fit")

        class Logits(torch.nn.Module):
            prototypes: Any

            def __init__(self, prototypes: Array, temperature: float) -> None:
                super().__init__()
                self.register_buffer("prototypes", torch.as_tensor(prototypes.astype(np.float32)).T.contiguous())
                self.temperature = temperature

            def forward(self, x: Any) -> Any:
                return self.temperature * (F.normalize(x, dim=1, eps=1e-12) @ self.prototypes)

        return Logits(self.prototypes, self.temperature)

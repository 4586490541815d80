"""Nearest class prototype (mean embedding) with cosine similarity: robust with one to five examples a class."""

from __future__ import annotations

from typing import Any

import numpy as np

from handful.learners.base import Array, Learner, Scaler, State, softmax


class PrototypeHead(Learner):
    """Class means of the scaled features; probabilities are a softmax of ``temperature * cosine``."""

    name = "prototypes"
    description = "nearest class prototype (cosine)"

    def __init__(self, scaling: str = "l2", temperature: float = 20.0) -> None:
        super().__init__(scaling)
        self.temperature = temperature
        self.prototypes: Array | None = None

    def fit(self, features: Any, y: Array, n_classes: int, seed: int) -> PrototypeHead:
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

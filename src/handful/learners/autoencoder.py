"""An autoencoder, or a variational one, learnt on labelled and unlabelled rows; its encoding feeds a linear head.

The autoencoder (``n -> 256 -> code -> 256 -> n``, on standardised rows) learns the shape of the user's data from
everything they have, labelled or not; a logistic regression then learns the classes from the labelled rows'
codes, a few dimensions instead of hundreds. The variational one (Kingma & Welling 2014) encodes to a Gaussian,
whose mean is the code. Within cross-validation the autoencoder is learnt on the fold's training rows and the
pool, never on the fold's test rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from handful.learners._pool import (
    build_autoencoder,
    fit_autoencoder,
    fit_logistic,
    load_module_state,
    module_state,
    pool_of,
    standardiser,
)
from handful.learners.base import Array, FitContext, Learner, Scaler, State, as_context, register_learner, softmax


@register_learner
class AutoencoderHead(Learner):
    """Logistic regression on the code of an autoencoder learnt on labelled and unlabelled rows."""

    name = "autoencoder"
    description = "logistic regression on the code of an autoencoder learnt on labelled + unlabelled rows"
    uses_unlabelled = True
    variational = False

    def __init__(self, scaling: str = "l2", code: int = 32, hidden: int = 256, epochs: int = 20, C: float = 1.0,
                 beta: float = 1.0) -> None:
        super().__init__(scaling)
        self.code, self.hidden, self.epochs, self.C, self.beta = code, hidden, epochs, C, beta
        self.n_in = 0
        self.module: Any = None
        self.arrays: dict[str, Array] = {}

    def _encode(self, scaled: Array) -> Array:
        import torch

        standard = (scaled - self.arrays["centre"]) / self.arrays["spread"]
        with torch.no_grad():
            codes = self.module.encode(torch.from_numpy(standard.astype(np.float32)))[0].numpy().astype(np.float64)
        return (codes - self.arrays["code_centre"]) / self.arrays["code_spread"]

    def fit(self, features: Any, y: Array, n_classes: int, context: FitContext | int = 0) -> AutoencoderHead:
        context = as_context(context)
        self.n_classes = n_classes
        labelled = self.scaler.fit(features).transform(features)
        pool = pool_of(context)
        pool = None if pool is None else self.scaler.transform(pool)
        rows = labelled if pool is None else np.concatenate([labelled, pool])
        self.n_in = rows.shape[1]
        centre, spread = standardiser(labelled, pool)
        self.arrays = {"centre": centre, "spread": spread}
        self.module = build_autoencoder(self.n_in, self.hidden, self.code, 0, self.variational)
        fit_autoencoder(self.module, (labelled - centre) / spread, None if pool is None else (pool - centre) / spread,
                        None, self.epochs, self.beta if self.variational else 0.0, context.seed)
        self.arrays.update(code_centre=np.zeros(self.code), code_spread=np.ones(self.code))
        codes = self._encode(rows)
        code_spread = codes.std(axis=0)
        self.arrays.update(code_centre=codes.mean(axis=0), code_spread=np.where(code_spread > 1e-8, code_spread, 1.0))
        coef, intercept = fit_logistic(self._encode(labelled), y, n_classes, self.C, context.seed)
        self.arrays.update(coef=coef, intercept=intercept)
        return self

    def predict_proba(self, features: Any) -> Array:
        if self.module is None:
            raise RuntimeError(f"{type(self).__name__} used before fit")
        codes = self._encode(self.scaler.transform(features))
        return softmax(codes @ self.arrays["coef"].T + self.arrays["intercept"])

    def logits_module(self) -> Any:
        """Standardise, encode (the code's mean for a VAE), standardise the code, then the logistic regression."""
        import torch

        if self.module is None:
            raise RuntimeError(f"{type(self).__name__} exported before fit")
        arrays, module = self.arrays, self.module

        class Logits(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                for key in ("centre", "spread", "code_centre", "code_spread", "intercept"):
                    self.register_buffer(key, torch.as_tensor(np.asarray(arrays[key], dtype=np.float32)))
                self.register_buffer("coef", torch.as_tensor(np.asarray(arrays["coef"], dtype=np.float32)).T)
                self.encoder, self.mean = module.encoder, module.mean

            def forward(self, x: Any) -> Any:
                code = self.mean(self.encoder((x - self.centre) / self.spread))
                return ((code - self.code_centre) / self.code_spread) @ self.coef + self.intercept

        return Logits()

    def params(self) -> dict[str, Any]:
        return {"scaling": self.scaling, "code": self.code, "hidden": self.hidden, "epochs": self.epochs,
                "C": self.C, "beta": self.beta, "n_in": self.n_in, "n_classes": self.n_classes}

    def state(self) -> State:
        if self.module is None:
            raise RuntimeError(f"{type(self).__name__} saved before fit")
        return self.params(), {**self.arrays, **module_state(self.module, "module"), **self.scaler.state()}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> AutoencoderHead:
        head = cls(params["scaling"], params["code"], params["hidden"], params["epochs"], params["C"], params["beta"])
        head.n_in, head.n_classes = params["n_in"], params["n_classes"]
        head.scaler = Scaler.from_state(params["scaling"], tensors)
        head.arrays = {k: tensors[k].astype(np.float64) for k in
                       ("centre", "spread", "code_centre", "code_spread", "coef", "intercept")}
        head.module = build_autoencoder(head.n_in, head.hidden, head.code, 0, cls.variational)
        load_module_state(head.module, tensors, "module")
        return head


@register_learner
class VariationalAutoencoderHead(AutoencoderHead):
    """Logistic regression on the mean code of a variational autoencoder learnt on labelled and unlabelled rows."""

    name = "vae"
    description = "logistic regression on the mean code of a VAE learnt on labelled + unlabelled rows"
    variational = True

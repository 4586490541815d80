"""A small PyTorch head: dropout, batch normalisation, weight decay and early stopping; optionally cosine loss.

The cosine loss follows Barz & Denzler, "Deep Learning on Small Datasets without Pre-Training using Cosine Loss"
(WACV 2020): the head's output is L2-normalised and pulled towards the one-hot vector of its class
(loss ``1 - cos``), with a small cross-entropy term on the scaled cosines, which also give the probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from handful.learners.base import (
    Array,
    FitContext,
    Learner,
    Scaler,
    State,
    as_context,
    class_weights,
    one_torch_thread,
    register_learner,
    softmax,
)

COSINE_SCALE = 16.0  # softmax temperature on cosines in [-1, 1]: confident but not saturated


def _build(n_in: int, hidden: int, n_classes: int, dropout: float, cosine: bool) -> Any:
    from torch import nn

    class Head(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Dropout(dropout / 2),
                nn.Linear(n_in, hidden),
                nn.BatchNorm1d(hidden),
                nn.ReLU(),
                nn.Dropout(dropout),
                nn.Linear(hidden, n_classes),
            )
            self.cosine = cosine

        def forward(self, x: Any) -> tuple[Any, Any]:
            out = self.body(x)
            if not self.cosine:
                return out, out
            embedding = nn.functional.normalize(out, dim=1)
            return COSINE_SCALE * embedding, embedding

    return Head()


@register_learner
class MLPHead(Learner):
    """One hidden layer (batch norm, ReLU, dropout), AdamW with weight decay, early stopping on a held-back split."""

    name = "mlp"
    description = "MLP head (dropout, batch norm, weight decay, early stopping)"
    overfit_advice = ("Use stronger dropout and weight decay in the MLP head, or the simpler linear head "
                      "(`learners=['linear']`).")
    simpler = "linear"

    def __init__(
        self,
        scaling: str = "l2",
        hidden: int = 256,
        dropout: float = 0.5,
        weight_decay: float = 1e-2,
        lr: float = 1e-3,
        max_epochs: int = 100,
        patience: int = 10,
        cosine: bool = False,
        label_smoothing: float = 0.05,
        mixup: float = 0.0,
    ) -> None:
        super().__init__(scaling)
        self.hidden, self.dropout, self.weight_decay, self.lr = hidden, dropout, weight_decay, lr
        self.max_epochs, self.patience, self.cosine = max_epochs, patience, cosine
        # label_smoothing: share of each target spread over the other classes. mixup: the Beta(a, a) parameter of
        # mixup in feature space (Zhang et al. 2018); 0 for none. Each batch is blended with a shuffled copy of
        # itself, features and targets alike, with one weight drawn per batch.
        self.label_smoothing, self.mixup = label_smoothing, mixup
        self.n_in = 0
        self.epochs_ = 0
        self.module: Any = None

    def fit(self, features: Any, y: Array, n_classes: int, context: FitContext | int = 0) -> MLPHead:
        import torch

        seed = as_context(context).seed

        self.n_classes = n_classes
        scaled = self.scaler.fit(features).transform(features).astype(np.float32)
        self.n_in = scaled.shape[1]
        rng = np.random.default_rng(seed)
        train_idx, stop_idx = _early_stopping_split(y, rng)
        # fork_rng restores torch's global generator afterwards: dropout and init are seeded, nothing leaks.
        with torch.random.fork_rng(devices=[]), one_torch_thread():
            torch.manual_seed(int(rng.integers(2**31)))
            self.module = _build(self.n_in, self.hidden, n_classes, self.dropout, self.cosine)
            self._train(scaled, y, train_idx, stop_idx, rng)
        self.module.eval()
        return self

    def _train(
        self, x: Array, y: Array, train_idx: Array, stop_idx: Array, rng: np.random.Generator, epochs: int = 0
    ) -> None:
        import torch
        from torch import nn

        module = self.module
        weights = torch.tensor(class_weights(y[train_idx], self.n_classes), dtype=torch.float32)
        optimiser = torch.optim.AdamW(module.parameters(), lr=self.lr, weight_decay=self.weight_decay, foreach=True)
        cross_entropy = nn.CrossEntropyLoss(weight=weights, label_smoothing=self.label_smoothing)
        xs, ys = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
        # About ten steps an epoch: with tiny heads, per-step overhead, not arithmetic, is what costs time.
        batch = int(np.clip(len(train_idx) // 10, 16, 128))
        best_loss, best_epoch, best_state = np.inf, 0, None
        for epoch in range(1, (epochs or self.max_epochs) + 1):
            module.train()
            order = rng.permutation(train_idx)
            for start in range(0, len(order), batch):
                idx = order[start : start + batch]
                if len(idx) < 2:  # batch norm needs two rows
                    continue
                blend, partner = 1.0, idx
                if self.mixup > 0:
                    blend, partner = float(rng.beta(self.mixup, self.mixup)), rng.permutation(idx)
                inputs = xs[idx] if blend == 1.0 else blend * xs[idx] + (1 - blend) * xs[partner]
                logits, embedding = module(inputs)
                loss = blend * cross_entropy(logits, ys[idx])
                if blend < 1.0:
                    loss = loss + (1 - blend) * cross_entropy(logits, ys[partner])
                if self.cosine:
                    target = blend * nn.functional.one_hot(ys[idx], self.n_classes).float()
                    if blend < 1.0:
                        target = target + (1 - blend) * nn.functional.one_hot(ys[partner], self.n_classes).float()
                    target = nn.functional.normalize(target, dim=1)
                    loss = (1 - (embedding * target).sum(dim=1)).mean() + 0.1 * loss
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            if len(stop_idx):
                module.eval()
                with torch.no_grad():
                    held = nn.functional.cross_entropy(module(xs[stop_idx])[0], ys[stop_idx]).item()
                if held < best_loss - 1e-4:
                    best_loss, best_epoch = held, epoch
                    best_state = {k: v.clone() for k, v in module.state_dict().items()}
                elif epoch - best_epoch >= self.patience:
                    break
        if best_state is not None:  # keep the weights of the epoch with the lowest held-back loss
            module.load_state_dict(best_state)
            self.epochs_ = best_epoch
        else:
            self.epochs_ = epochs or self.max_epochs

    def predict_proba(self, features: Any) -> Array:
        import torch

        if self.module is None:
            raise RuntimeError("MLPHead used before fit")
        scaled = self.scaler.transform(features).astype(np.float32)
        with torch.no_grad(), one_torch_thread():
            logits = self.module(torch.from_numpy(scaled))[0].numpy()
        return softmax(logits.astype(np.float64))

    def params(self) -> dict[str, Any]:
        return {
            "scaling": self.scaling, "hidden": self.hidden, "dropout": self.dropout,
            "weight_decay": self.weight_decay, "lr": self.lr, "max_epochs": self.max_epochs,
            "patience": self.patience, "cosine": self.cosine, "n_classes": self.n_classes, "n_in": self.n_in,
            "epochs": self.epochs_, "label_smoothing": self.label_smoothing, "mixup": self.mixup,
        }

    def state(self) -> State:
        if self.module is None:
            raise RuntimeError("MLPHead saved before fit")
        tensors = {f"module.{k}": v.detach().numpy().copy() for k, v in self.module.state_dict().items()}
        return self.params(), {**tensors, **self.scaler.state()}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> MLPHead:
        import torch

        keys = ("scaling", "hidden", "dropout", "weight_decay", "lr", "max_epochs", "patience", "cosine")
        head = cls(**{k: params[k] for k in keys}, label_smoothing=params.get("label_smoothing", 0.05),
                   mixup=params.get("mixup", 0.0))
        head.n_classes, head.n_in, head.epochs_ = params["n_classes"], params["n_in"], params["epochs"]
        head.scaler = Scaler.from_state(params["scaling"], tensors)
        head.module = _build(head.n_in, head.hidden, head.n_classes, head.dropout, head.cosine)
        state = {k.removeprefix("module."): torch.from_numpy(v) for k, v in tensors.items() if k.startswith("module.")}
        head.module.load_state_dict(state)
        head.module.eval()
        return head

    def logits_module(self) -> Any:
        import copy

        import torch

        class Logits(torch.nn.Module):
            def __init__(self, module: Any) -> None:
                super().__init__()
                self.mlp = copy.deepcopy(module).float().eval()

            def forward(self, x: Any) -> Any:
                return self.mlp(x)[0]

        return Logits(self.module)


@register_learner
class CosineHead(MLPHead):
    """The MLP head trained with cosine loss (plus a small cross-entropy term)."""

    name = "cosine"
    description = "MLP head with cosine loss (Barz & Denzler 2020)"

    def __init__(self, scaling: str = "l2", **kwargs: Any) -> None:
        kwargs["cosine"] = True
        super().__init__(scaling, **kwargs)


def _early_stopping_split(y: Array, rng: np.random.Generator) -> tuple[Array, Array]:
    """Hold back ~15% per class for early stopping when every class has at least 5 examples; else none."""
    counts = np.bincount(y)
    if len(y) < 30 or counts[counts > 0].min() < 5:
        return np.arange(len(y)), np.array([], dtype=int)
    held: list[int] = []
    for label in np.flatnonzero(counts):
        members = rng.permutation(np.flatnonzero(y == label))
        held.extend(members[: max(1, int(round(0.15 * len(members))))])
    stop = np.sort(np.asarray(held))
    return np.setdiff1d(np.arange(len(y)), stop), stop

"""Fine-tuning on a handful of examples: train a pretrained backbone's last layers and a head, on cached rows.

The learner takes the rows of a *trunk* backbone (``efficientnet-lite0:trunk``, ``minilm-l6:trunk``, ...): the
activations of the backbone's frozen part, computed once per example (and per augmented view) and cached like
any embedding. It rebuilds the pretrained *tail* (the last block and head of an EfficientNet-Lite, the last two
layers of MiniLM; :func:`handful.backbones.registry.get_tail`) and trains it, so each cross-validation fit costs
a few seconds on one CPU core instead of minutes.

Two recipes:

* images and sounds (``classify``): the head starts as the linear probe (logistic regression on the frozen
  tail's embeddings), then tail and head are trained together with cross-entropy (label smoothing, balanced
  class weights), AdamW with weight decay, the tail at a tenth of the head's learning rate. Starting from the
  probe keeps early updates from wrecking the pretrained features (Kumar et al., "Fine-Tuning can Distort
  Pretrained Features", ICLR 2022).
* text (``setfit``): the SetFit recipe (Tunstall et al., 2022) on the tail: contrastive fine-tuning on pairs of
  labelled sentences (cosine similarity pulled to 1 for the same label, 0 for different ones; every pair of a
  batch is used, so each sentence is encoded once a step), then logistic regression on the tuned embeddings.

Both hold back a stratified fifth of the examples (when every class has five or more) and keep the epoch whose
held-back log loss is lowest; epoch 0 is the frozen tail with its probe, so fine-tuning is kept only where it
helped there. A time budget stops training between epochs. Tuning every layer ("then all of it") is not done:
it needs the raw inputs through the whole network at every epoch of every fit, ~25 s an epoch for 250 images
on two cores, which repeated cross-validation cannot afford.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from typing import Any

import numpy as np

from handful.learners.base import (
    Array,
    FitContext,
    Learner,
    State,
    as_context,
    class_weights,
    one_torch_thread,
    register_learner,
    softmax,
)
from handful.learners.linear import LinearHead

logger = logging.getLogger(__name__)

# Settings that differ by recipe, unless given: images and sounds train in batches of 32, the tail at a tenth of
# the head's rate; SetFit takes 8 sentences a step (28 pairs) and, with too few sentences to hold any back,
# 20 epochs (40 steps for 8 sentences a class, as SetFit's 20 pair iterations give).
RECIPE_DEFAULTS: dict[str, dict[str, float]] = {
    "classify": {"batch_size": 32, "lr_tail": 1e-4, "blind_epochs": 4},
    "setfit": {"batch_size": 8, "lr_tail": 1e-4, "blind_epochs": 20},
}
HELD_BACK = 0.2  # fraction of each class held back for early stopping
MIN_HELD_BACK_CLASS = 5  # a class needs this many examples before one is held back
MIN_HELD_BACK_TOTAL = 20
PREDICT_BATCH = 64


@register_learner
class FineTune(Learner):
    """Fine-tune the tail of the backbone whose trunk rows it receives, with a new head.

    Args:
        scaling: unused (the tail's embedding is L2-normalised before the head); kept for the common interface.
        backbone: the trunk backbone the rows come from, e.g. ``"efficientnet-lite0:trunk"``.
        time_budget: seconds for one fit; training stops between epochs once the next one would overrun
            (at least one epoch always runs).
        max_epochs: epochs at most (contrastive epochs for text).
        patience: epochs without a better held-back loss before stopping.
        blind_epochs: epochs when there are too few examples to hold any back (None: the recipe's default).
        lr_head, lr_tail: AdamW learning rates of the head and of the pretrained tail (text uses ``lr_tail`` for
            its contrastive phase; None: the recipe's default, see ``RECIPE_DEFAULTS``).
        weight_decay: AdamW weight decay.
        label_smoothing: cross-entropy label smoothing (images and sounds); 0 by default, as the epoch is chosen
            by unsmoothed held-back log loss.
        batch_size: examples a step (None: the recipe's default).
        verbose: 1 draws a progress bar with the epoch and the best held-back score.

    Example:
        >>> import numpy as np
        >>> from handful.learners.finetune import FineTune
        >>> rows = np.random.default_rng(0).normal(size=(20, 64)).astype(np.float32)
        >>> head = FineTune(backbone="tiny-audio:trunk", max_epochs=2).fit(rows, np.arange(20) % 2, 2, 0)
        >>> head.predict_proba(rows).shape
        (20, 2)
    """

    name = "finetune"
    description = "fine-tune the backbone's last layers and a new head (text: SetFit)"
    tunes_backbone = True
    version = "2"  # recipe defaults measured (9470c5e)

    def __init__(
        self,
        scaling: str = "l2",
        backbone: str = "",
        time_budget: float | None = None,
        max_epochs: int = 12,
        patience: int = 3,
        blind_epochs: int | None = None,
        lr_head: float = 1e-3,
        lr_tail: float | None = None,
        weight_decay: float = 1e-2,
        label_smoothing: float = 0.0,
        batch_size: int | None = None,
        verbose: int = 0,
    ) -> None:
        super().__init__(scaling)
        self.backbone, self.time_budget, self.verbose = backbone, time_budget, verbose
        self.max_epochs, self.patience, self.blind_epochs = max_epochs, patience, blind_epochs
        self.lr_head, self.lr_tail, self.weight_decay = lr_head, lr_tail, weight_decay
        self.label_smoothing, self.batch_size = label_smoothing, batch_size
        self.recipe = ""
        self.tail: Any = None
        self.head: Any = None  # a torch Linear (classify) or a LinearHead (setfit)
        self.epochs_ = 0  # the epoch kept (0: the frozen tail and its probe)
        self.epochs_run_ = 0
        self.stopped_ = ""
        self.history_: list[dict[str, float]] = []

    def setting(self, name: str) -> float:
        """``batch_size``, ``lr_tail`` or ``blind_epochs``: the value given, else the recipe's default."""
        given = getattr(self, name)
        return float(given) if given is not None else RECIPE_DEFAULTS[self.recipe or "classify"][name]

    # ------------------------------------------------------------------ fitting
    def fit(self, features: Any, y: Array, n_classes: int, context: FitContext | int = 0) -> FineTune:
        """Train on trunk rows ``features`` with labels ``y`` in ``0..n_classes-1``.

        The context's ``groups`` say which rows are views of one example (the original first, then its augmented
        views, as :func:`handful.selection.with_views` stacks them); None when every row is its own example.
        Examples, not rows, are held back, so no view of a held-back example is trained on; every epoch trains
        on one row of each example, drawn anew (on-the-fly augmentation from cached views at the cost of one row
        an example); the probe and the final text head see every row. The context also gives the trunk
        backbone, the time budget and ``verbose`` where the constructor did not.
        """
        import torch

        from handful.backbones.registry import get_spec

        context = as_context(context)
        seed, groups = context.seed, context.groups
        self.backbone = self.backbone or context.backbone
        self.time_budget = self.time_budget if self.time_budget is not None else context.time_budget
        self.verbose = self.verbose or context.verbose
        if not self.backbone:
            raise ValueError("the finetune learner needs the trunk backbone its rows come from "
                             "(FitContext(backbone='efficientnet-lite0:trunk'), or FineTune(backbone=...)).")
        spec = get_spec(self.backbone)
        if spec.trunk_of is None:
            raise ValueError(f"the finetune learner needs the rows of a trunk backbone (such as "
                             f"'efficientnet-lite0:trunk'), got {self.backbone!r}.")
        self.n_classes = n_classes
        self.recipe = "setfit" if spec.modality == "text" else "classify"
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        y = np.asarray(y, dtype=np.int64)
        rng = np.random.default_rng(seed)
        groups = np.arange(len(y)) if groups is None else np.asarray(groups)
        train_idx, held_idx = held_back_split(y, groups, rng)
        members = _members(train_idx, groups)
        self.history_, started = [], time.perf_counter()
        # fork_rng restores torch's global generator afterwards: dropout and drop-connect are seeded, nothing leaks.
        with torch.random.fork_rng(devices=[]), one_torch_thread():
            torch.manual_seed(int(rng.integers(2**31)))
            self.tail = pretrained_tail(self.backbone)
            if self.recipe == "setfit":
                self._fit_setfit(x, y, train_idx, held_idx, members, rng, started, seed)
            else:
                self._fit_classify(x, y, train_idx, held_idx, members, rng, started, seed)
        self.tail.eval()
        return self

    def _fit_classify(self, x: Any, y: Array, train_idx: Array, held_idx: Array, members: list[Array],
                      rng: np.random.Generator, started: float, seed: int) -> None:
        import torch
        from torch import nn

        tail = self.tail
        probe = LinearHead(scaling="l2").fit(self._embed(x[train_idx]), y[train_idx], self.n_classes, seed)
        head = nn.Linear(tail.out_dim, self.n_classes)
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(np.asarray(probe.coef, dtype=np.float32)))
            head.bias.copy_(torch.from_numpy(np.asarray(probe.intercept, dtype=np.float32)))
        self.head = head
        weights = torch.tensor(class_weights(y[train_idx], self.n_classes), dtype=torch.float32)
        loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=self.label_smoothing)
        optimiser = torch.optim.AdamW(
            [{"params": tail.parameters(), "lr": self.setting("lr_tail")},
             {"params": head.parameters(), "lr": self.lr_head}],
            weight_decay=self.weight_decay,
        )
        ys = torch.from_numpy(y)

        def train_epoch() -> float:
            tail.train()
            head.train()
            losses = []
            for idx in _batches(_one_row_each(members, rng), int(self.setting("batch_size"))):
                embedding = nn.functional.normalize(tail(x[idx]), dim=1)
                loss = loss_fn(head(embedding), ys[idx])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                losses.append(float(loss.item()) * len(idx))
            return float(np.sum(losses) / len(members))

        def held_loss() -> tuple[float, float]:
            proba = self._classify_proba(x[held_idx])
            return _log_loss(proba, y[held_idx]), float(np.mean(proba.argmax(axis=1) == y[held_idx]))

        self._epochs(train_epoch, held_loss, len(held_idx) > 0, started)

    def _fit_setfit(self, x: Any, y: Array, train_idx: Array, held_idx: Array, members: list[Array],
                    rng: np.random.Generator, started: float, seed: int) -> None:
        import torch

        tail = self.tail
        optimiser = torch.optim.AdamW(tail.parameters(), lr=self.setting("lr_tail"), weight_decay=self.weight_decay)
        ys = torch.from_numpy(y)

        def train_epoch() -> float:
            tail.train()
            losses = []
            for idx in _batches(_one_row_each(members, rng), int(self.setting("batch_size"))):
                loss = pair_loss(torch.nn.functional.normalize(tail(x[idx]), dim=1), ys[idx])
                if loss is None:  # one sentence, or one class only: no pair to learn from
                    continue
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                losses.append(float(loss.item()))
            return float(np.mean(losses)) if losses else float("nan")

        def held_loss() -> tuple[float, float]:
            self.head = LinearHead(scaling="l2").fit(self._embed(x[train_idx]), y[train_idx], self.n_classes, seed)
            proba = self.head.predict_proba(self._embed(x[held_idx]))
            return _log_loss(proba, y[held_idx]), float(np.mean(proba.argmax(axis=1) == y[held_idx]))

        self._epochs(train_epoch, held_loss, len(held_idx) > 0, started)
        self.head = LinearHead(scaling="l2").fit(self._embed(x[train_idx]), y[train_idx], self.n_classes, seed)

    def _epochs(self, train_epoch: Any, held_loss: Any, held: bool, started: float) -> None:
        """Run epochs until early stopping, the epoch limit or the time budget; keep the best held-back epoch."""
        from handful._progress import status_bar
        from handful.backbones.registry import frozen_name

        epochs = self.max_epochs if held else int(self.setting("blind_epochs"))
        best_loss, best_epoch, best_state = np.inf, 0, None
        if held:
            best_loss, accuracy = held_loss()
            best_state = self._snapshot()
            self.history_.append({"epoch": 0, "held_loss": best_loss, "held_accuracy": accuracy})
        self.stopped_ = "epoch limit"
        with status_bar(f"Fine-tuning {frozen_name(self.backbone)}", epochs, self.verbose) as update:
            epoch_start = time.perf_counter()
            for epoch in range(1, epochs + 1):
                record: dict[str, float] = {"epoch": epoch, "train_loss": train_epoch()}
                self.epochs_run_ = epoch
                if held:
                    record["held_loss"], record["held_accuracy"] = held_loss()
                    if record["held_loss"] < best_loss - 1e-4:
                        best_loss, best_epoch, best_state = record["held_loss"], epoch, self._snapshot()
                self.history_.append(record)
                status = (f"best held-back loss {best_loss:.3f} (epoch {best_epoch})" if held
                          else f"training loss {record['train_loss']:.3f}")
                update(1, status)
                now = time.perf_counter()
                if epoch == epochs:
                    break
                if held and epoch - best_epoch >= self.patience:
                    self.stopped_ = "early stopping"
                    break
                if self.time_budget is not None and now - started + (now - epoch_start) > self.time_budget:
                    self.stopped_ = "time budget"  # the next epoch would overrun it
                    break
                epoch_start = now
        if best_state is not None:
            self._restore(best_state)
            self.epochs_ = best_epoch
        else:
            self.epochs_ = self.epochs_run_
        logger.debug("finetune %s: kept epoch %d of %d (%s)", self.backbone, self.epochs_, self.epochs_run_,
                     self.stopped_)

    def _snapshot(self) -> dict[str, Any]:
        state = {"tail": {k: v.detach().clone() for k, v in self.tail.state_dict().items()}}
        if self.recipe == "classify":
            state["head"] = {k: v.detach().clone() for k, v in self.head.state_dict().items()}
        return state

    def _restore(self, state: dict[str, Any]) -> None:
        self.tail.load_state_dict(state["tail"])
        if self.recipe == "classify":
            self.head.load_state_dict(state["head"])

    # ------------------------------------------------------------------ predicting
    def _embed(self, x: Any) -> Array:
        """The tail's embeddings of trunk rows ``x`` (a tensor), in evaluation mode, as float64."""
        import torch

        self.tail.eval()
        with torch.no_grad():
            parts = [self.tail(x[start : start + PREDICT_BATCH]) for start in range(0, len(x), PREDICT_BATCH)]
        return torch.cat(parts).double().numpy() if parts else np.zeros((0, self.tail.out_dim))

    def _classify_proba(self, x: Any) -> Array:
        import torch

        embedding = torch.nn.functional.normalize(torch.from_numpy(self._embed(x)).float(), dim=1)
        self.head.eval()
        with torch.no_grad():
            return softmax(self.head(embedding).double().numpy())

    def predict_proba(self, features: Any) -> Array:
        import torch

        if self.tail is None or self.head is None:
            raise RuntimeError("FineTune used before fit")
        x = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float32))
        with one_torch_thread():
            if self.recipe == "setfit":
                return self.head.predict_proba(self._embed(x))
            return self._classify_proba(x)

    # ------------------------------------------------------------------ saving
    def params(self) -> dict[str, Any]:
        return {
            "scaling": self.scaling, "backbone": self.backbone, "max_epochs": self.max_epochs,
            "patience": self.patience, "blind_epochs": self.blind_epochs, "lr_head": self.lr_head,
            "lr_tail": self.lr_tail, "weight_decay": self.weight_decay, "label_smoothing": self.label_smoothing,
            "batch_size": self.batch_size, "recipe": self.recipe, "n_classes": self.n_classes,
            "epochs": self.epochs_, "epochs_run": self.epochs_run_, "stopped": self.stopped_,
            "history": self.history_,
        }

    def state(self) -> State:
        if self.tail is None or self.head is None:
            raise RuntimeError("FineTune saved before fit")
        tensors = {f"tail.{k}": v.detach().numpy().copy() for k, v in self.tail.state_dict().items()}
        params = self.params()
        if self.recipe == "setfit":
            head_params, head_tensors = self.head.state()
            params["head"] = head_params
        else:
            head_tensors = {k: v.detach().numpy().copy() for k, v in self.head.state_dict().items()}
        return params, {**tensors, **{f"head.{k}": v for k, v in head_tensors.items()}}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> FineTune:
        import torch
        from torch import nn

        keys = ("scaling", "backbone", "max_epochs", "patience", "blind_epochs", "lr_head", "lr_tail",
                "weight_decay", "label_smoothing", "batch_size")
        learner = cls(**{k: params[k] for k in keys})
        learner.recipe, learner.n_classes = params["recipe"], params["n_classes"]
        learner.epochs_, learner.epochs_run_ = params["epochs"], params["epochs_run"]
        learner.stopped_, learner.history_ = params["stopped"], params["history"]
        learner.tail = pretrained_tail(learner.backbone)
        learner.tail.load_state_dict({k.removeprefix("tail."): torch.from_numpy(v.copy())
                                      for k, v in tensors.items() if k.startswith("tail.")})
        learner.tail.eval()
        head_tensors = {k.removeprefix("head."): v for k, v in tensors.items() if k.startswith("head.")}
        if learner.recipe == "setfit":
            learner.head = LinearHead.from_state(params["head"], head_tensors)
        else:
            with torch.random.fork_rng(devices=[]):  # its random init, overwritten at once, must not shift the seed
                learner.head = nn.Linear(learner.tail.out_dim, learner.n_classes)
            learner.head.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in head_tensors.items()})
            learner.head.eval()
        return learner


@functools.lru_cache(maxsize=2)
def _pretrained(backbone: str) -> Any:
    import torch

    from handful.backbones.registry import get_tail

    # Building the modules draws their (then overwritten) initial weights from torch's generator: drawn here on a
    # fork of it, so a first fit in a process and a later one see the same random numbers, and none leak out.
    with torch.random.fork_rng(devices=[]):
        return get_tail(backbone)


def pretrained_tail(backbone: str) -> Any:
    """A fresh copy of ``backbone``'s pretrained tail (the package's weights are read once per process)."""
    return copy.deepcopy(_pretrained(backbone))


def pair_loss(embedding: Any, y: Any) -> Any:
    """SetFit's cosine-similarity loss over every pair of a batch: squared error between each pair's cosine and
    1 (same label) or 0 (different labels), positive and negative pairs weighted equally. None without pairs."""
    import torch

    cosine = embedding @ embedding.T
    upper = torch.triu(torch.ones_like(cosine, dtype=torch.bool), diagonal=1)
    same = (y[:, None] == y[None, :]) & upper
    different = (y[:, None] != y[None, :]) & upper
    terms = [((cosine[mask] - target) ** 2).mean() for mask, target in ((same, 1.0), (different, 0.0))
             if bool(mask.any())]
    return torch.stack(terms).mean() if terms else None


def held_back_split(y: Array, groups: Array, rng: np.random.Generator) -> tuple[Array, Array]:
    """Rows to train on and rows to stop early on: a stratified fifth of the examples (at least one a class) is
    held back when every class has at least five examples and there are twenty in all; else nothing is.

    An example is a group of rows (its original first, then its views): a held-back example is scored on its
    original row only, and none of its rows is trained on.
    """
    _, first = np.unique(groups, return_index=True)
    first = np.sort(first)  # the first row of each example: its original
    counts = np.bincount(y[first])
    if len(first) < MIN_HELD_BACK_TOTAL or counts[counts > 0].min() < MIN_HELD_BACK_CLASS:
        return np.arange(len(y)), np.array([], dtype=int)
    held: list[int] = []
    for label in np.flatnonzero(counts):
        originals = rng.permutation(first[y[first] == label])
        held.extend(originals[: max(1, int(round(HELD_BACK * len(originals))))])
    stop = np.sort(np.asarray(held))
    train = np.flatnonzero(~np.isin(groups, groups[stop]))
    return train, stop


def _members(rows: Array, groups: Array) -> list[Array]:
    """``rows`` grouped by example, in order of first appearance."""
    order: dict[Any, list[int]] = {}
    for row in rows:
        order.setdefault(groups[row], []).append(int(row))
    return [np.asarray(found) for found in order.values()]


def _one_row_each(members: list[Array], rng: np.random.Generator) -> Array:
    """One row of every example, drawn at random (the original or one of its views), in random order."""
    drawn = np.asarray([rows[rng.integers(len(rows))] if len(rows) > 1 else rows[0] for rows in members])
    return drawn[rng.permutation(len(drawn))]


def _batches(order: Array, size: int) -> list[Array]:
    """``order`` cut into batches of ``size``; a last batch of one joins the one before (batch statistics and
    pairs need two)."""
    batches = [order[start : start + size] for start in range(0, len(order), size)]
    if len(batches) > 1 and len(batches[-1]) < 2:
        batches[-2] = np.concatenate([batches[-2], batches.pop()])
    return batches


def _log_loss(proba: Array, y: Array) -> float:
    return float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-6, 1.0))))

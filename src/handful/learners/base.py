"""What every learner shares: the feature scaling fitted with it and the state it saves (JSON params + arrays)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse

Array = np.ndarray
State = tuple[dict[str, Any], dict[str, np.ndarray]]


class Scaler:
    """How features are scaled before a head: ``l2`` (embeddings), ``standard`` (handcrafted statistics) or
    ``tfidf`` (sparse word counts: inverse document frequency, then l2)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.mean: Array | None = None
        self.scale: Array | None = None

    def fit(self, features: Any) -> Scaler:
        if self.kind == "standard":
            dense = np.asarray(features, dtype=np.float64)
            self.mean = dense.mean(axis=0)
            std = dense.std(axis=0)
            self.scale = np.where(std > 1e-8, std, 1.0)
        elif self.kind == "tfidf":
            counts = scipy.sparse.csr_matrix(features)
            document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
            self.scale = np.log((1 + counts.shape[0]) / (1 + document_frequency)) + 1.0
        return self

    def transform(self, features: Any) -> Any:
        if self.kind == "tfidf":
            if self.scale is None:
                raise RuntimeError("Scaler.transform before fit")
            weighted = scipy.sparse.csr_matrix(features, dtype=np.float64) @ scipy.sparse.diags(self.scale)
            norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1))).ravel()
            return scipy.sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ weighted
        dense = np.asarray(features, dtype=np.float64)
        if self.kind == "standard":
            if self.mean is None or self.scale is None:
                raise RuntimeError("Scaler.transform before fit")
            return (dense - self.mean) / self.scale
        return dense / np.maximum(np.linalg.norm(dense, axis=1, keepdims=True), 1e-12)

    def state(self) -> dict[str, np.ndarray]:
        tensors = {}
        if self.mean is not None:
            tensors["scaler.mean"] = self.mean
        if self.scale is not None:
            tensors["scaler.scale"] = self.scale
        return tensors

    @classmethod
    def from_state(cls, kind: str, tensors: dict[str, np.ndarray]) -> Scaler:
        scaler = cls(kind)
        if "scaler.mean" in tensors:
            scaler.mean = tensors["scaler.mean"].astype(np.float64)
        if "scaler.scale" in tensors:
            scaler.scale = tensors["scaler.scale"].astype(np.float64)
        return scaler


@dataclass(frozen=True)
class FitContext:
    """Everything a fit may use besides the features and labels; a learner takes what it needs and ignores the rest.

    Attributes:
        seed: seeds every random choice of the fit.
        groups: the example each row belongs to, or None when every row is its own example. The rows of a fit
            with augmented views are the training examples first, then views of them (``selection.with_views``
            stacks them); a view carries its example's number, so a learner can hold back whole examples.
        unlabelled: features of rows without a label (for semi-supervised learners), or None.
        time_budget: seconds the fit may take (a learner that trains for long stops between epochs), or None.
        verbose: 1 lets a long fit draw a progress bar.
        backbone: the backbone the rows come from (a learner that tunes a backbone rebuilds its tail from it).

    Example:
        >>> FitContext(seed=3).replace(seed=4).seed
        4
    """

    seed: int = 0
    groups: Array | None = None
    unlabelled: Any = None
    time_budget: float | None = None
    verbose: int = 0
    backbone: str = ""

    def replace(self, **changes: Any) -> FitContext:
        """A copy with ``changes`` (e.g. another seed for another fold)."""
        return dataclasses.replace(self, **changes)


def as_context(context: FitContext | int) -> FitContext:
    """A fit context; a bare int is taken as the seed (``head.fit(x, y, 3, 0)``)."""
    if isinstance(context, FitContext):
        return context
    return FitContext(seed=int(context))


class Learner:
    """A head on fixed features. ``fit(features, y, n_classes, context)`` with ``y`` in ``0..n_classes-1`` and a
    :class:`FitContext` (or just a seed); ``predict_proba`` gives an (n, n_classes) array; ``state``/``from_state``
    round-trip it without pickle.

    A learner describes itself, so nothing elsewhere tests its name or type: ``cheap`` ones are tried on every
    backbone first and measured for the learning curve as they are (costly ones only on the best backbone, and
    measured through the linear head); ``tunes_backbone`` ones get a trunk backbone's rows; the two advice lines
    are what the diagnosis suggests when the model over- or underfits; :meth:`logits_module` is its ONNX export.
    Register a new learner with :func:`register_learner` and name it in a preset.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    dense_only: ClassVar[bool] = True
    cheap: ClassVar[bool] = False  # fits in a blink: tried on every backbone, not only the best one
    tunes_backbone: ClassVar[bool] = False  # trains a backbone's tail on trunk rows (see learners.finetune)
    version: ClassVar[str] = "1"  # changes with the training recipe, so cached scores of the old one are not reused
    combines: ClassVar[bool] = False  # built from other candidates after the search (an ensemble), not scored alone
    uses_unlabelled: ClassVar[bool] = False  # learns from FitContext.unlabelled too: a candidate only with a pool
    multi_backbone: ClassVar[bool] = False  # reads several backbones side by side (co-training): fused features only
    overfit_advice: ClassVar[str] = "Prefer a simpler head (prototypes) or stronger regularisation."
    simpler: ClassVar[str | None] = "prototypes"  # the head that advice names, if the search tried it
    underfit_advice: ClassVar[str | None] = None

    def __init__(self, scaling: str = "l2") -> None:
        self.scaling = scaling
        self.scaler = Scaler(scaling)
        self.n_classes = 0

    def fit(self, features: Any, y: Array, n_classes: int, context: FitContext | int = 0) -> Learner:
        raise NotImplementedError

    def predict_proba(self, features: Any) -> Array:
        raise NotImplementedError

    def adapt(self, target: Any) -> None:
        """Get ready to predict rows like ``target`` (features of the domain to predict: a cross-validation fold's
        test rows). Most learners need nothing; one that aligns domains (:mod:`handful.learners.align`) takes
        their statistics, as at prediction it takes the unlabelled pool's."""

    def params(self) -> dict[str, Any]:
        return {}

    def state(self) -> State:
        raise NotImplementedError

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> Learner:
        raise NotImplementedError

    def logits_module(self) -> Any:
        """The head's class scores on scaled features as a torch module (softmax gives the probabilities): what
        ONNX export puts after the backbone and the feature scaling."""
        raise ValueError(f"cannot export the head {self.name!r} to ONNX; "
                         f"{', '.join(n for n, c in LEARNERS.items() if c.exports())} export.")

    @classmethod
    def exports(cls) -> bool:
        """Whether this learner has an ONNX export (overrides :meth:`logits_module`)."""
        return cls.logits_module is not Learner.logits_module


LEARNERS: dict[str, type[Learner]] = {}
LearnerType = TypeVar("LearnerType", bound=type[Learner])


def register_learner(cls: LearnerType) -> LearnerType:
    """Class decorator: make a learner choosable by its ``name`` (in ``learners=[...]`` and the presets).

    Example:
        >>> @register_learner
        ... class Majority(Learner):
        ...     name, description = "majority-doc", "the most common class"
        >>> "majority-doc" in LEARNERS
        True
        >>> del LEARNERS["majority-doc"]
    """
    if LEARNERS.get(cls.name, cls) is not cls:
        raise ValueError(f"a learner named {cls.name!r} is already registered ({LEARNERS[cls.name].__name__})")
    LEARNERS[cls.name] = cls
    return cls


def reads_pool(name: str) -> bool:
    """Whether the registered learner ``name`` learns from the unlabelled pool too (``uses_unlabelled``)."""
    return name in LEARNERS and LEARNERS[name].uses_unlabelled


def class_weights(y: Array, n_classes: int) -> Array:
    """Balanced weights n / (k * count), so a rare class counts as much as a common one."""
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    return len(y) / (n_classes * np.maximum(counts, 1.0))


def softmax(logits: Array) -> Array:
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


@contextmanager
def one_torch_thread() -> Iterator[None]:
    """Run small heads on one thread: with tiny matrices, a second thread only adds synchronisation, and when
    another process holds the other core it makes training tens of times slower. Restores the setting after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)

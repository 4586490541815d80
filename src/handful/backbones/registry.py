"""The registry of feature extractors: pretrained encoders that work offline, classical baselines, tiny test nets.

A factory registers under a name with a :class:`BackboneSpec`; ``get_backbone(name)`` builds it (loading weights
from the package that ships them) and ``list_backbones(modality)`` lists what is here.

A fine-tunable backbone ``name`` also registers a *trunk*, ``name:trunk``: its frozen part, whose activations
(flattened to one float32 row per example) go through the feature cache like any embedding, and a *tail*, the
pretrained rest of the network as a torch module, rebuilt by ``get_tail`` for the ``finetune`` learner to train
on those rows. The expensive frozen part then runs once per example, however many fits cross-validation needs.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from handful import _memory

Kind = Literal["pretrained", "engineered", "baseline", "test"]  # engineered: hand-made features that are not a baseline
TRUNK = ":trunk"  # suffix of a trunk backbone's name: "efficientnet-lite0:trunk" is the frozen part of Lite0


@dataclass(frozen=True)
class BackboneSpec:
    """What a backbone is, where its weights come from and how its inputs are prepared.

    ``version`` changes whenever preprocessing or weights change, so cached features are never reused across it.
    ``normalize`` is how a head should scale the features: ``"l2"`` for embeddings, ``"standard"`` for
    handcrafted statistics. ``trunk_of`` names the backbone whose frozen part a trunk backbone is;
    ``tail_gives_frozen`` says that the trunk's tail (:func:`get_tail`) on its rows gives exactly that backbone's
    features, so both can come from one forward pass (not so where the trunk reads less of the input).
    ``ms_per_example`` is the milliseconds it takes to embed one example on a 2-core CPU (measured; 1 for the
    handcrafted baselines), for the estimate of a fit's time (:mod:`handful.selection.estimate`).
    ``prior`` ranks how well the backbone is expected to transfer against its modality's others, from published
    results on its pretraining task (higher is better; equal where nothing says): the model search's tie-break
    when cross-validation cannot tell candidates apart (:func:`handful.selection.best`).
    """

    name: str
    modality: str
    dim: int
    kind: Kind
    description: str
    licence: str
    package: str | None = None
    version: str = "1"
    normalize: Literal["l2", "standard"] = "l2"
    preprocessing: dict[str, Any] = field(default_factory=dict)
    install: str | None = None
    trunk_of: str | None = None
    tail_gives_frozen: bool = False
    ms_per_example: float = 1.0
    prior: int = 0

    def package_version(self) -> str | None:
        if self.package is None:
            return None
        try:
            return importlib.metadata.version(self.package)
        except importlib.metadata.PackageNotFoundError:
            return None

    def available(self) -> bool:
        return self.package is None or self.package_version() is not None

    @property
    def install_hint(self) -> str | None:
        """The command that installs the backbone's package; None for one that needs no package."""
        return self.install or (f"pip install {self.package}" if self.package else None)

    def cache_key(self) -> str:
        name = self.name.replace(":", ".")  # a folder name on every file system
        return f"{name}-v{self.version}-{self.package_version() or 'builtin'}"


class Backbone:
    """Base class: turns a batch of decoded inputs into a float32 matrix of shape (len(batch), spec.dim).

    Inputs are RGB ``PIL.Image`` for images, ``str`` for text and :class:`handful.data.decode.Audio` for audio.
    ``batch_size`` is a hint for the embedding loop.
    """

    spec: BackboneSpec
    batch_size: int = 32

    def embed(self, batch: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError


Factory = Callable[[], Backbone]
TailFactory = Callable[[], Any]
_REGISTRY: dict[str, tuple[BackboneSpec, Factory]] = {}
_TAILS: dict[str, TailFactory] = {}


def register_backbone(spec: BackboneSpec, tail: TailFactory | None = None) -> Callable[[Factory], Factory]:
    """Register ``factory`` (which builds the backbone, loading its weights) under ``spec.name``.

    For a trunk backbone, ``tail`` builds the pretrained rest of the network (see :func:`get_tail`).
    """

    def decorate(factory: Factory) -> Factory:
        _REGISTRY[spec.name] = (spec, factory)
        if tail is not None:
            _TAILS[spec.name] = tail
        return factory

    return decorate


def unknown_name_error(what: str, name: str, valid: Sequence[str]) -> ValueError:
    """A ValueError naming the valid choices and the closest one, for any registry lookup."""
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"Unknown {what} {name!r}. Valid: {', '.join(sorted(valid))}.{hint}")


def get_spec(name: str) -> BackboneSpec:
    if name not in _REGISTRY:
        # Users are shown the names they may choose: not the tiny test backbones, not the fine-tuning trunks.
        public = [n for n, (spec, *_) in _REGISTRY.items() if spec.kind != "test" and spec.trunk_of is None]
        raise unknown_name_error("backbone", name, public)
    return _REGISTRY[name][0]


def get_backbone(name: str) -> Backbone:
    """Build the backbone registered as ``name``.

    Example:
        >>> from handful.backbones import get_backbone
        >>> get_backbone("tiny-text").embed(["hello"]).shape
        (1, 32)
    """
    spec = get_spec(name)
    if not spec.available():
        raise RuntimeError(
            f"Backbone {name!r} needs the package {spec.package!r}, which is not installed. "
            f"Install it with: {spec.install_hint}"
        )
    _memory.for_networks()  # freed activations stay in the heap for the next pass (see handful._memory)
    backbone = _REGISTRY[name][1]()
    backbone.spec = spec
    return backbone


def trunk_name(name: str) -> str | None:
    """The trunk backbone of ``name`` (``name`` itself if it is one), or None when ``name`` cannot be fine-tuned."""
    if name in _TAILS:
        return name
    return name + TRUNK if name + TRUNK in _TAILS else None


def frozen_name(name: str) -> str:
    """The backbone a trunk belongs to (``"efficientnet-lite0:trunk"`` -> ``"efficientnet-lite0"``); else ``name``."""
    return name.removesuffix(TRUNK)


def get_tail(name: str) -> Any:
    """The pretrained tail of trunk backbone ``name``: a fresh torch module, weights from the package.

    It maps a batch of trunk rows (a float32 tensor of shape ``(n, spec.dim)``) to the backbone's pooled
    embedding (before any normalisation); its ``out_dim`` is that embedding's size. ``tail(trunk rows)``
    reproduces the frozen backbone's features, which a test checks for every trunk.

    Example:
        >>> import torch
        >>> from handful.backbones.registry import get_backbone, get_tail
        >>> rows = torch.from_numpy(get_backbone("tiny-text:trunk").embed(["hello"]))
        >>> tuple(get_tail("tiny-text:trunk")(rows).shape)
        (1, 32)
    """
    spec = get_spec(name)
    _memory.for_networks()  # training the tail frees and allocates activations at every step
    if name not in _TAILS:
        fine_tunable = sorted(frozen_name(n) for n in _TAILS)
        raise ValueError(f"{name!r} has no fine-tunable tail; backbones that can be fine-tuned: "
                         f"{', '.join(fine_tunable)}.")
    if not spec.available():
        raise RuntimeError(f"Backbone {name!r} needs the package {spec.package!r}, which is not installed. "
                           f"Install it with: {spec.install_hint}")
    return _TAILS[name]()


class LazyBackbone(Backbone):
    """A backbone whose weights load on its first ``embed``: a run whose features are all cached loads nothing."""

    def __init__(self, name: str) -> None:
        self.spec = get_spec(name)
        self._inner: Backbone | None = None
        self._lock = threading.Lock()  # one encoder may serve several models' threads (tokenizers are not reentrant)

    @property
    def batch_size(self) -> int:  # type: ignore[override]
        return self.load().batch_size

    def load(self) -> Backbone:
        """The loaded backbone, loading its weights now if not yet (a server does it before its first request)."""
        with self._lock:
            if self._inner is None:
                self._inner = get_backbone(self.spec.name)
            return self._inner

    def embed(self, batch: Sequence[Any]) -> np.ndarray:
        inner = self.load()
        with self._lock:
            return inner.embed(batch)

    def __getstate__(self) -> dict[str, Any]:  # sent to another process: the name travels, the weights load there
        return {"spec": self.spec}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.spec, self._inner, self._lock = state["spec"], None, threading.Lock()


def list_backbones(modality: str | None = None, kind: str | None = None, trunks: bool = False) -> list[BackboneSpec]:
    """Specs of the registered backbones, optionally for one modality and kind; trunks only when asked.

    Example:
        >>> from handful.backbones import list_backbones
        >>> [s.name for s in list_backbones("image", kind="pretrained")]
        ['efficientnet-lite0', 'efficientnet-lite2']
    """
    specs = [spec for spec, _ in _REGISTRY.values()]
    return sorted(
        (s for s in specs if (modality is None or s.modality == modality) and (kind is None or s.kind == kind)
         and (trunks or s.trunk_of is None)),
        key=lambda s: (s.modality, s.kind, s.name),
    )

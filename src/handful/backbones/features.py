"""The one feature path: the features of any backbone, fused ones (``"a+b"``) included, for a list of examples.

Everything that needs features (the classifier's fit, predict and suggest, ``handful update``, the benchmarks)
comes here. This module owns:

- the fused-name rule: ``"a+b"`` is the features of ``a`` and ``b`` side by side (:func:`parts_of`, :func:`fuse`);
- the encoders: one lazily loaded backbone per name and process (:func:`encoder`), so a run whose features are all
  cached loads no weights;
- the cache location (:func:`cache_root`), in the format of :mod:`handful.backbones.cache`;
- decoding: each example is decoded once for all the backbones asked for at once.

Example:
    >>> from handful.backbones.features import embed
    >>> from handful.data import from_texts
    >>> data = from_texts(["good", "bad"], ["pos", "neg"])
    >>> embed("tiny-text+tiny-text:trunk", data.examples, cache_dir=False).shape[0]
    2
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handful._progress import progress_bar
from handful._timing import stage
from handful.augment import Augmentation
from handful.backbones import cache
from handful.backbones.registry import LazyBackbone
from handful.data.dataset import Example

FUSE = "+"
Progress = cache.Progress
Embedder = Callable[[str, Sequence[Example]], Any]  # (backbone, examples) -> their features, computed elsewhere
CacheDir = str | Path | bool | None  # None or True: the default folder; False: no cache; else that folder


def parts_of(name: str) -> list[str]:
    """The backbones whose features a (possibly fused) backbone name puts side by side, in order.

    Example:
        >>> parts_of("efficientnet-lite0+colour-thumbnail")
        ['efficientnet-lite0', 'colour-thumbnail']
    """
    return name.split(FUSE)


def fuse(parts: Iterable[str]) -> str:
    """The name of the features of ``parts`` side by side (``fuse(parts_of(name)) == name``)."""
    return FUSE.join(parts)


def is_fused(name: str) -> bool:
    """Whether ``name`` puts the features of several backbones side by side."""
    return FUSE in name


def cache_root(cache_dir: CacheDir = None) -> Path | None:
    """Where features are cached: ``None``/``True`` for the default (:func:`handful.backbones.cache.default_cache_dir`),
    ``False`` for no cache, else the folder given."""
    if cache_dir is False:
        return None
    if cache_dir is None or cache_dir is True:
        return cache.default_cache_dir()
    return Path(cache_dir)


@functools.cache
def encoder(name: str) -> LazyBackbone:
    """The backbone registered as ``name`` (not fused), loaded on its first use and then kept for this process."""
    return LazyBackbone(name)


def stack(blocks: Sequence[Any]) -> Any:
    """Feature blocks side by side; one block is returned as it is, so a sparse baseline stays sparse (and a sparse
    block beside dense ones makes a sparse matrix)."""
    if len(blocks) == 1:
        return blocks[0]
    import scipy.sparse

    if any(scipy.sparse.issparse(b) for b in blocks):
        return scipy.sparse.hstack(blocks, format="csr")
    return np.hstack(blocks)


def embed_all(
    names: Iterable[str],
    examples: Sequence[Example],
    cache_dir: CacheDir = None,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> dict[str, Any]:
    """The features of each backbone in ``names`` (fused ones stacked) for ``examples``, in order.

    Each example missing from some backbone's cache is decoded once for all of them; ``progress(n)`` counts
    examples done. With ``embedder`` (``embedder(backbone, examples) -> features``, such as
    :func:`handful.selection.embedding.embed_on` on a Ray cluster) and a cache, the examples missing from a
    backbone's cache are embedded by it instead, and cached.
    """
    wanted = list(dict.fromkeys(names))
    parts = list(dict.fromkeys(part for name in wanted for part in parts_of(name)))
    root = cache_root(cache_dir)
    if embedder is not None and root is not None:
        for part in parts:
            spec = encoder(part).spec
            if spec.kind == "baseline" and spec.modality == "text":  # sparse n-grams: never cached
                continue
            store = cache.FeatureCache(root, spec.cache_key())
            known = store.get([e.digest for e in examples])
            missing = list({e.digest: e for e in examples if e.digest not in known}.values())
            if missing:
                store.put([e.digest for e in missing], np.asarray(embedder(part, missing), dtype=np.float32))
    blocks = dict(zip(parts, cache.embed_many([encoder(p) for p in parts], examples, cache_root(cache_dir), progress),
                      strict=True))
    return {name: stack([blocks[p] for p in parts_of(name)]) for name in wanted}


def embed(
    name: str,
    examples: Sequence[Example],
    cache_dir: CacheDir = None,
    progress: Progress | None = None,
) -> Any:
    """The features of backbone ``name`` (fused or not) for ``examples``, in order (see :func:`embed_all`)."""
    return embed_all([name], examples, cache_dir, progress)[name]


def embed_views(
    name: str,
    examples: Sequence[Example],
    augmentation: Augmentation,
    seed: int,
    cache_dir: CacheDir = None,
    progress: Progress | None = None,
) -> tuple[Any, np.ndarray]:
    """Features of ``augmentation.views`` augmented views of each example and the example owning each row (see
    :func:`handful.backbones.cache.embed_views`); a fused name stacks its parts' views."""
    root = cache_root(cache_dir)
    found = [cache.embed_views(encoder(part), examples, augmentation, seed, root, progress if i == 0 else None)
             for i, part in enumerate(parts_of(name))]
    return stack([features for features, _ in found]), found[0][1]


class Features:
    """The features of one set of examples, each backbone embedded once and kept: what a fit asks for again and
    again (every candidate, the refit, the review) costs one embedding.

    Args:
        examples: the examples, in the order of the rows.
        cache_dir: see :func:`cache_root`.
        verbose: 0 for silence, 1 for progress bars.
    """

    def __init__(self, examples: Sequence[Example], cache_dir: CacheDir = None, verbose: int = 0) -> None:
        self.examples = examples
        self.cache_dir = cache_dir
        self.verbose = verbose
        self._blocks: dict[str, Any] = {}
        self._views: dict[tuple[str, str, int], tuple[Any, np.ndarray]] = {}

    def prefetch(self, names: Iterable[str]) -> None:
        """Embed every backbone in ``names`` not embedded yet, decoding each example once for all of them."""
        parts = [p for p in dict.fromkeys(p for name in names for p in parts_of(name)) if p not in self._blocks]
        if not parts:
            return
        with progress_bar(f"Embedding with {', '.join(parts)}", len(self.examples), self.verbose) as advance:
            self._blocks.update(embed_all(parts, self.examples, self.cache_dir, advance))

    @property
    def embedded(self) -> list[str]:
        """The backbones embedded so far, in the order they were."""
        return list(self._blocks)

    def __getitem__(self, name: str) -> Any:
        """The features of ``name`` (fused or not)."""
        self.prefetch([name])
        return stack([self._blocks[p] for p in parts_of(name)])

    def views(self, name: str, augmentation: Augmentation, seed: int) -> tuple[Any, np.ndarray]:
        """The features of augmented views of the examples and their owners (see :func:`embed_views`)."""
        key = (name, augmentation.key(), seed)
        if key not in self._views:
            title = f"Embedding {augmentation.views} augmented views with {name}"
            with progress_bar(title, len(self.examples), self.verbose) as advance, stage(f"views {name}"):
                self._views[key] = embed_views(name, self.examples, augmentation, seed, self.cache_dir, advance)
        return self._views[key]

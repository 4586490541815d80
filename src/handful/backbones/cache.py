"""Embed examples with a backbone, keeping features on disk keyed by content, backbone and preprocessing version.

A second run on the same data embeds nothing; a run on grown data embeds only the new examples. Each batch of
new features is written as its own safetensors shard under a temporary name and renamed into place, so parallel
runs and crashes never leave a half-written shard behind.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from handful._timing import stage
from handful.augment import Augmentation
from handful.backbones.registry import Backbone
from handful.data.dataset import Example
from handful.data.decode import load_audio, load_image

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]
VIEW_SEED = 0  # views are a function of content, settings and view index: the same for every fit's seed


def default_cache_dir() -> Path:
    """``$HANDFUL_CACHE_DIR``, else ``$XDG_CACHE_HOME/handful``, else ``~/.cache/handful``."""
    if "HANDFUL_CACHE_DIR" in os.environ:
        return Path(os.environ["HANDFUL_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "handful"


CHECKSUM = "handful-checksum"  # shard metadata: the scheme; then one entry per tensor name -> its digest
STALE_TEMPORARY_S = 3600.0  # a temporary shard this old was left by a writer that crashed


def _digest(values: np.ndarray) -> str:
    return hashlib.blake2b(np.ascontiguousarray(values).tobytes(), digest_size=16).hexdigest()


class FeatureCache:
    """Features on disk for one backbone key: ``root/<key>/*.safetensors``, tensor name = content digest.

    Each shard's header carries a checksum of every tensor's bytes, verified when the tensor is read: a shard
    whose data changed under an intact header is removed and its features recomputed, never fed to a model.
    (Shards written before checksums existed carry none and are read as they are.) Temporary shards left by
    crashed writers are removed once they are an hour old.
    """

    def __init__(self, root: Path, key: str) -> None:
        self.folder = Path(root) / "features" / key
        self._index: dict[str, Path] | None = None

    def _load_index(self) -> dict[str, Path]:
        if self._index is None:
            from safetensors import safe_open

            self._index = {}
            self._sweep()
            for shard in sorted(self.folder.glob("*.safetensors")) if self.folder.exists() else []:
                try:
                    with safe_open(str(shard), framework="numpy") as handle:
                        for name in handle.keys():
                            self._index[name] = shard
                except Exception as error:  # a damaged shard costs a re-embed, never a crash
                    logger.warning("ignoring unreadable feature cache shard %s (%s)", shard, error)
        return self._index

    def _sweep(self) -> None:
        now = time.time()
        for temporary in self.folder.glob(".*.tmp") if self.folder.exists() else []:
            try:
                if now - temporary.stat().st_mtime > STALE_TEMPORARY_S:
                    temporary.unlink()
                    logger.info("removed %s, a feature cache shard left by an interrupted write", temporary)
            except OSError:
                continue

    def known(self, digests: Iterable[str]) -> set[str]:
        """Which of ``digests`` have features here (read from the shards' headers; the features are not loaded)."""
        index = self._load_index()
        return {digest for digest in digests if digest in index}

    def get(self, digests: Sequence[str]) -> dict[str, np.ndarray]:
        from safetensors import safe_open

        index = self._load_index()
        by_shard: dict[Path, list[str]] = {}
        for digest in set(digests):
            if digest in index:
                by_shard.setdefault(index[digest], []).append(digest)
        found: dict[str, np.ndarray] = {}
        for shard, names in by_shard.items():
            try:
                with safe_open(str(shard), framework="numpy") as handle:
                    checksums = handle.metadata() or {}
                    values = {name: handle.get_tensor(name) for name in names}
            except Exception as error:
                logger.warning("ignoring unreadable feature cache shard %s (%s)", shard, error)
                continue
            damaged = [name for name, value in values.items()
                       if CHECKSUM in checksums and checksums.get(name) != _digest(value)]
            if damaged:
                logger.warning("feature cache shard %s does not match its checksums (%d of its features changed); "
                               "removing it, its features are computed again", shard, len(damaged))
                self._drop(shard)
                continue
            found.update(values)
        return found

    def _drop(self, shard: Path) -> None:
        try:
            shard.unlink()
        except OSError:
            pass
        if self._index is not None:
            for name in [n for n, where in self._index.items() if where == shard]:
                del self._index[name]

    def put(self, digests: Sequence[str], features: np.ndarray) -> None:
        from safetensors.numpy import save_file

        if len(digests) == 0:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            name = uuid.uuid4().hex
            temporary = self.folder / f".{name}.tmp"
            tensors = {d: np.ascontiguousarray(f, dtype=np.float32) for d, f in zip(digests, features, strict=True)}
            metadata = {CHECKSUM: "blake2b-128", **{d: _digest(t) for d, t in tensors.items()}}
            save_file(tensors, str(temporary), metadata=metadata)
            final = self.folder / f"{name}.safetensors"
            os.replace(temporary, final)
        except OSError as error:  # a read-only or full disk slows the next run; it must not fail this one
            logger.warning("could not write the feature cache in %s (%s)", self.folder, error)
            return
        index = self._load_index()
        for digest in digests:
            index[digest] = final


def decode_example(example: Example, modality: str) -> Any:
    """The value a backbone of ``modality`` takes for ``example``."""
    if modality == "text":
        return example.text
    if modality == "image":
        return load_image(example.source)
    return load_audio(example.source)


def embed(
    backbone: Backbone,
    examples: Sequence[Example],
    cache_root: Path | None = None,
    progress: Progress | None = None,
) -> Any:
    """Features of one backbone for ``examples`` in order (see :func:`embed_many`)."""
    return embed_many([backbone], examples, cache_root, progress)[0]


def embed_many(
    backbones: Sequence[Backbone],
    examples: Sequence[Example],
    cache_root: Path | None = None,
    progress: Progress | None = None,
) -> list[Any]:
    """Features of each backbone for ``examples`` in order: float32 arrays, or sparse matrices for sparse baselines.

    Only examples missing from a backbone's cache are embedded by it, and each is decoded once for all the
    backbones that miss it; ``progress(n)`` counts examples done (cached or embedded) for all of them. A frozen
    backbone asked for with its trunk (whose tail gives its features, ``spec.tail_gives_frozen``) takes them from
    the trunk's rows through the tail: one forward pass for both.
    """
    if not backbones:
        return []
    modality = backbones[0].spec.modality
    out: list[Any] = [None] * len(backbones)
    known: dict[int, dict[str, np.ndarray]] = {}
    caches: dict[int, FeatureCache] = {}
    for index, backbone in enumerate(backbones):
        spec = backbone.spec
        if spec.modality != modality:
            raise ValueError(f"backbones of one call must share a modality: {spec.name} is {spec.modality}, "
                             f"{backbones[0].spec.name} is {modality}")
        if spec.kind == "baseline" and spec.modality == "text":  # sparse n-grams: never cached, nothing to decode
            out[index] = _embed_sparse(backbone, examples)
            continue
        if cache_root is not None:
            caches[index] = FeatureCache(cache_root, spec.cache_key())
        with stage(f"embed {spec.name}"):
            known[index] = caches[index].get([e.digest for e in examples]) if index in caches else {}
    counts = Counter(e.digest for e in examples)
    unique = list({e.digest: e for e in examples}.values())
    missing = {index: {e.digest for e in unique if e.digest not in found} for index, found in known.items()}
    by_tail = {i: j for i in missing for j in missing if backbones[j].spec.tail_gives_frozen
               and backbones[j].spec.trunk_of == backbones[i].spec.name}
    for i, j in by_tail.items():  # the trunk embeds what either misses; the frozen rows come from its tail
        missing[j] |= {d for d in missing[i] if d not in known[j]}
    from_tail = {i: missing.pop(i) for i in by_tail}
    todo = [e for e in unique if any(e.digest in m for m in missing.values())]
    if progress is not None and len(todo) < len(unique):
        progress(sum(counts[e.digest] for e in unique) - sum(counts[e.digest] for e in todo))
    # reading batch_size would load a lazy backbone's weights: only backbones with work to do are asked
    step = min((backbones[i].batch_size for i, m in missing.items() if m), default=1)
    for start in range(0, len(todo), step):
        chunk = todo[start : start + step]
        with stage("decode"):
            values = [decode_example(e, modality) for e in chunk]
        for index, wanted in missing.items():
            rows = [i for i, e in enumerate(chunk) if e.digest in wanted]
            if not rows:
                continue
            with stage(f"embed {backbones[index].spec.name}"):
                features = np.asarray(backbones[index].embed([values[i] for i in rows]), dtype=np.float32)
                digests = [chunk[i].digest for i in rows]
                if index in caches:
                    caches[index].put(digests, features)
            known[index].update(zip(digests, features, strict=True))
        if progress is not None:
            progress(sum(counts[e.digest] for e in chunk))
    for i, j in by_tail.items():
        with stage(f"embed {backbones[i].spec.name}"):
            digests = sorted(from_tail[i])
            features = _through_tail(backbones[j].spec.name, [known[j][d] for d in digests])
            if i in caches and digests:
                caches[i].put(digests, features)
        known[i].update(zip(digests, features, strict=True))
    for index, found in known.items():
        dim = backbones[index].spec.dim
        out[index] = (np.stack([found[e.digest] for e in examples]).astype(np.float32) if examples
                      else np.zeros((0, dim), dtype=np.float32))
    return out


@functools.lru_cache(maxsize=4)
def _frozen_tail(trunk: str) -> Any:
    """The pretrained tail of ``trunk``, built once: it only ever runs in inference mode here, and building it
    (loading the whole network) takes ~70 ms, which a served fine-tuned model would pay on every batch."""
    from handful.backbones.registry import get_tail

    return get_tail(trunk).eval()


def _through_tail(trunk: str, rows: list[np.ndarray], batch: int = 64) -> np.ndarray:
    """The frozen backbone's features of a trunk's ``rows``, through the trunk's pretrained tail."""
    if not rows:
        return np.zeros((0, 0), dtype=np.float32)
    import torch

    tail = _frozen_tail(trunk)
    with torch.inference_mode():
        return np.concatenate([tail(torch.from_numpy(np.stack(rows[start:start + batch]))).numpy()
                               for start in range(0, len(rows), batch)]).astype(np.float32)


def embed_views(
    backbone: Backbone,
    examples: Sequence[Example],
    augmentation: Augmentation,
    seed: int,
    cache_root: Path | None = None,
    progress: Progress | None = None,
) -> tuple[Any, np.ndarray]:
    """Features of ``augmentation.views`` augmented views of every example, and which example owns each row.

    Row ``i * views + v`` is view ``v`` of ``examples[i]``; ``owner[row]`` is ``i``. A view is drawn from a
    Generator derived from the example's content digest and ``v`` only, so it depends neither on the order of the
    examples nor on ``seed``: a fit with another seed (other folds, other heads) reuses every view already
    embedded, and so does a fit asking for more views (views 0..3 of ``views=8`` are those of ``views=4``). Features
    are cached under (backbone cache key, transform settings, digest, view index). ``seed`` is accepted and not
    used, so callers need not change. Works for any backbone name, whatever its features are; ``progress(n)``
    counts examples.
    """
    from handful.augment import augment, view_generator

    spec = backbone.spec
    views = augmentation.views
    owner = np.repeat(np.arange(len(examples)), views)
    sparse = spec.kind == "baseline" and spec.modality == "text"
    cache = None
    if cache_root is not None and not sparse:
        cache = FeatureCache(cache_root, f"{spec.cache_key()}/views-{augmentation.view_key()}")
    names = {e.digest: [f"{e.digest}.{v}" for v in range(views)] for e in examples}
    known = cache.get([n for e in examples for n in names[e.digest]]) if cache is not None else {}
    missing = [e for e in {e.digest: e for e in examples}.values() if any(n not in known for n in names[e.digest])]
    if progress is not None and len(missing) < len(examples):
        progress(len(examples) - len(missing))
    rows: list[Any] = []
    pending: list[tuple[str, Any]] = []

    def flush() -> None:
        if not pending:
            return
        features = backbone.embed([value for _, value in pending])
        if sparse:
            rows.append(features)
        else:
            features = np.asarray(features, dtype=np.float32)
            if cache is not None:
                cache.put([name for name, _ in pending], features)
            known.update({name: row for (name, _), row in zip(pending, features, strict=True)})
        pending.clear()

    step = backbone.batch_size if missing else 1
    backgrounds = augmentation.backgrounds() if missing and spec.modality == "audio" else []
    for example in missing:
        with stage("decode"):
            value = decode_example(example, spec.modality)
        for view, name in enumerate(names[example.digest]):
            if name not in known:
                with stage("augment"):
                    pending.append((name, augment(value, spec.modality, augmentation,
                                                  view_generator(VIEW_SEED, example.digest, view), backgrounds)))
        if len(pending) >= step:
            flush()
        if progress is not None:
            progress(1)
    flush()
    if sparse:
        import scipy.sparse

        if not rows:
            return scipy.sparse.csr_matrix((0, spec.dim), dtype=np.float32), owner
        stacked = scipy.sparse.vstack(rows).tocsr()
        order = {name: i for i, name in enumerate(n for e in missing for n in names[e.digest])}
        return stacked[[order[n] for e in examples for n in names[e.digest]]], owner
    if not examples:
        return np.zeros((0, spec.dim), dtype=np.float32), owner
    return np.stack([known[n] for e in examples for n in names[e.digest]]).astype(np.float32), owner


def _embed_sparse(backbone: Backbone, examples: Sequence[Example]) -> Any:
    import scipy.sparse

    parts = []
    for start in range(0, len(examples), backbone.batch_size):
        chunk = examples[start : start + backbone.batch_size]
        parts.append(backbone.embed([e.text for e in chunk]))
    if not parts:
        return scipy.sparse.csr_matrix((0, backbone.spec.dim), dtype=np.float32)
    return scipy.sparse.vstack(parts).tocsr()

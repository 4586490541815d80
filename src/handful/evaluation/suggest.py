"""What to label next: the unlabelled examples the model is least sure of, and unlike each other.

Uncertainty alone picks many near-copies of one confusing example; diversity alone picks what the model already
knows. Every strategy here is deterministic (the same model and pool give the same suggestions):

``cluster`` (the default)
    The ``5 n`` most uncertain examples (by margin) are split into ``n`` groups by k-means on their embeddings,
    each weighted by its uncertainty, and the most uncertain example of each group is chosen: the weighted
    k-means / cluster-margin family (Zhdanov, "Diverse mini-batch active learning", 2019; Citovsky et al.,
    NeurIPS 2021). Copies of one example fall in one group, so at most one of them is chosen.
``diverse``
    From the ``4 n`` most uncertain, greedily the candidate with the largest uncertainty times its cosine distance
    to the nearest one already chosen, that distance capped at the median distance between candidates (an
    uncertainty-weighted k-center greedy, after Sener & Savarese, ICLR 2018).
``margin``, ``entropy``, ``least_confident``
    Uncertainty alone: the ``n`` most uncertain by that measure (for two classes all three give the same order).

The default was chosen by benchmarks/suggest.py: the best mean rank of the accuracy after adding the chosen 20,
over spoken digits, SST-2 and ants/bees, on seeds 0-4 (on seeds 5-9 ``diverse`` came out ahead: a near tie). Both
clearly beat random choice on ten-class digits; on two-class SST-2 and ants/bees no strategy reliably does.

Example:
    >>> import numpy as np
    >>> proba = np.array([[0.5, 0.5], [0.51, 0.49], [0.9, 0.1], [0.6, 0.4]])
    >>> features = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.0, 1.0]])
    >>> select(proba, features, 2, "diverse").tolist()
    [0, 3]
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import sparse

from handful.data.dataset import Dataset
from handful.evaluation.ood import OODDetector

logger = logging.getLogger(__name__)

Measure = Literal["margin", "entropy", "least_confident"]
MEASURES: tuple[str, ...] = ("margin", "entropy", "least_confident")
Method = Literal["cluster", "diverse", "margin", "entropy", "least_confident"]
METHODS: tuple[str, ...] = ("cluster", "diverse", *MEASURES)
DEFAULT: Method = "cluster"
POOL = {"cluster": 5, "diverse": 4}  # candidates per example wanted, taken from the most uncertain


@dataclass(frozen=True)
class Suggestion:
    """One example worth labelling next.

    Attributes:
        rank: 1 for the first to label.
        index: position in the unlabelled set.
        source: the file path, or for text the table row.
        predicted: the class the model predicts now.
        probability: the model's probability of that class.
        uncertainty: 0 (sure) to 1 (no idea), by the chosen method.
        text: the text itself, for text data.
    """

    rank: int
    index: int
    source: str
    predicted: str
    probability: float
    uncertainty: float
    text: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def uncertainty(proba: np.ndarray, method: Measure = "margin") -> np.ndarray:
    """Per-row uncertainty in [0, 1] from class probabilities.

    ``margin``: 1 - (top probability - second); ``entropy``: entropy / log(classes);
    ``least_confident``: (1 - top probability) scaled by classes / (classes - 1).

    Example:
        >>> uncertainty(np.array([[0.5, 0.5], [1.0, 0.0]])).tolist()
        [1.0, 0.0]
    """
    proba = np.asarray(proba, dtype=np.float64)
    if proba.ndim != 2 or proba.shape[1] < 2:
        raise ValueError(f"expected probabilities of shape (n, classes >= 2), got {proba.shape}")
    if method == "margin":
        top = np.sort(proba, axis=1)[:, -2:]
        return 1.0 - (top[:, 1] - top[:, 0])
    if method == "entropy":
        clipped = np.clip(proba, 1e-12, 1.0)
        return -(proba * np.log(clipped)).sum(axis=1) / np.log(proba.shape[1])
    if method == "least_confident":
        k = proba.shape[1]
        return (1.0 - proba.max(axis=1)) * k / (k - 1)
    raise ValueError(f"method must be one of {', '.join(MEASURES)}, got {method!r}")


def select(
    proba: np.ndarray,
    features: Any,
    n: int,
    method: Method = DEFAULT,
    pool: int | None = None,
) -> np.ndarray:
    """Indices of ``n`` examples to label next, in the order to label them.

    Args:
        proba: predicted probabilities of the unlabelled examples.
        features: their embedding (an array, sparse matrix, or list of blocks of the same rows).
        n: how many to choose (all of them when the pool is smaller).
        method: the strategy (see the module's docstring).
        pool: for ``cluster`` and ``diverse``, candidates considered per example chosen, taken from the most
            uncertain; ``None`` for the strategy's default (5 and 4), 1 means uncertainty only.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if pool is not None and (isinstance(pool, bool) or not isinstance(pool, int | np.integer) or pool < 1):
        raise ValueError(f"pool must be a positive integer or None, got {pool!r}")
    scores = uncertainty(proba, "margin" if method in POOL else method)  # type: ignore[arg-type]
    total = len(scores)
    wanted = min(int(n), total)
    if wanted == 0:
        return np.zeros(0, dtype=np.int64)
    by_uncertainty = np.lexsort((np.arange(total), -scores))  # most uncertain first, ties by position
    if method not in POOL:
        return by_uncertainty[:wanted]
    candidates = by_uncertainty[: min(total, wanted * int(pool or POOL[method]))]
    unit = _unit_rows(features, candidates)
    if method == "cluster":
        return candidates[_one_per_cluster(unit, scores[candidates], wanted)]
    return candidates[_weighted_k_center(unit, scores[candidates], wanted)]


def _one_per_cluster(unit: Any, scores: np.ndarray, wanted: int) -> np.ndarray:
    """Positions of the most uncertain candidate in each of ``wanted`` uncertainty-weighted k-means clusters.

    ``scores`` run from the most uncertain down. Where k-means finds fewer distinct groups (copies), the rest
    comes from the most uncertain not yet chosen, so ``wanted`` positions always come back.
    """
    from sklearn.cluster import KMeans

    if len(scores) <= wanted:
        return np.arange(len(scores))
    with warnings.catch_warnings():  # fewer distinct points than clusters: some clusters stay empty
        warnings.simplefilter("ignore")
        groups = KMeans(n_clusters=wanted, n_init=4, random_state=0).fit(
            unit, sample_weight=np.maximum(scores, 1e-6)).labels_
    firsts = sorted({int(np.flatnonzero(groups == g)[0]) for g in np.unique(groups)})  # rows are by uncertainty
    rest = [i for i in range(len(scores)) if i not in set(firsts)]
    return np.asarray(firsts + rest[: wanted - len(firsts)], dtype=np.int64)


def _weighted_k_center(unit: Any, scores: np.ndarray, wanted: int) -> np.ndarray:
    """Positions chosen greedily by uncertainty times (capped) cosine distance to the nearest one chosen."""
    gram = unit @ unit.T
    pairwise = 1.0 - (gram.toarray() if sparse.issparse(gram) else np.asarray(gram))
    typical = float(np.median(pairwise[np.triu_indices(len(scores), 1)])) if len(scores) > 1 else 1.0
    chosen = [0]
    nearest = pairwise[0]
    for _ in range(wanted - 1):
        gain = scores * np.clip(nearest / max(typical, 1e-9), 0.0, 1.0)
        gain[chosen] = -np.inf
        best = int(np.argmax(gain))
        if not np.isfinite(gain[best]) or gain[best] <= 0.0:  # only copies of chosen ones (or sure ones) left
            best = next(i for i in range(len(scores)) if i not in set(chosen))
        chosen.append(best)
        nearest = np.minimum(nearest, pairwise[best])
    return np.asarray(chosen, dtype=np.int64)


def suggestions(
    proba: np.ndarray,
    features: Any,
    classes: Sequence[str],
    inputs: Dataset,
    n: int = 20,
    method: Method = DEFAULT,
    positions: np.ndarray | None = None,
    pool: int | None = None,
) -> list[Suggestion]:
    """The ranked :class:`Suggestion` records for :func:`select`'s choice among ``inputs``; a record's ``index`` is
    ``positions[row]`` when given (the row's place among the inputs before some were left out)."""
    sources = [e.source for e in inputs.examples]
    texts = [e.text for e in inputs.examples] if inputs.modality == "text" else None
    if len(sources) != len(proba):
        raise ValueError(f"got {len(proba)} probability rows but {len(sources)} sources")
    scores = uncertainty(proba, "margin" if method in POOL else method)  # type: ignore[arg-type]
    found = []
    for rank, index in enumerate(select(proba, features, n, method, pool), start=1):
        top = int(np.argmax(proba[index]))
        found.append(Suggestion(
            rank=rank, index=int(index if positions is None else positions[index]), source=str(sources[index]),
            predicted=str(classes[top]),
            probability=round(float(proba[index, top]), 6), uncertainty=round(float(scores[index]), 6),
            text=None if texts is None else texts[int(index)],
        ))
    return found


def _unit_rows(features: Any, rows: np.ndarray) -> Any:
    """The chosen rows of every block, each block scaled to unit rows, side by side and scaled to unit rows again.

    Sparse blocks (word n-grams: 2**18 columns) stay sparse; the result is dense only when every block is.
    """
    from sklearn.preprocessing import normalize

    blocks = list(features) if isinstance(features, list | tuple) else [features]
    parts = []
    for block in blocks:
        picked = block[rows]
        picked = picked.astype(np.float64) if sparse.issparse(picked) else np.asarray(picked, dtype=np.float64)
        parts.append(normalize(picked))
    if len(parts) == 1:
        return parts[0]
    if any(sparse.issparse(part) for part in parts):
        return normalize(sparse.hstack(parts, format="csr"))
    return normalize(np.hstack(parts))


def not_learned(detector: OODDetector | None, features: Any, n: int) -> np.ndarray:
    """The positions of the ``n`` inputs the model did not learn from: one whose embedding (``features``, in the
    distance ``detector``'s backbone) is a training example's own is that file or text again, and labelled already.
    A folder of every photo, labelled ones among them, is a common pool. Without a detector, all of them.
    """
    if detector is None or features is None:
        return np.arange(n)
    known = detector.learned(features)
    if known.all():
        raise ValueError(f"all {n} inputs are examples the model learned from, labelled already; give inputs it has "
                         "not seen.")
    if known.any():
        logger.warning("%d of the %d inputs are examples the model learned from, labelled already: left out",
                       int(known.sum()), n)
    return np.flatnonzero(~known)

"""What to label next: the unlabelled examples the model is least sure of, spread over the embedding space.

Uncertainty alone picks many near-copies of one confusing example; diversity alone picks what the model already
knows. So the most uncertain examples form a candidate pool (``pool`` times as many as wanted), and from it examples
are chosen greedily: first the most uncertain, then each time the candidate with the largest uncertainty times
its cosine distance to the nearest one already chosen, that distance capped at the median distance between
candidates (an uncertainty-weighted k-center greedy, after Sener & Savarese, ICLR 2018): near-copies of a chosen
example are passed over, while among examples at ordinary distances the more uncertain wins. Nothing is random, so
the same model and pool give the same suggestions.

Example:
    >>> import numpy as np
    >>> proba = np.array([[0.5, 0.5], [0.51, 0.49], [0.9, 0.1], [0.6, 0.4]])
    >>> features = np.array([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.0, 1.0]])
    >>> select(proba, features, 2).tolist()
    [0, 3]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import sparse

Method = Literal["margin", "entropy", "least_confident"]
METHODS: tuple[str, ...] = ("margin", "entropy", "least_confident")
POOL = 4


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


def uncertainty(proba: np.ndarray, method: Method = "margin") -> np.ndarray:
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
    raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")


def select(
    proba: np.ndarray,
    features: Any,
    n: int,
    method: Method = "margin",
    pool: int = POOL,
) -> np.ndarray:
    """Indices of ``n`` examples to label next, in the order to label them.

    Args:
        proba: predicted probabilities of the unlabelled examples.
        features: their embedding (an array, sparse matrix, or list of blocks of the same rows).
        n: how many to choose (fewer when the pool is smaller).
        method: the uncertainty measure (see :func:`uncertainty`).
        pool: candidates considered per example chosen, taken from the most uncertain; 1 means uncertainty only.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(pool, bool) or not isinstance(pool, int | np.integer) or pool < 1:
        raise ValueError(f"pool must be a positive integer, got {pool!r}")
    scores = uncertainty(proba, method)
    total = len(scores)
    wanted = min(int(n), total)
    if wanted == 0:
        return np.zeros(0, dtype=np.int64)
    by_uncertainty = np.lexsort((np.arange(total), -scores))  # most uncertain first, ties by position
    candidates = by_uncertainty[: min(total, wanted * int(pool))]
    unit = _unit_rows(features, candidates)
    pairwise = 1.0 - unit @ unit.T
    typical = float(np.median(pairwise[np.triu_indices(len(candidates), 1)])) if len(candidates) > 1 else 1.0
    chosen = [0]
    nearest = pairwise[0]
    for _ in range(wanted - 1):
        gain = scores[candidates] * np.clip(nearest / max(typical, 1e-9), 0.0, 1.0)
        gain[chosen] = -np.inf
        best = int(np.argmax(gain))
        if not np.isfinite(gain[best]) or gain[best] <= 0.0:  # only copies of chosen ones (or sure ones) left
            remaining = [i for i in range(len(candidates)) if i not in set(chosen)]
            best = remaining[0]
        chosen.append(best)
        nearest = np.minimum(nearest, pairwise[best])
    return candidates[np.asarray(chosen)]


def suggestions(
    proba: np.ndarray,
    features: Any,
    classes: Sequence[str],
    sources: Sequence[str],
    n: int = 20,
    texts: Sequence[str | None] | None = None,
    method: Method = "margin",
    pool: int = POOL,
) -> list[Suggestion]:
    """The ranked :class:`Suggestion` records for :func:`select`'s choice."""
    if len(sources) != len(proba):
        raise ValueError(f"got {len(proba)} probability rows but {len(sources)} sources")
    scores = uncertainty(proba, method)
    found = []
    for rank, index in enumerate(select(proba, features, n, method, pool), start=1):
        top = int(np.argmax(proba[index]))
        found.append(Suggestion(
            rank=rank, index=int(index), source=str(sources[index]), predicted=str(classes[top]),
            probability=round(float(proba[index, top]), 6), uncertainty=round(float(scores[index]), 6),
            text=None if texts is None else texts[int(index)],
        ))
    return found


def _unit_rows(features: Any, rows: np.ndarray) -> np.ndarray:
    """The chosen rows of every block, each block scaled to unit rows, side by side and scaled to unit rows again."""
    from sklearn.preprocessing import normalize

    blocks = list(features) if isinstance(features, list | tuple) else [features]
    parts = []
    for block in blocks:
        picked = block[rows]
        dense = picked.toarray() if sparse.issparse(picked) else np.asarray(picked, dtype=np.float64)
        parts.append(normalize(dense.astype(np.float64)))
    return normalize(np.hstack(parts)) if len(parts) > 1 else parts[0]

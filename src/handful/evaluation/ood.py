""""Nothing like what I learned": a score and a flag for inputs far from every training example.

The score of an input is the mean cosine distance from its embedding (the frozen pretrained backbone's) to its
``k`` nearest training embeddings (Sun et al., 2022, "Out-of-distribution detection with deep nearest neighbors").
The flag's threshold is set on the training data itself, out of fold: each training example is scored against the
training examples of the folds that did not hold it (its group left out too, when there are groups), and the
threshold is the ``1 - false_alarm`` quantile of those scores. So about ``false_alarm`` (5% by default) of new inputs
like the training ones are flagged, and inputs of another domain, far from all of them, are.

Written by hand: scikit-learn's ``NearestNeighbors`` would do the search, but handful needs leave-fold-out scores
and a saved threshold, and the search is one matrix product on normalised embeddings.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> train = rng.normal(0, 1, (60, 8)) + 5.0
    >>> folds = [(np.arange(60)[np.arange(60) % 3 != f], np.arange(60)[np.arange(60) % 3 == f]) for f in range(3)]
    >>> detector = OODDetector.fit(train, folds)
    >>> detector.flag(np.vstack([train[:1] + 0.01, -train[:1]])).tolist()
    [False, True]
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

logger = logging.getLogger(__name__)

FALSE_ALARM = 0.05
NEIGHBOURS = 5
SAME = 1e-5  # cosine distance below which an input's embedding is a training example's own: that input again
CHUNK = 1024
UNLIKE_Z = 3.0  # an unlabelled pool's flagged share must exceed the false alarms by this many standard errors ...
UNLIKE_TIMES = 2.0  # ... and be at least this many times them, to be told unlike the labelled examples


def normalise(features: Any) -> Any:
    """Rows scaled to unit length; sparse rows (hashed n-grams: 2**18 columns) stay sparse, as dense they would
    take a megabyte each."""
    if sparse.issparse(features):
        from sklearn.preprocessing import normalize

        return normalize(sparse.csr_matrix(features, dtype=np.float32))
    x = np.asarray(features, dtype=np.float32)
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def knn_distance(queries: Any, reference: Any, k: int) -> np.ndarray:
    """Mean cosine distance of each (normalised) query to its ``k`` nearest (normalised) reference rows."""
    k = max(1, min(k, reference.shape[0]))
    out = np.empty(queries.shape[0])
    for start in range(0, queries.shape[0], CHUNK):
        similarity = queries[start:start + CHUNK] @ reference.T
        similarity = similarity.toarray() if sparse.issparse(similarity) else np.asarray(similarity)
        nearest = -np.partition(-similarity, k - 1, axis=1)[:, :k]
        out[start:start + CHUNK] = 1.0 - nearest.mean(axis=1)
    return out


@dataclass
class OODDetector:
    """Training embeddings (normalised) and the distance above which an input is unlike anything learned."""

    reference: Any = field(repr=False)  # an array, or a sparse matrix for sparse features
    threshold: float
    false_alarm: float = FALSE_ALARM
    neighbours: int = NEIGHBOURS
    oof_scores: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def fit(cls, features: Any, folds: list[tuple[np.ndarray, np.ndarray]], false_alarm: float = FALSE_ALARM,
            neighbours: int = NEIGHBOURS) -> OODDetector:
        """Keep the training embeddings and set the threshold on their leave-fold-out distances.

        Args:
            features: the training examples' embeddings (n, d).
            folds: (train rows, test rows) pairs; each example's score is its mean over the folds testing it.
            false_alarm: the fraction of in-domain inputs that may be flagged.
            neighbours: how many nearest training examples the distance averages over.
        """
        if not 0.0 < false_alarm < 1.0:
            raise ValueError(f"false_alarm must be a fraction between 0 and 1 (e.g. 0.05), got {false_alarm!r}")
        x = normalise(features)
        total = np.zeros(x.shape[0])
        seen = np.zeros(x.shape[0])
        for train, test in folds:
            if len(train) == 0 or len(test) == 0:
                continue
            total[test] += knn_distance(x[test], x[train], neighbours)
            seen[test] += 1
        if not seen.any():
            raise ValueError("out-of-distribution threshold needs at least one fold with training and test rows")
        scores = total[seen > 0] / seen[seen > 0]
        threshold = float(np.quantile(scores, 1.0 - false_alarm, method="higher"))
        return cls(x, threshold, false_alarm, neighbours, scores)

    def score(self, features: Any) -> np.ndarray:
        """Distance to the training data: about 0 for a training example's twin, up to 2 for its opposite."""
        return knn_distance(normalise(features), self.reference, self.neighbours)

    def learned(self, features: Any) -> np.ndarray:
        """True for inputs whose embedding is a training example's own: the same file or text again."""
        return knn_distance(normalise(features), self.reference, 1) < SAME

    def flag(self, features: Any) -> np.ndarray:
        """True for inputs unlike anything the model learned."""
        return self.score(features) > self.threshold

    def as_dict(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "false_alarm": self.false_alarm, "neighbours": self.neighbours,
                "n_reference": int(self.reference.shape[0]),
                "oof_flagged": float(np.mean(self.oof_scores > self.threshold)) if self.oof_scores is not None
                else None}

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """JSON-able parameters and tensors (the normalised training embeddings), for the model file."""
        params = self.as_dict()
        if sparse.issparse(self.reference):  # its three arrays, and the width they index into
            ref = sparse.csr_matrix(self.reference)
            params["reference_columns"] = int(ref.shape[1])
            tensors = {"ood.reference.data": ref.data.astype(np.float32),
                       "ood.reference.indices": ref.indices.astype(np.int64),
                       "ood.reference.indptr": ref.indptr.astype(np.int64)}
        else:
            tensors = {"ood.reference": np.ascontiguousarray(self.reference, dtype=np.float32)}
        if self.oof_scores is not None:
            tensors["ood.oof_scores"] = self.oof_scores.astype(np.float64)
        return params, tensors

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> OODDetector:
        damaged = ValueError("the model file's out-of-distribution reference embeddings are damaged")
        if "ood.reference.data" in tensors:
            shape = (int(params["n_reference"]), int(params["reference_columns"]))
            try:
                reference: Any = sparse.csr_matrix((tensors["ood.reference.data"].astype(np.float32), tensors[
                    "ood.reference.indices"], tensors["ood.reference.indptr"]), shape=shape)
                reference.check_format(full_check=True)  # indices in range, rows in order: or it is not loaded
            except (KeyError, ValueError, TypeError, IndexError) as error:
                raise damaged from error
        else:
            reference = np.asarray(tensors["ood.reference"], dtype=np.float32)
            if reference.ndim != 2 or len(reference) != int(params.get("n_reference", len(reference))):
                raise damaged
        scores = tensors.get("ood.oof_scores")
        return cls(reference, float(params["threshold"]), float(params["false_alarm"]), int(params["neighbours"]),
                   None if scores is None else np.asarray(scores))


def more_unlike(share: float, detector: OODDetector, n: int) -> bool:
    """Whether ``share`` flagged of ``n`` inputs is clearly more than data like the training data would have: above
    the false alarms by ``UNLIKE_Z`` binomial errors (the threshold's, a quantile of the training scores, and the
    sample's) and at least ``UNLIKE_TIMES`` the false alarms (see :func:`unlike_labelled`)."""
    alarm = detector.false_alarm
    error = np.sqrt(alarm * (1 - alarm) * (1 / (detector.reference.shape[0] + 1) + 1 / max(n, 1)))
    return bool(share > max(alarm + UNLIKE_Z * error, UNLIKE_TIMES * alarm))


def unlike_labelled(labelled: Any, pool: Any, backbone: str, folds: list[tuple[np.ndarray, np.ndarray]]
                    ) -> dict[str, Any]:
    """How much of the pool lies farther from every labelled example than all but ``FALSE_ALARM`` of the labelled
    examples lie from the other folds' (the flag of an :class:`OODDetector` set on the labelled examples of
    ``backbone``), and a warning when the pool is not like them: cross-validation scores
    labelled examples only, so it cannot see how the model, or learning from the pool, does on such inputs.

    A pool like the labelled examples has about ``FALSE_ALARM`` flagged, give or take two binomial errors: the
    threshold's (a quantile of ``n`` labelled scores) and the pool's sample's. The warning needs the share above that
    by ``UNLIKE_Z`` standard errors, and at least ``UNLIKE_TIMES`` the false alarms, so a large pool's slight
    difference is not told. Measured (benchmarks/unlabelled.py): SST-2 sentences of the same export 3-6% of 1,024
    flagged; a new speaker's spoken digits against three labelled speakers, 16% of 250 and more.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> labelled = rng.normal(0, 1, (60, 8)) + 5.0
        >>> folds = [(np.flatnonzero(np.arange(60) % 3 != f), np.flatnonzero(np.arange(60) % 3 == f)) for f in range(3)]
        >>> unlike_labelled(labelled, labelled[:30] + 0.01, "b", folds)["warning"], unlike_labelled(
        ...     labelled, -labelled[:30], "b", folds)["share"]
        ('', 1.0)
    """
    detector = OODDetector.fit(labelled, folds)
    share = float(np.mean(detector.flag(pool)))
    alarm = detector.false_alarm
    warning = "" if not more_unlike(share, detector, pool.shape[0]) else (
        f"{share:.0%} of the unlabelled pool is unlike every labelled example (in {backbone}, {alarm:.0%} "
        "of labelled examples would be): cross-validation scores labelled examples only, so it cannot tell how "
        "the model does on inputs like these, or whether learning from the pool helps with them. Label some of "
        "them (handful suggest MODEL POOL picks which) to find out")
    return {"backbone": backbone, "share": share, "false_alarm": alarm, "n": int(pool.shape[0]),
            "warning": warning}


def auroc(inside: np.ndarray, outside: np.ndarray) -> float:
    """Area under the ROC curve of scores separating ``outside`` (positives) from ``inside``: 0.5 chance, 1 perfect."""
    from sklearn.metrics import roc_auc_score

    labels = np.concatenate([np.zeros(len(inside)), np.ones(len(outside))])
    return float(roc_auc_score(labels, np.concatenate([inside, outside])))

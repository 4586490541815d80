"""The leakage check: do the examples come in clumps that random folds split, flattering the score?

When no groups are given, random folds are honest only if the examples are independent. Real data often comes in
clumps (one speaker's clips, one session's photos): a test example then has a near-twin in training, and the score
measures memory of the clump, not skill on new data. The check clusters the examples in the frozen backbone's
embedding (agglomerative, cosine distance, average linkage), scores the chosen model again under folds that keep
each cluster together, and warns when that score is clearly lower than the random-fold one: the drop is at least
``MIN_DROP`` and the clustered score's 95% interval lies below the random-fold mean. The clustered folds are repeated
at least ``MIN_REPEATS`` times, so their interval means something (on spoken digits of three speakers its top is
0.88-0.90 against random-fold scores of 0.96-0.99). A large drop alone is not enough: on 20-120 independent photos
or sentences a held-out cluster often costs 0.15-0.55, and a rule that warned on any drop of 0.15 did so in 17 of 64
draws, where the interval rule warns in 4; on three speakers' digits both warn in 32 of 32 (``benchmarks/leakage.py``).
Under ``MIN_EXAMPLES`` the check does not run: twenty examples make four clusters, which can follow the classes.

Clusters of similar examples are not the true groups, so the clustered score is no estimate of its own; the check
only says that the random-fold score is likely optimistic, and that ``--groups`` would give the honest one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse

from handful._progress import progress_bar
from handful.learners import LEARNERS
from handful.selection.folds import cross_validate, make_folds, n_folds
from handful.selection.results import Candidate, Result

logger = logging.getLogger(__name__)

MIN_DROP = 0.05
MIN_REPEATS = 3
MAX_CLUSTERED = 4_000  # examples clustered by average linkage; beyond, a sample (see similarity_clusters)
MIN_EXAMPLES = 40  # on 20 photos (four clusters) the check warned on independent ones (benchmarks/leakage.py)


def similarity_clusters(features: Any, n_clusters: int, seed: int = 0) -> np.ndarray:
    """Cluster labels of the examples in ``features``: agglomerative, cosine distance, average linkage.

    Clusters span classes on purpose: clustering each class on its own was tried and gives lopsided clusters
    (one large, a few outliers) whose removal starves a fold of its class, so it "warned" on ants/bees and SST-2.

    Average linkage holds every pairwise distance: its time and memory grow with the square of the examples (4,000
    took 3.3 s and 0.3 GB, 8,000 13.3 s and 0.7 GB; a table of 50,000 sentences would not fit in 24 GB). Beyond
    ``MAX_CLUSTERED`` examples a random sample of that many (drawn with ``seed``) is clustered, and every other
    example joins the cluster of its nearest sampled one.
    """
    from sklearn.preprocessing import normalize

    n = features.shape[0]
    n_clusters = int(max(2, min(n_clusters, n)))
    unit = normalize(features if scipy.sparse.issparse(features) else np.asarray(features, dtype=np.float64))
    if n <= MAX_CLUSTERED:
        return _average_linkage(unit, n_clusters)
    from sklearn.neighbors import NearestNeighbors

    sample = np.sort(np.random.default_rng(seed).choice(n, MAX_CLUSTERED, replace=False))
    sampled = _average_linkage(unit[sample], n_clusters)
    # brute force over the sample, in chunks of bounded memory
    nearest = NearestNeighbors(n_neighbors=1, algorithm="brute", metric="cosine").fit(unit[sample])
    return sampled[nearest.kneighbors(unit, return_distance=False)[:, 0]]


def _average_linkage(unit: Any, n_clusters: int) -> np.ndarray:
    """Agglomerative clusters (cosine distance, average linkage) of unit rows, dense or sparse."""
    from sklearn.cluster import AgglomerativeClustering

    if not scipy.sparse.issparse(unit):  # pairwise cosine distances, kept as half a matrix
        return np.asarray(AgglomerativeClustering(n_clusters=n_clusters, metric="cosine", linkage="average")
                          .fit_predict(unit))
    # Sparse n-grams: metric="cosine" would make them dense first (2**18 columns: 1.7 GB and 64 s for 800
    # sentences); the distances come from the unit rows' sparse products instead.
    distance = np.clip(1.0 - (unit @ unit.T).toarray(), 0.0, 2.0)
    np.fill_diagonal(distance, 0.0)
    model = AgglomerativeClustering(n_clusters=n_clusters, metric="precomputed", linkage="average")
    return np.asarray(model.fit_predict(distance))


def warns(random: float, clustered: float, clustered_high: float) -> bool:
    """The check's verdict: the clustered score is at least ``MIN_DROP`` below the random-fold one and its 95%
    interval lies below it too. A large drop whose interval reaches the random-fold score says nothing.

    Example:
        >>> warns(0.95, 0.70, 0.85), warns(0.95, 0.70, 1.0), warns(0.95, 0.92, 0.93)
        (True, False, False)
    """
    return bool(random - clustered >= MIN_DROP and clustered_high < random)


def default_clusters(n: int, n_classes: int) -> int:
    """About one cluster per ten examples, at least twice the classes and 4, at most 40."""
    return int(np.clip(n // 10, max(4, 2 * n_classes), 40))


@dataclass(frozen=True)
class LeakageCheck:
    """The chosen model's random-fold score beside its score under folds that keep similar examples together."""

    random: float
    clustered: float
    clustered_high: float
    n_clusters: int
    warn: bool

    @property
    def drop(self) -> float:
        return self.random - self.clustered

    def message(self) -> str:
        if self.warn:
            return (f"The examples seem to come in clumps: with similar examples kept together the chosen model scores "
                    f"{self.clustered:.3f}, not {self.random:.3f}. The random-split score is likely optimistic for "
                    "new data. If the examples come from a few sources (speakers, sessions, patients, shops), say so "
                    "with --groups REGEX, a pattern on the file paths (e.g. '(?P<group>[^/]+)/[^/]+$' when each "
                    "source has its own sub-folder, '_(?P<group>[a-z]+)_\\d+\\.wav$' for a name inside the file "
                    "name), or with --group-column COL for a table, and the scores will be for new sources.")
        return (f"No sign of clumps: with similar examples kept together the chosen model scores {self.clustered:.3f} "
                f"against {self.random:.3f} with random folds.")

    def as_dict(self) -> dict[str, Any]:
        return {"random": self.random, "clustered": self.clustered, "clustered_high": self.clustered_high,
                "n_clusters": self.n_clusters, "drop": round(self.drop, 6), "warn": self.warn,
                "message": self.message()}


def leakage_check(
    candidate: Candidate, features: Any, y: np.ndarray, n_classes: int, random_result: Result, embeddings: Any,
    cv_folds: int, repeats: int, seed: int, n_clusters: int | None = None,
) -> LeakageCheck | None:
    """Score ``candidate`` under folds that keep clusters of ``embeddings`` together; compare with ``random_result``.

    Returns None when there are too few examples for clusters to mean anything.
    """
    if len(y) < MIN_EXAMPLES or random_result.estimate is None:
        return None
    count = n_clusters or default_clusters(len(y), n_classes)
    clusters = similarity_clusters(embeddings, count, seed)
    folds = make_folds(y, n_folds(y, cv_folds, clusters), max(repeats, MIN_REPEATS), seed, groups=clusters)
    clustered = cross_validate(candidate, features, y, n_classes, folds, seed)
    if clustered.estimate is None:
        return None
    random = random_result.estimate.mean
    score = clustered.estimate.mean
    warn = warns(random, score, clustered.estimate.high)
    check = LeakageCheck(round(random, 6), round(score, 6), round(clustered.estimate.high, 6), count, warn)
    logger.info("leakage check: %s", check.message())
    return check


def chosen_leakage(results: list[Result], winner: Result, features_for: Any, embedding: str, y: np.ndarray,
                   n_classes: int, cv: tuple[int, int], seed: int, verbose: int = 0) -> dict[str, Any] | None:
    """The leakage check (see :func:`leakage_check`) on the chosen model when it is a cheap head on
    plain features, else on the linear head of the frozen backbone (a proxy that costs one more search fold
    loop, not a fine-tuning one), or, when racing stopped that one, on the best cheap head that ran every fold.
    Measured: with the default preset on spoken digits the proxy had been stopped in 2 of 4 rotations, and the
    check did not run there."""
    candidate = winner.candidate
    reference: Result | None = winner
    if candidate.augment or candidate.members or not LEARNERS[candidate.learner].cheap:
        plain = [r for r in results if r.status == "ok" and r.estimate is not None and not r.candidate.augment
                 and not r.candidate.members and r.candidate.kind != "baseline"
                 and r.candidate.learner in LEARNERS and LEARNERS[r.candidate.learner].cheap]
        # The frozen backbone's linear head; else (racing stopped it) the best cheap head that ran every fold.
        reference = next((r for r in plain if r.candidate.backbone == embedding and r.candidate.learner == "linear"),
                         max(plain, key=lambda r: r.estimate.mean if r.estimate else 0.0, default=None))
    if reference is None:
        return None
    try:
        with progress_bar("Leakage check", 1, verbose) as advance:
            check = leakage_check(reference.candidate, features_for(reference.candidate.backbone), y,
                                  n_classes, reference, features_for(embedding), cv[0], cv[1], seed)
            advance(1)
    except (ValueError, RuntimeError, np.linalg.LinAlgError) as error:  # a failed check must not cost the model
        logger.warning("could not run the leakage check: %s", error)
        return None
    if check is None:
        return None
    if check.warn:
        logger.warning(check.message())
    return {**check.as_dict(), "backbone": reference.candidate.backbone, "learner": reference.candidate.learner}

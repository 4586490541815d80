"""Find training examples whose label is likely wrong, examples unlike any other, and near-duplicate pairs.

Label errors come from confident learning (Northcutt, Jiang & Chuang, JAIR 2021): each class gets a threshold, the
mean out-of-fold probability of that class over the examples labelled with it; an example counts towards the
"confident joint" cell (given label, class) of the most probable class whose probability reaches its threshold, and
the examples in off-diagonal cells are flagged (kind ``"label"``). On a few dozen examples the per-class thresholds
sit high and a swapped example whose out-of-fold model already prefers the other class can stay below them, so an
example is also flagged (kind ``"disagrees"``) when the model trained without it finds another class more likely than
its given label. Flagged examples are ranked by self-confidence (the out-of-fold probability of the given label) or
by normalised margin. The flagged set is the decision; the full ranking (flagged or not) is a separate list.

Confident learning cannot flag an example that belongs to no class (a placeholder image, a silent clip): the model
still gives it a confident probability of some class. Such examples stand far from every other one in the backbone's
embedding, so examples whose mean cosine distance to their nearest neighbours is a robust outlier (more than 3.5
scaled median absolute deviations above the median, Iglewicz & Hoaglin) are flagged as outliers, and ranked first.

Near-duplicates are pairs with cosine similarity at or above a threshold both in the backbone's embedding and in
content features (the classical baseline's: MFCC statistics, a colour thumbnail, word n-grams; scaled across the set).
A pretrained embedding alone is not enough: a voice embedding puts one speaker's "two" and "six" at 0.998, and an
embedding of meaning puts two different photos of one scene together. A pair under two labels is a likely label
conflict.

Example:
    >>> import numpy as np
    >>> proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.85, 0.15]])
    >>> issues = rank_label_issues(proba, np.array([0, 0, 1, 1, 1]), ["a", "b"], ["1", "2", "3", "4", "5"])
    >>> [(i.source, i.given, i.suggested) for i in issues if i.flagged]
    [('5', 'b', 'a')]
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
from scipy import sparse

logger = logging.getLogger(__name__)
MOST = 0.25  # flagging this share of the examples or more says more about the model than about the labels

RankBy = Literal["self_confidence", "normalized_margin"]
OUTLIER_Z = 3.5
MIN_FOR_OUTLIERS = 20
NEIGHBOURS = 10
DUPLICATE_SIMILARITY = 0.95
MAX_PAIRWISE = 50_000
TEXT_SHOWN = 300


@dataclass(frozen=True)
class LabelIssue:
    """One training example whose label looks wrong, or which looks like no other example.

    Attributes:
        index: position in the training set.
        source: the file path, or for text the table row (``"reviews.csv, line 7"``).
        given: the label it was given.
        suggested: the class the out-of-fold model finds most likely.
        score: how plausible the given label is, 0 to 1; lower is more suspicious (the ranking key).
        kind: ``"label"`` (another class is confidently more likely), ``"disagrees"`` (a model trained without it
            finds another class more likely, not confidently), ``"outlier"`` (unlike every other example; it may
            belong to no class) or ``"ok"`` (not flagged).
        self_confidence: out-of-fold probability of the given label.
        outlier_z: robust z-score of the mean distance to its nearest neighbours (0 when not computed).
        text: the text itself, for text data (shortened).
    """

    index: int
    source: str
    given: str
    suggested: str
    score: float
    kind: str
    self_confidence: float
    outlier_z: float = 0.0
    text: str | None = None

    @property
    def flagged(self) -> bool:
        return self.kind != "ok"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class DuplicatePair:
    """Two training examples that are (nearly) the same in content and in the backbone's embedding.

    ``similarity`` is the lower of the two cosine similarities (``content_similarity`` where content features were
    given). ``conflict`` is true when they carry different labels: at least one of the two is likely mislabelled.
    """

    first: int
    second: int
    first_source: str
    second_source: str
    first_label: str
    second_label: str
    similarity: float
    conflict: bool
    content_similarity: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def per_class_thresholds(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Mean predicted probability of each class over the examples labelled with it (confident learning's t_j).

    Example:
        >>> per_class_thresholds(np.array([0, 0, 1]), np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])).round(2).tolist()
        [0.7, 0.7]
    """
    labels, proba = _check(labels, proba)
    thresholds = np.ones(proba.shape[1])
    for k in range(proba.shape[1]):
        members = labels == k
        if members.any():
            thresholds[k] = float(proba[members, k].mean())
    return thresholds


def confident_classes(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """For each example, the class it is confidently counted as (its confident-joint column), or -1 for none.

    Among the classes whose probability reaches their threshold, the most probable one.

    Example:
        >>> confident_classes(np.array([0, 0, 1]), np.array([[0.8, 0.2], [0.6, 0.4], [0.3, 0.7]])).tolist()
        [0, -1, 1]
    """
    labels, proba = _check(labels, proba)
    thresholds = per_class_thresholds(labels, proba)
    above = proba >= thresholds[None, :] - 1e-12
    masked = np.where(above, proba, -np.inf)
    chosen = masked.argmax(axis=1)
    return np.where(above.any(axis=1), chosen, -1)


def confident_joint(labels: np.ndarray, proba: np.ndarray) -> np.ndarray:
    """Counts C[given, confident class]: the off-diagonal cells hold the likely label errors.

    Example:
        >>> confident_joint(np.array([0, 0, 1]), np.array([[0.8, 0.2], [0.2, 0.8], [0.3, 0.7]])).tolist()
        [[1, 1], [0, 1]]
    """
    labels, proba = _check(labels, proba)
    counted = confident_classes(labels, proba)
    joint = np.zeros((proba.shape[1], proba.shape[1]), dtype=np.int64)
    for given, confident in zip(labels, counted, strict=True):
        if confident >= 0:
            joint[given, confident] += 1
    return joint


def label_quality(labels: np.ndarray, proba: np.ndarray, rank_by: RankBy = "self_confidence") -> np.ndarray:
    """A 0-1 score per example, lower when the given label is less plausible.

    ``self_confidence`` is the probability of the given label; ``normalized_margin`` is
    (p[given] - max other p + 1) / 2.
    """
    labels, proba = _check(labels, proba)
    given = proba[np.arange(len(labels)), labels]
    if rank_by == "self_confidence":
        return given
    if rank_by == "normalized_margin":
        others = proba.copy()
        others[np.arange(len(labels)), labels] = -np.inf
        return (given - others.max(axis=1) + 1.0) / 2.0
    raise ValueError(f"rank_by must be 'self_confidence' or 'normalized_margin', got {rank_by!r}")


def outlier_scores(features: Any, labels: np.ndarray | None = None, neighbours: int = NEIGHBOURS) -> np.ndarray:
    """Robust z-score of each example's mean cosine distance to its nearest neighbours (higher = more isolated).

    ``features`` is an array (dense or sparse) or a list of blocks of the same rows; the cosine similarity of
    blocks is averaged, so no block dominates by its scale. With ``labels``, fewer neighbours than the smallest
    class has other members are used, so a small, tight class does not look isolated. The spread is at least a
    tenth of the median distance, so tight clusters do not turn small differences into large scores. Sets smaller
    than 20 get zeros (too few to say).
    """
    blocks = _blocks(features)
    n = blocks[0].shape[0]
    if n < MIN_FOR_OUTLIERS or n > MAX_PAIRWISE:
        return np.zeros(n)
    k = min(neighbours, n - 1)
    if labels is not None:
        k = max(1, min(k, int(np.unique(np.asarray(labels), return_counts=True)[1].min()) - 1))
    distance = np.empty(n)
    for start, similarity in _similarity_rows(blocks):
        rows = np.arange(similarity.shape[0])
        similarity[rows, start + rows] = -np.inf
        nearest = -np.partition(-similarity, k - 1, axis=1)[:, :k]
        distance[start : start + len(rows)] = 1.0 - nearest.mean(axis=1)
    median = float(np.median(distance))
    spread = max(1.4826 * float(np.median(np.abs(distance - median))), 0.1 * median, 1e-6)
    return (distance - median) / spread


def find_near_duplicates(
    features: Any,
    labels: Sequence[str],
    sources: Sequence[str],
    threshold: float = DUPLICATE_SIMILARITY,
    limit: int | None = 50,
    content: Any | None = None,
) -> list[DuplicatePair]:
    """Pairs of examples with cosine similarity at or above ``threshold`` in ``features`` and, when given, in
    ``content`` (already scaled, e.g. by :func:`content_view`): label conflicts first, then most similar.

    Example:
        >>> x = np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0]])
        >>> [(p.first_source, p.second_source, p.conflict) for p in find_near_duplicates(x, ["a", "b", "b"], "xyz")]
        [('x', 'y', True)]
        >>> different = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])  # same voice, different words
        >>> find_near_duplicates(x, ["a", "b", "b"], "xyz", content=different)
        []
    """
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be a cosine similarity in (0, 1], got {threshold!r}")
    blocks = _blocks(features)
    n = blocks[0].shape[0]
    if len(labels) != n or len(sources) != n:
        raise ValueError(f"got {n} feature rows but {len(labels)} labels and {len(sources)} sources")
    if n > MAX_PAIRWISE:
        logger.info("near-duplicate search skipped: %d examples is more than %d", n, MAX_PAIRWISE)
        return []
    content_blocks = _blocks(content) if content is not None else None
    if content_blocks is not None and content_blocks[0].shape[0] != n:
        raise ValueError(f"got {n} feature rows but {content_blocks[0].shape[0]} content rows")
    pairs: list[DuplicatePair] = []
    content_rows = _similarity_rows(content_blocks) if content_blocks is not None else None
    for start, similarity in _similarity_rows(blocks):
        same = similarity >= threshold - 1e-6
        content_similarity = next(content_rows)[1] if content_rows is not None else None
        if content_similarity is not None:
            same &= content_similarity >= threshold - 1e-6
        rows, cols = np.nonzero(same)
        for row_, col_ in zip(rows + start, cols, strict=True):
            row, col = int(row_), int(col_)
            if col <= row:
                continue
            value = float(similarity[row - start, col])
            by_content = None if content_similarity is None else round(min(float(content_similarity[row - start,
                                                                                                   col]), 1.0), 4)
            pairs.append(DuplicatePair(
                row, col, str(sources[row]), str(sources[col]), str(labels[row]), str(labels[col]),
                round(min(value, 1.0), 4) if by_content is None else min(round(min(value, 1.0), 4), by_content),
                labels[row] != labels[col], by_content,
            ))
    pairs.sort(key=lambda p: (not p.conflict, -p.similarity, p.first, p.second))
    return pairs if limit is None else pairs[:limit]


def rank_label_issues(
    proba: np.ndarray,
    labels: np.ndarray,
    classes: Sequence[str],
    sources: Sequence[str],
    texts: Sequence[str | None] | None = None,
    features: Any | None = None,
    rank_by: RankBy = "self_confidence",
) -> list[LabelIssue]:
    """Every example, most suspicious first: outliers (most isolated first), then confident label issues, then
    examples the out-of-fold model disagrees with, then the rest; by ``score`` within each.

    Args:
        proba: out-of-fold probabilities, one row per example, columns in the order of ``classes``.
        labels: the given labels as indices into ``classes``.
        classes: class names.
        sources: where each example came from (file path or table row).
        texts: the text of each example, for text data.
        features: the backbone's features of the same examples (for outliers); ``None`` to skip them.
        rank_by: ``"self_confidence"`` or ``"normalized_margin"``.
    """
    labels, proba = _check(labels, proba)
    if len(sources) != len(labels) or len(classes) != proba.shape[1]:
        raise ValueError(f"got {len(labels)} examples, {len(sources)} sources, {proba.shape[1]} probability "
                         f"columns and {len(classes)} classes; they must match")
    quality = label_quality(labels, proba, rank_by)
    counted = confident_classes(labels, proba)
    z = outlier_scores(features, labels) if features is not None else np.zeros(len(labels))
    suggested = proba.argmax(axis=1)
    given = proba[np.arange(len(labels)), labels]
    issues = []
    for i in range(len(labels)):
        if z[i] > OUTLIER_Z:
            kind, score = "outlier", float(_normal_tail(z[i]))
        elif counted[i] >= 0 and counted[i] != labels[i]:
            kind, score = "label", float(quality[i])
        elif proba[i, suggested[i]] > given[i] + 1e-9:
            kind, score = "disagrees", float(quality[i])
        else:
            kind, score = "ok", float(quality[i])
        best = int(counted[i]) if kind == "label" else int(suggested[i])
        text = texts[i] if texts is not None else None
        issues.append(LabelIssue(
            index=i, source=str(sources[i]), given=str(classes[labels[i]]), suggested=str(classes[best]),
            score=round(score, 6), kind=kind, self_confidence=round(float(proba[i, labels[i]]), 6),
            outlier_z=round(float(z[i]), 3), text=None if text is None else _shorten(text),
        ))
    order = {"outlier": 0, "label": 1, "disagrees": 2, "ok": 3}
    issues.sort(key=lambda issue: (order[issue.kind], -issue.outlier_z if issue.kind == "outlier" else issue.score,
                                   issue.index))
    return issues


def summarize(
    proba: np.ndarray | None,
    labels: np.ndarray,
    classes: Sequence[str],
    sources: Sequence[str],
    texts: Sequence[str | None] | None = None,
    features: Any | None = None,
    limit: int = 50,
    threshold: float = DUPLICATE_SIMILARITY,
    content: Any | None = None,
) -> dict[str, Any]:
    """The JSON-ready findings saved with a model.

    ``examples`` holds the flagged examples (the decision: at most ``limit``, most suspicious first; empty when
    nothing is flagged), ``ranking`` the ``limit`` most suspicious examples whether flagged or not (each says
    ``kind``; a separate list, for reading down when nothing is flagged), ``duplicates`` the near-duplicate pairs
    (judged on ``content`` too when given: see :func:`content_view`).

    Example:
        >>> proba = np.array([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.2, 0.8], [0.85, 0.15]])
        >>> found = summarize(proba, np.array([0, 0, 1, 1, 1]), ["a", "b"], list("12345"))
        >>> found["n_flagged"], found["examples"][0]["source"], [e["kind"] for e in found["ranking"][:2]]
        (1, '5', ['label', 'ok'])
    """
    if proba is None:
        return {"method": "unavailable", "n_flagged": 0, "examples": [], "ranking": [], "duplicates": []}
    ranked = rank_label_issues(proba, labels, classes, sources, texts, features)
    flagged = [issue for issue in ranked if issue.flagged]
    accuracy = float(np.mean(np.asarray(proba).argmax(axis=1) == np.asarray(labels))) if len(labels) else 1.0
    duplicates: list[DuplicatePair] = []
    if features is not None:
        names = [str(classes[k]) for k in np.asarray(labels)]
        duplicates = find_near_duplicates(features, names, sources, threshold, limit, content)
    return {
        "method": "confident learning (self-confidence) + out-of-fold disagreement + k-NN outliers + near-duplicates "
                  + ("in content and embedding" if content is not None else "in the embedding"),
        "n_flagged": len(flagged),
        "caution": _too_many(len(flagged), len(labels), accuracy),
        "n_outliers": sum(issue.kind == "outlier" for issue in flagged),
        "duplicate_threshold": threshold,
        "duplicates_judged_on": "content and embedding" if content is not None else "embedding",
        "examples": [issue.as_dict() for issue in flagged[:limit]],
        "ranking": [issue.as_dict() for issue in ranked[:limit]],
        "duplicates": [pair.as_dict() for pair in duplicates],
    }


def _too_many(n_flagged: int, n: int, accuracy: float) -> str | None:
    """A caution when ``MOST`` of the examples or more are flagged: curated data rarely has that many wrong labels,
    and a model that is right on only ``accuracy`` of them out of fold cannot tell a wrong label from a hard example,
    so most flags are its own mistakes."""
    if n < 10 or n_flagged < MOST * n:
        return None
    return (f"{n_flagged} of {n} examples are flagged: a model right on {accuracy:.0%} of them out of fold cannot "
            "tell a wrong label from a hard example, so most of these are likely its own mistakes; check the top "
            "of the list, and label more examples before trusting the rest")


def content_view(features: Any, scaling: str) -> Any:
    """Content features (a classical baseline's) scaled across the set so that cosine similarity compares content:
    ``standard`` statistics are standardised per column (raw MFCC statistics of any two clips are at 0.99 because
    a few large columns dominate), ``tfidf`` counts are weighted by rarity; anything else is used as is.

    Example:
        >>> rows = np.array([[100.0, 1.0, 0.0], [100.0, 0.0, 1.0], [100.0, 1.0, 0.1]])
        >>> s = content_view(rows, "standard")
        >>> round(float(s[0] @ s[1] / np.linalg.norm(s[0]) / np.linalg.norm(s[1])), 2)
        -1.0
    """
    from handful.learners.base import Scaler

    if scaling not in ("standard", "tfidf"):
        return features
    return Scaler(scaling).fit(features).transform(features)


def _check(labels: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    proba = np.asarray(proba, dtype=np.float64)
    labels = np.asarray(labels)
    if proba.ndim != 2 or labels.shape != (proba.shape[0],):
        raise ValueError(f"expected probabilities of shape (n, classes) and n labels, got {proba.shape} and "
                         f"{labels.shape}")
    if len(labels) and (labels.min() < 0 or labels.max() >= proba.shape[1]):
        raise ValueError(f"labels must be class indices in [0, {proba.shape[1]}), got {labels.min()}..{labels.max()}")
    return labels.astype(np.int64), proba


def _blocks(features: Any) -> list[Any]:
    """Feature blocks with every row scaled to unit length (sparse blocks stay sparse)."""
    from sklearn.preprocessing import normalize

    blocks = list(features) if isinstance(features, list | tuple) else [features]
    if not blocks:
        raise ValueError("no feature blocks given")
    out = []
    for block in blocks:
        matrix = block.tocsr().astype(np.float32) if sparse.issparse(block) else np.asarray(block, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != blocks[0].shape[0]:
            raise ValueError(f"feature blocks must be 2-D with the same rows, got shape {matrix.shape}")
        out.append(normalize(matrix))
    return out


def _similarity_rows(blocks: list[Any], chunk: int = 1024) -> Iterator[tuple[int, np.ndarray]]:
    """Row chunks of the mean cosine similarity matrix, so memory stays O(chunk x n)."""
    n = blocks[0].shape[0]
    for start in range(0, n, chunk):
        total = np.zeros((min(chunk, n - start), n), dtype=np.float64)
        for block in blocks:
            part = block[start : start + chunk] @ block.T
            total += part.toarray() if sparse.issparse(part) else part
        yield start, total / len(blocks)


def _normal_tail(z: float) -> float:
    from scipy.stats import norm

    return float(norm.sf(z))


def _shorten(text: str) -> str:
    return text if len(text) <= TEXT_SHOWN else text[: TEXT_SHOWN - 1] + "…"

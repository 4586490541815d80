"""Near-duplicates as groups: examples that are copies of each other (or nearly) are kept on one side of every
split, so a copy in the held-out part cannot flatter the score."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from handful.data.dataset import Dataset
from handful.data.groups import merge_groups, one_group_classes
from handful.evaluation import noise

logger = logging.getLogger(__name__)

MERGE_SIMILARITY = 0.98  # near-duplicates this similar (a photo twice, a trimmed clip) share one group


def merge_near_duplicates(names: np.ndarray | None, embeddings: Any, train: Dataset
                          ) -> tuple[np.ndarray | None, int]:
    """Groups with near-duplicates (cosine similarity >= 0.98 in the backbone's embedding) merged into one, and how
    many pairs were merged. Without groups, each example is its own group unless it has a near-duplicate; with no
    near-duplicate the groups are returned as they are (None stays None: plain stratified folds).

    Duplicates come in twos and threes. A chain of "near-duplicates" linking more than ``max(5, n / 20)`` examples
    is a dense region of the embedding (or a backbone that cannot tell the inputs apart), not copies: those
    examples keep their own groups, and the leakage check judges whether such clumps flatter the score."""
    sources = [e.source for e in train.examples]
    pairs = [(p.first, p.second) for p in noise.find_near_duplicates(
        embeddings, [str(label) for label in train.labels], sources, MERGE_SIMILARITY, limit=None)]
    if not pairs:
        return names, 0
    start = names if names is not None else np.asarray([f"#{i}" for i in range(len(sources))], dtype=object)
    singles = np.asarray([f"#{i}" for i in range(len(sources))], dtype=object)
    components = merge_groups(singles, pairs)
    _, inverse, sizes = np.unique(components.astype(str), return_inverse=True, return_counts=True)
    small = sizes[inverse] <= max(5, len(sources) // 20)
    kept = [(a, b) for a, b in pairs if small[a] and small[b]]
    if len(kept) < len(pairs):
        logger.info("%d near-duplicate pairs chain into clumps too large to be copies; not merged into groups",
                    len(pairs) - len(kept))
    if not kept:
        return names, 0
    merged = merge_groups(start, kept)
    labels = [str(label) for label in train.labels]
    if len(one_group_classes(merged, labels)) > len(one_group_classes(start, labels)):
        logger.warning("%d near-duplicate pairs were not merged into groups: a whole class would become one group",
                       len(kept))
        return names, 0
    return merged, len(kept)

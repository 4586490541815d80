"""Whether a labelled dataset can train a classifier at all, said with what is needed when it cannot."""

from __future__ import annotations

from handful._lists import listed, short
from handful.data.dataset import Dataset

MIN_PER_CLASS = 2


def check_trainable(dataset: Dataset, cv_folds: int) -> None:
    """Refuse data that cannot train a classifier, saying what is needed."""
    where = dataset.root or "the data"
    if len(dataset) == 0:
        shown = "; ".join(str(p) for p in dataset.problems[:5])
        raise ValueError(f"no usable labelled examples in {where}." + (f" Problems: {shown}" if shown else ""))
    counts = dataset.class_counts()
    if len(counts) < 2:
        only = next(iter(counts))
        raise ValueError(
            f"{where} has a single class ({listed([repr(only)])}); a classifier needs at least two. "
            "Add a folder (or label) for each other class."
        )
    small = {name: count for name, count in counts.items() if count < MIN_PER_CLASS}
    if small:
        names = listed(f"{short(name, 40)!r} ({count})" for name, count in small.items())
        raise ValueError(
            f"too few examples for cross-validation in class{'es' if len(small) > 1 else ''} {names}: every class "
            f"needs at least {MIN_PER_CLASS} (5 or more recommended). Add examples or remove the class."
        )

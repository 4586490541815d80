"""The in-memory dataset every later layer consumes, and the problems found while building it."""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

Modality = Literal["image", "text", "audio"]
MODALITIES: tuple[str, ...] = ("image", "text", "audio")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input, tied to the file or row where it was found.

    ``action`` says what handful did about it: ``"skipped"`` (the example is not used) or ``"kept"``
    (used, but worth a look).
    """

    where: str
    message: str
    action: Literal["skipped", "kept"] = "skipped"

    def __str__(self) -> str:
        return f"{self.where}: {self.message} ({self.action})"


_ROW = re.compile(r"^(?:(?P<file>.*), )?(?P<unit>line|row) (?P<number>\d+)$")


def summarise(problems: Sequence[Problem], listed: int = 3) -> list[str]:
    """The problems as lines to read: one each, except that one problem on several rows of a table is one line
    naming the first ``listed`` rows and how many more (a table's 2,000 rows without a label are its unlabelled
    pool, not 2,000 lines to read).

    Example:
        >>> summarise([Problem(f"t.csv, line {n}", "the label is empty", "kept") for n in (4, 5, 9, 12)])
        ['t.csv, lines 4, 5, 9 and 1 more: the label is empty (kept)']
    """
    rows: dict[tuple[str, ...], list[str]] = {}
    for index, problem in enumerate(problems):
        found = _ROW.match(problem.where)
        if found is None:
            rows[(str(index), problem.where, "", problem.message, problem.action)] = [""]
            continue
        key = ("", found["file"] or "", found["unit"], problem.message, problem.action)
        rows.setdefault(key, []).append(found["number"])
    lines = []
    for (_, file, unit, message, action), numbers in rows.items():
        prefix = f"{file}, " if file and unit else file
        if not unit:
            where = file
        elif len(numbers) == 1:
            where = f"{prefix}{unit} {numbers[0]}"
        else:
            more = f" and {len(numbers) - listed} more" if len(numbers) > listed else ""
            where = f"{prefix}{unit}s {', '.join(numbers[:listed])}{more}"
        lines.append(f"{where}: {message} ({action})")
    return lines


@dataclass(frozen=True)
class Example:
    """One input: a file path (images, audio) or a string (text), with its content hash."""

    source: str
    digest: str
    text: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.source)


@dataclass
class Dataset:
    """Validated inputs with labels (``None`` for unlabelled inputs), their modality and the problems found."""

    examples: list[Example]
    labels: list[str | None]
    modality: Modality
    problems: list[Problem] = field(default_factory=list)
    root: str | None = None
    groups: list[str] | None = None  # examples that belong together (a speaker, a session): see data.groups

    def __len__(self) -> int:
        return len(self.examples)

    @property
    def classes(self) -> list[str]:
        return sorted({label for label in self.labels if label is not None})

    def class_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(label for label in self.labels if label is not None).items()))

    def fingerprint(self) -> str:
        """A hash of the contents and labels, independent of file names and order."""
        rows = sorted(f"{e.digest}\t{label}" for e, label in zip(self.examples, self.labels, strict=True))
        return hashlib.sha256("\n".join(rows).encode()).hexdigest()

    def subset(self, index: np.ndarray | list[int]) -> Dataset:
        idx = [int(i) for i in index]
        return Dataset(
            examples=[self.examples[i] for i in idx],
            labels=[self.labels[i] for i in idx],
            modality=self.modality,
            problems=list(self.problems),
            root=self.root,
            groups=None if self.groups is None else [self.groups[i] for i in idx],
        )


@dataclass
class LoadedData:
    """What a path turned into: the labelled training set, a held-out set if the layout had one, and the pool of
    unlabelled inputs if it had one (an ``unlabelled/`` folder, or table rows without a label)."""

    train: Dataset
    holdout: Dataset | None = None
    unlabelled: Dataset | None = None

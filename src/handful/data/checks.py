"""Whether a labelled dataset can train a classifier at all, said with what is needed when it cannot."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from handful._lists import listed, short
from handful.data.dataset import Dataset, Problem
from handful.data.decode import Audio

MIN_PER_CLASS = 2
SILENT = 1e-4  # a clip whose loudest sample is below this (-80 dBFS) recorded nothing
SHORTEST_SECONDS = 0.05  # shorter than the shortest syllable or click


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
        spelt = _by_spelling(counts)  # a look-up: comparing every pair took 177 s for 10,000 classes
        twins = listed(" and ".join(repr(short(name, 40)) for name in names) for names in spelt.values()
                       if len(names) > 1 and any(name in small for name in names))  # each set of spellings once
        raise ValueError(
            f"too few examples for cross-validation in class{'es' if len(small) > 1 else ''} {names}: every class "
            f"needs at least {MIN_PER_CLASS} (5 or more recommended). Add examples or remove the class."
            + (f" {twins} differ only in case or spacing: if they are one class, give them one spelling." if twins
               else "")
        )


def _spelling(label: str) -> str:
    return " ".join(label.casefold().split())


def _by_spelling(labels: Iterable[str]) -> dict[str, list[str]]:
    """``labels`` grouped by their spelling without case or extra spaces, each group in the order given."""
    spellings: dict[str, list[str]] = {}
    for label in labels:
        spellings.setdefault(_spelling(label), []).append(label)
    return spellings


def label_spellings(dataset: Dataset) -> list[Problem]:
    """Labels that differ only in case or spacing ('Positive', 'positive ') are different classes, as scikit-learn
    treats them; almost always one was meant, so each rarer spelling is reported at its first example, with the fix.

    Example:
        >>> from handful.data.dataset import Example
        >>> data = Dataset([Example(f"row {i}", str(i)) for i in (1, 2, 3)], ["pos", "pos", "Pos"], "text", [])
        >>> [str(p) for p in label_spellings(data)]
        ["row 3: the label 'Pos' differs from 'pos' only in case or spacing, so it is a class of its own (1 example \
against 2); if they are one class, give them one spelling (kept)"]
    """
    counts = Counter(label for label in dataset.labels if label is not None)
    problems = []
    for labels in _by_spelling(counts).values():
        common, *others = sorted(labels, key=lambda label: (-counts[label], label))
        for other in others:
            first = dataset.labels.index(other)
            problems.append(Problem(
                dataset.examples[first].source,
                f"the label {short(other, 40)!r} differs from {short(common, 40)!r} only in case or spacing, so it is "
                f"a class of its own ({counts[other]:,} example{'s' if counts[other] > 1 else ''} against "
                f"{counts[common]:,}); if they are one class, give them one spelling", "kept"))
    return problems


def respelt(labels: Iterable[str | None], classes: Iterable[str]) -> dict[str, str]:
    """The ``labels`` that are not among ``classes`` but differ from one only in case or spacing, each with it.

    Example:
        >>> respelt(["Pos", "pos", "neutral", None], ["pos", "neg"])
        {'Pos': 'pos'}
    """
    names = list(classes)
    members, spelt = set(names), {_spelling(name): name for name in names}
    return {label: spelt[_spelling(label)] for label in labels
            if label is not None and label not in members and _spelling(label) in spelt}


def unknown_labels(dataset: Dataset, known: dict[str, int]) -> list[Problem]:
    """Each example whose label is not one of the model's classes (``known``), said with the class it differs from
    only in case or spacing, when there is one.

    Example:
        >>> from handful.data.dataset import Example
        >>> data = Dataset([Example("t.csv, line 2", "a"), Example("t.csv, line 3", "b")], ["POS", "pos"], "text")
        >>> [str(p) for p in unknown_labels(data, {"pos": 0, "neg": 1})]
        ["t.csv, line 2: label 'POS' is not one the model was trained on; it has 'pos' (skipped)"]
    """
    twins = respelt(dataset.labels, known)
    problems = []
    for example, label in zip(dataset.examples, dataset.labels, strict=True):
        if label is not None and label not in known:
            twin = twins.get(label)
            problems.append(Problem(example.source, f"label {short(label, 40)!r} is not one the model was trained on"
                                    + (f"; it has {short(twin, 40)!r}" if twin is not None else "")))
    return problems


def lost_classes(labels: Iterable[str | None], dataset: Dataset) -> list[Problem]:
    """A problem for each class given (``labels``, one per file) none of whose files could be used: without it the
    model would lack the class with no word but the files' own messages."""
    given = Counter(str(label) for label in labels if label is not None)
    kept = {str(label) for label in dataset.labels if label is not None}
    found = []
    for name in sorted(set(given) - kept):
        folder = os.path.join(dataset.root, name) if dataset.root else None
        where = folder if folder and os.path.isdir(folder) else f"class {name!r}"
        found.append(Problem(where, f"none of its {given[name]} file(s) could be used (see their messages), so class "
                                    f"{name!r} is left out; replace them or remove the class"))
    return found


ARCHIVES = (".tar.gz", ".tar.bz2", ".tar.xz", ".tgz", ".tar", ".zip", ".7z", ".rar")


def unpack_hint(path: Path) -> str:
    """The end of the message for a single file given as data: how to unpack it, when it is an archive.

    Example:
        >>> unpack_hint(Path("photos.zip"))
        '; it is an archive: unpack it into a folder first (unzip photos.zip -d photos) and give that folder.'
    """
    name = path.name.lower()
    kind = next((suffix for suffix in ARCHIVES if name.endswith(suffix)), None)
    if kind is None:
        return "."
    stem = path.name[: -len(kind)] or "data"
    command = {".zip": f"unzip {path.name} -d {stem}", ".7z": f"7z x {path.name} -o{stem}",
               ".rar": f"unrar x {path.name} {stem}/"}.get(kind, f"mkdir {stem} && tar xf {path.name} -C {stem}")
    return f"; it is an archive: unpack it into a folder first ({command}) and give that folder."


def nothing_in(decoded: Any) -> str | None:
    """Why a decoded image or clip has nothing to learn from (one flat colour, silence, a few samples), or ``None``.

    A muted microphone or a covered lens still gives a readable file; trained on as an example of its class, it
    teaches the model nothing true. Such an input is kept (it may be meant) and said, with what to check.

    Example:
        >>> nothing_in(Audio(np.zeros(8000, dtype=np.float32), 8000))
        'the clip is silent (its loudest sample is below -80 dBFS): check the recording'
    """
    if isinstance(decoded, Audio):
        if decoded.seconds < SHORTEST_SECONDS:
            return (f"the clip lasts {decoded.seconds * 1000:.1f} ms, too short to hold a sound: check the recording "
                    "or the export")
        if float(np.max(np.abs(decoded.samples))) < SILENT:
            return "the clip is silent (its loudest sample is below -80 dBFS): check the recording"
        return None
    factor = max(1, min(8, min(decoded.size) // 64))  # 8x8 means of a large photo: a quarter of the cost, as flat
    extrema = (decoded.reduce(factor) if factor > 1 else decoded).getextrema()
    bands = extrema if isinstance(extrema[0], tuple) else (extrema,)
    if all(low == high for low, high in bands):
        return "the image is one flat colour, with nothing in it to learn from: check the camera or the export"
    return None

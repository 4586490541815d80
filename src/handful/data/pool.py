"""The unlabelled pool: gathered from wherever the user put it, validated like labelled data, capped in size.

A pool comes from an ``unlabelled/`` folder beside the class folders or table rows without a label (both read by
:func:`handful.data.load`), and from ``fit(..., unlabelled=...)`` or ``handful train --unlabelled``: a folder, a
table or text file, a list of paths or texts, or a Dataset. Unusable inputs are skipped and reported; an input that
is also a labelled example is left out of the pool (so no cross-validation fold is ever tested on an example the
pool showed its learner); beyond ``cap`` inputs a random ``cap`` of them (drawn with the fit's seed) are used, and
the record says so. Unless the user sets it, the cap grows with the labelled set: ``PER_LABELLED`` pool inputs for
each labelled example, at least ``MIN_CAP`` and at most ``DEFAULT_CAP``. Embedding the pool and learning from it
cost in proportion to its size, and a labelled fit's cost grows with the labelled set, so the pool's share of the
time stays bounded: with 16 labelled SST-2 sentences the whole default fit took 13 s, and 2,000 pool sentences alone
took about a minute to embed with e5-small, for the same test accuracy as 500 (0.803, 0.803 at seed 1). Past a few
hundred the pool's gain stopped growing: on SST-2 with e5-small (5 draws, full test split), self-training gained
+0.049, +0.051 and +0.048 over the linear probe with 500, 1,000 and 2,000 pool sentences at 8 labelled a class, and
+0.006, +0.006 and +0.005 at 64 a class; label spreading lost more the larger the pool. And e5-small embeds only
18-35 sentences a second on 2 cores (by the day): at 8 pool inputs a labelled example, the 1,024 of 128 labelled
sentences took as long to embed as the whole labelled fit (about a minute), which left nothing of the pool's time
budget (twice the labelled fit) for learning from them; at 4, half of that. A pool that ends up empty, or cannot be
read at all, is reported and training goes on without it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from handful.data.dataset import Dataset

logger = logging.getLogger(__name__)

DEFAULT_CAP = 2000  # unlabelled inputs used at most by default: embedding them must not dwarf the labelled fit
MIN_CAP = 500  # ... and at least this many, however few the labelled examples
PER_LABELLED = 4  # ... and otherwise this many for each labelled example


def default_cap(n_labelled: int) -> int:
    """The most unlabelled inputs used when the user has not said: ``PER_LABELLED`` a labelled example, at least
    ``MIN_CAP``, at most ``DEFAULT_CAP``.

    Example:
        >>> default_cap(16), default_cap(128), default_cap(300), default_cap(800)
        (500, 512, 1200, 2000)
    """
    return min(DEFAULT_CAP, max(MIN_CAP, PER_LABELLED * n_labelled))


@dataclass
class PoolRecord:
    """What happened to the unlabelled pool: where it came from, how many inputs were found, usable and used."""

    sources: list[str] = field(default_factory=list)
    found: int = 0
    usable: int = 0
    used: int = 0
    cap: int = DEFAULT_CAP
    messages: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    gains: list[dict[str, Any]] = field(default_factory=list)  # each pool candidate's gain over labelled-only
    unlike: dict[str, Any] | None = None  # how much of the pool is unlike every labelled example (evaluation.ood)
    untried: str | None = None  # why no candidate that learns from the pool was scored, when none was

    def note_unlike(self, found: dict[str, Any]) -> None:
        """Keep how much of the pool is unlike the labelled examples (:func:`handful.evaluation.ood.unlike_labelled`);
        its warning, if it has one, joins the messages."""
        self.unlike = found
        if found["warning"]:
            self.messages.append(found["warning"])
            logger.warning("%s", found["warning"])

    def as_dict(self) -> dict[str, Any]:
        return {"sources": self.sources, "found": self.found, "usable": self.usable, "used": self.used,
                "cap": self.cap, "messages": self.messages, "problems": self.problems[:100],
                "n_problems": len(self.problems), "gains": self.gains, "unlike": self.unlike,
                "untried": self.untried}


def _read(source: Any, modality: str, text_column: str | None) -> Dataset:
    from handful.data.sources import from_inputs, read_unlabelled

    if isinstance(source, Dataset):
        return source
    if isinstance(source, str | Path):
        return read_unlabelled(source, modality, text_column)
    return from_inputs(list(source), None, modality)


def _describe(source: Any) -> str:
    if isinstance(source, str | Path):
        return str(source)
    if isinstance(source, Dataset):
        return source.root or f"a dataset of {len(source)} inputs"
    return f"a list of {len(source)} inputs"


def gather(
    found: Dataset | None, extra: Any, labelled: Dataset, cap: int | None = None, seed: int = 0,
    text_column: str | None = None,
) -> tuple[Dataset | None, PoolRecord]:
    """The pool to learn from (or None) and its record.

    Args:
        found: the pool the data itself held (an ``unlabelled/`` folder, table rows without a label), or None.
        extra: a further pool given by the user (path, list, Dataset), or None.
        labelled: the labelled training set: its modality is the pool's, its examples are never in the pool.
        cap: the most inputs used; beyond it a random ``cap`` (drawn with ``seed``); None: :func:`default_cap`.
        seed: the fit's seed.
        text_column: the text column of a pool table, when it cannot be guessed.

    Example:
        >>> from handful.data import from_texts
        >>> labelled = from_texts(["good", "bad"], ["pos", "neg"])
        >>> pool, record = gather(None, ["fine", "awful", "good"], labelled)
        >>> [e.text for e in pool.examples], record.used
        (['fine', 'awful'], 2)
    """
    chosen = cap is None
    cap = default_cap(len(labelled)) if cap is None else cap
    record = PoolRecord(cap=cap)
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        raise ValueError(f"unlabelled_cap must be a positive integer (the most unlabelled inputs to use), got {cap!r}")
    parts: list[Dataset] = []
    if found is not None:
        record.sources.append(found.root or "rows without a label")
        parts.append(found)
    if extra is not None:
        where = _describe(extra)
        record.sources.append(where)
        try:
            parts.append(_read(extra, labelled.modality, text_column))
        except (ValueError, TypeError, FileNotFoundError, OSError) as error:
            record.messages.append(f"the unlabelled pool {where} cannot be used ({error}); training goes on "
                                   "without it")
    for part in parts:
        record.found += len(part) + sum(p.action == "skipped" for p in part.problems)
        record.problems += [str(p) for p in part.problems if p.action == "skipped"]
        if part.modality != labelled.modality:
            record.messages.append(f"the unlabelled pool {part.root or ''} holds {part.modality}, but the labelled "
                                   f"data is {labelled.modality}; it is left out")
    parts = [p for p in parts if p.modality == labelled.modality]
    known = {e.digest for e in labelled.examples}
    examples, seen, overlap = [], set(), 0
    for part in parts:
        for example in part.examples:
            if example.digest in known:
                overlap += 1
            elif example.digest not in seen:
                seen.add(example.digest)
                examples.append(example)
    if overlap:
        record.messages.append(f"{overlap} unlabelled input(s) are also labelled examples and are left out of the "
                               "pool")
    record.usable = len(examples)
    if not examples:
        if record.sources and not record.messages:
            shown = "; ".join(record.problems[:3])
            record.messages.append(f"the unlabelled pool ({', '.join(record.sources)}) has no usable input"
                                   + (f" ({shown})" if shown else "") + "; training goes on without it")
        _log(record)
        return None, record
    if len(examples) > cap:
        keep = np.sort(np.random.default_rng(seed).choice(len(examples), size=cap, replace=False))
        examples = [examples[i] for i in keep]
        why = (f" (by default {PER_LABELLED} for each of the {len(labelled)} labelled examples, at least {MIN_CAP} "
               f"and at most {DEFAULT_CAP}, so the pool does not take much longer than the rest of the training)"
               if chosen else "")
        record.messages.append(f"the unlabelled pool has {record.usable} usable inputs; a random {cap} of them "
                               f"(drawn with the seed) are used{why}. Raise unlabelled_cap (--unlabelled-cap) to use "
                               "more")
    record.used = len(examples)
    _log(record)
    pool = Dataset(examples, [None] * len(examples), labelled.modality, root=", ".join(record.sources))
    return pool, record


def _log(record: PoolRecord) -> None:
    for message in record.messages:
        logger.warning("%s", message)
    if record.problems:
        logger.warning("%d unlabelled input(s) could not be used, e.g. %s", len(record.problems), record.problems[0])

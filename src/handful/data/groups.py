"""Groups: examples that belong together (one speaker's clips, one patient's scans, one session's photos).

Examples of one group must never sit on both sides of a split, or the scores measure how well the model knows
the group rather than how it does on a new one. Groups come from a regular expression on the file paths
(``--groups``), from a table column (``--group-column``) or from ``fit(X, y, groups=...)``; near-duplicates are
merged into one group whatever the user gave.

Example:
    >>> groups_from_pattern(["alice/1.wav", "bob/2.wav"], r"^(?P<group>[^/]+)/").tolist()
    ['alice', 'bob']
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from handful._lists import listed
from handful.data.dataset import Problem

logger = logging.getLogger(__name__)


def groups_from_pattern(paths: Sequence[str], pattern: str) -> np.ndarray:
    """Each path's group: the named group ``group`` of ``pattern`` searched in the path, else its first capture
    group, else the whole match.

    Raises:
        ValueError: the pattern does not compile, or matches none (or not every one) of the paths; the message
            shows paths it was tried on.
    """
    try:
        compiled = re.compile(pattern)
    except re.error as error:
        raise ValueError(f"--groups '{pattern}' is not a valid regular expression ({error}).") from error
    found: list[str] = []
    missed: list[str] = []
    for path in paths:
        text = str(path).replace("\\", "/")
        match = compiled.search(text)
        if match is None:
            missed.append(text)
            found.append("")
            continue
        if "group" in compiled.groupindex:
            value = match.group("group")
        elif compiled.groups:
            value = match.group(1)
        else:
            value = match.group(0)
        found.append(value or "")
    examples = ", ".join(repr(p) for p in (missed or list(paths))[:3])
    if len(missed) == len(paths):
        raise ValueError(
            f"--groups '{pattern}' matches none of the {len(paths)} file paths; it was tried on paths relative to the "
            f"data folder such as {examples}. Write a pattern that captures the group, e.g. "
            r"'^(?P<group>[^/]+)/' for a sub-folder or '_(?P<group>[a-z]+)_\d+\.wav$' for a part of the file name."
        )
    if missed:
        raise ValueError(
            f"--groups '{pattern}' matches {len(paths) - len(missed)} of {len(paths)} file paths but not {examples}"
            f"{' and others' if len(missed) > 3 else ''}. Every example needs a group: widen the pattern."
        )
    return np.asarray(found, dtype=object)


def check_groups(groups: Sequence[Any] | np.ndarray, labels: Sequence[str], n_examples: int) -> np.ndarray:
    """Validate groups given for ``n_examples`` labelled examples; returns them as an array of strings.

    Raises a ValueError naming the fix for a wrong length or fewer than two groups; warns (logging) when all of a
    class's examples sit in one group, since the score of that class is then measured on one group only.
    """
    values = np.asarray([str(g) for g in groups], dtype=object)
    if len(values) != n_examples:
        raise ValueError(f"got {len(values)} groups for {n_examples} examples; give one group per example.")
    distinct = np.unique(values)
    if len(distinct) < 2:
        where = f"all {n_examples} examples are in one group ({distinct[0]!r})" if len(distinct) else "no groups"
        raise ValueError(
            f"{where}; grouped cross-validation needs at least two groups (ideally five or more) so that every fold "
            "tests on a group it did not train on. Give a pattern or column that separates the groups, or leave "
            "--groups out if the examples are independent."
        )
    for warning in one_group_classes(values, labels):
        logger.warning(warning)
    return values


def one_group_classes(groups: np.ndarray, labels: Sequence[str]) -> list[str]:
    """A message for each class whose examples all sit in one group."""
    labels_array = np.asarray([str(label) for label in labels], dtype=object)
    messages = []
    for name in sorted(set(labels_array.tolist())):
        inside = np.unique(groups[labels_array == name])
        if len(inside) == 1:
            messages.append(
                f"all examples of class {name!r} are in one group ({inside[0]!r}): when that group is held out, no "
                f"fold has trained on the class, and the class cannot be told from its group; its score says little "
                f"about new groups. Add examples of {name!r} from other groups."
            )
    return messages


def merge_groups(groups: np.ndarray, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Groups with the groups of each pair of examples (near-duplicates) merged into one (union-find).

    Example:
        >>> merge_groups(np.array(["a", "b", "c"]), [(0, 2)]).tolist()
        ['a', 'b', 'a']
    """
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.get(key, key) != key:
            key = parent[key]
        return key

    values = np.asarray([str(g) for g in groups], dtype=object)
    for first, second in pairs:
        a, b = find(values[first]), find(values[second])
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.asarray([find(v) for v in values], dtype=object)


def resolve_groups(dataset: Any, groups: Any, root: str | None) -> tuple[np.ndarray | None, str | None]:
    """The group of each example of ``dataset`` and where the groups came from, or ``(None, None)``.

    Args:
        dataset: the labelled training set (its ``groups`` were read from a table column or given with the inputs).
        groups: a regular expression (a ``str``) searched in each file's path relative to ``root``, or None.
        root: the folder the user gave (paths are matched relative to it, with ``/`` separators).
    """
    import os

    if isinstance(groups, str):
        if dataset.modality == "text":
            raise ValueError("--groups is a pattern on file paths; text rows have none. Give --group-column COL for "
                             "a table, or groups=[...] in Python.")
        base = root or dataset.root
        paths = [os.path.relpath(e.source, base) if base else e.source for e in dataset.examples]
        values = groups_from_pattern(paths, groups)
        source = "pattern"
    elif dataset.groups is not None:
        values, source = np.asarray(dataset.groups, dtype=object), "given"
    else:
        return None, None
    return check_groups(values, dataset.labels, len(dataset)), source


SUB_FOLDER_PATTERN = "(?P<group>[^/]+)/[^/]+$"  # the folder that holds each file


def sub_folder_hint(dataset: Any) -> str | None:
    """A tip when every file sits in a sub-folder of its class folder (``ants/day1/x.jpg``): such sub-folders are
    often sources (sessions, patients, speakers) the user can name as groups. None otherwise (and for text)."""
    import os

    if dataset.modality == "text" or not len(dataset):
        return None
    folders = set()
    for example, label in zip(dataset.examples, dataset.labels, strict=True):
        parts = os.path.normpath(str(example.source)).split(os.sep)
        if len(parts) < 3 or parts[-2] == str(label) or str(label) not in parts[:-2]:
            return None
        folders.add(parts[-2])
    if len(folders) < 2:
        return None
    shown = ", ".join(sorted(folders)[:3]) + (", ..." if len(folders) > 3 else "")
    return (f"every file sits in a sub-folder of its class folder ({len(folders)} names: {shown}). If each "
            f"sub-folder is one source (a session, a patient, a speaker), train with --groups '{SUB_FOLDER_PATTERN}' "
            "and the scores will be for new sources.")


def codes(groups: np.ndarray) -> np.ndarray:
    """Groups as integers 0..k-1 (the order of their sorted names)."""
    return np.unique(np.asarray(groups, dtype=str), return_inverse=True)[1].astype(np.int64)


def known_groups(dataset: Any, pattern: str | None, learned: Sequence[str] | None,
                 column: str | None = None) -> list[Problem]:
    """A note when labelled examples given to ``evaluate`` come from groups the model learned from (the same
    speakers, patients, sessions): the groups given with them (``evaluate(X, y, groups=...)``), else those found with
    the model's own ``--groups`` pattern on file paths, or for a table in its ``--group-column`` when the table has
    that column. Its scores are stated for new groups, and on known ones it may do better. Kept, not left out: how it
    does on known speakers can be what a user asks. Nothing is said when there is none of these, or when the pattern
    does not fit these paths.
    """
    if not learned or len(dataset) == 0:
        return []
    found = _given_groups(dataset, pattern, column) or []
    seen = sorted(set(found) & {str(g) for g in learned})
    if not seen:
        return []
    count = sum(g in seen for g in found)
    return [Problem(dataset.root or "the data given", f"{count} of its {len(found)} examples come from groups the "
                    f"model learned from ({listed(repr(g) for g in seen)}): its scores are stated for new groups, and "
                    "on these it may do better than on new ones", "kept")]


def _given_groups(dataset: Any, pattern: str | None, column: str | None) -> list[str] | None:
    """The groups of the examples given to ``evaluate``: passed with them, else read from a table's column, else
    found with the pattern on file paths; None when there are none."""
    if dataset.groups is not None:
        return [str(g) for g in dataset.groups]
    if dataset.modality == "text":
        return _column_groups(dataset, column)
    return _pattern_groups(dataset, pattern)


def _pattern_groups(dataset: Any, pattern: str | None) -> list[str] | None:
    import os

    if not pattern:
        return None
    paths = [os.path.relpath(e.source, dataset.root) if dataset.root else e.source for e in dataset.examples]
    try:
        return [str(g) for g in groups_from_pattern(paths, pattern)]
    except ValueError:  # named differently from the training files: nothing to compare
        return None


def _column_groups(dataset: Any, column: str | None) -> list[str] | None:
    """Each row's cell in ``column`` of the table it was read from (rows are named "table, line N"); None when the
    examples come from no table or the table has no such column."""
    from pathlib import Path

    from handful.data.tables import read_rows

    if not column or not dataset.root or not Path(dataset.root).is_file():
        return None
    table = read_rows(Path(dataset.root))
    if not table.rows or column not in table.rows[0]:
        return None
    cells = {f"{dataset.root}, line {line}": row.get(column) for row, line in zip(table.rows, table.lines, strict=True)}
    return [str(cells.get(e.source) or "").strip() for e in dataset.examples]

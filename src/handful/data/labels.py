"""Labels come back as the type they went in (scikit-learn's contract): a Dataset keeps labels as text, and this
module remembers whether they were integers, booleans, floats or strings, so ``classes_`` and ``predict`` can give
``[0, 1]`` back for ``fit(X, [0, 1, ...])`` and ``accuracy_score(y, clf.predict(X))`` works.

Example:
    >>> kind = label_kind([3, 10, 3])
    >>> kind, typed_classes(["10", "3"], kind).tolist()
    ('int', [3, 10])
    >>> typed_classes(["True", "False"], label_kind([True, False])).tolist()
    [False, True]
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

import numpy as np

from handful.data.tables import is_missing_label

LabelKind = Literal["str", "int", "bool", "float"]
KINDS: tuple[LabelKind, ...] = ("str", "int", "bool", "float")


def one_label_each(labels: Any) -> Any:
    """Labels as one value per input: a column vector (n, 1), as scikit-learn takes it, is flattened; more columns
    (one-hot, multi-label) are refused with the fix.

    Example:
        >>> one_label_each(np.array([[1], [0]])).tolist()
        [1, 0]
    """
    shape = getattr(labels, "shape", None)
    if labels is None or shape is None or len(shape) <= 1:
        return labels
    if len(shape) == 2 and shape[1] == 1:
        return np.asarray(labels).ravel()
    raise ValueError(f"labels must be one per input (a 1-D list or array), got an array of shape {tuple(shape)}; "
                     "for one-hot labels, give the class of each input (e.g. y.argmax(axis=1)).")


def label_kind(labels: Iterable[Any] | None) -> LabelKind:
    """The type every given (non-missing) label shares: ``bool``, ``int``, ``float``, else ``str``.

    Labels of mixed types (``[1, "a"]``, or ints with floats) are text, as they always were.

    Example:
        >>> label_kind(np.array([0, 1])), label_kind(["a", "b"]), label_kind([0.5, 1.5]), label_kind([1, 2.5])
        ('int', 'str', 'float', 'str')
    """
    if labels is None:
        return "str"
    values = [v for v in one_label_each(labels) if not is_missing_label(v)]
    if not values:
        return "str"
    if all(isinstance(v, bool | np.bool_) for v in values):
        return "bool"
    if all(isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_) for v in values):
        return "int"
    if all(isinstance(v, float | np.floating) for v in values):
        return "float"
    return "str"


def typed_classes(names: Iterable[str], kind: str) -> np.ndarray:
    """The class names (labels as text) turned back into labels of ``kind``, sorted as scikit-learn sorts them
    (``np.unique``): integers by value, so ``10`` comes after ``2``; strings stay an object array.

    Raises:
        ValueError: an unknown kind, or a name that is not a label of that kind (a damaged model file).
    """
    names = list(names)
    try:
        if kind == "str":
            return np.asarray(sorted(names), dtype=object)
        if kind == "int":
            return np.unique(np.asarray([int(n) for n in names], dtype=np.int64))
        if kind == "float":
            return np.unique(np.asarray([float(n) for n in names], dtype=np.float64))
        if kind == "bool":
            if not set(names) <= {"True", "False"}:
                raise ValueError(f"boolean labels must be True or False, got {sorted(set(names))}")
            return np.unique(np.asarray([n == "True" for n in names], dtype=bool))
    except (TypeError, ValueError) as error:
        raise ValueError(f"the class names {names[:5]} are not {kind} labels: {error}") from error
    raise ValueError(f"label type must be one of {', '.join(KINDS)}, got {kind!r}")


def class_positions(classes: np.ndarray) -> dict[str, int]:
    """Each class's column, keyed by its label as text (the form a Dataset holds labels in).

    Example:
        >>> class_positions(np.array([2, 10]))
        {'2': 0, '10': 1}
    """
    return {str(c): i for i, c in enumerate(classes.tolist())}

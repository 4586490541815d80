"""What the estimator's methods accept, turned into datasets: ``fit(X, y)``, ``evaluate(X, y)`` and the inputs of
``predict`` and ``suggest`` (a folder, a table, a list of paths or texts, or a :class:`Dataset`)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from handful.data.dataset import MODALITIES, Dataset, LoadedData
from handful.data.sources import TRAIN_NAMES, UNLABELLED_NAMES, from_inputs, load, read_unlabelled

TEXT_FILES = (".csv", ".tsv", ".jsonl", ".ndjson", ".txt")
logger = logging.getLogger(__name__)


def training_data(X: Any, y: Sequence[Any] | None, modality: str | None, text_column: str | None = None,
                  label_column: str | None = None, groups: Sequence[Any] | None = None,
                  group_column: str | None = None) -> LoadedData:
    """What ``fit(X, y)`` trains on: a folder or table path (labels from the data), a Dataset, or inputs and labels
    (with their ``groups``, if given)."""
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)} or None, got {modality!r}")
    if isinstance(X, str | Path):
        if y is not None:
            raise TypeError("y must be None when X is a folder or table path: the labels come from the data.")
        if groups is not None:
            raise TypeError("groups for a folder is a pattern on the file paths (a str), and for a table a "
                            "column (group_column=...); a list of groups goes with a list of inputs.")
        return load(X, modality, text_column, label_column, group_column=group_column)
    if isinstance(X, Dataset):
        if groups is None:
            return LoadedData(train=X)
        if len(groups) != len(X):
            raise ValueError(f"got {len(X)} examples but {len(groups)} groups; give one group per example.")
        return LoadedData(train=dataclasses.replace(X, groups=[str(g) for g in groups]))
    if y is None:
        raise TypeError("fit(X) with a list of inputs needs labels: fit(inputs, labels).")
    return LoadedData(train=from_inputs(X, y, modality, groups=groups))


def labelled_data(X: Any, y: Sequence[Any] | None, modality: str, text_column: str | None = None,
                  label_column: str | None = None, groups: Sequence[Any] | None = None) -> Dataset:
    """What ``evaluate(X, y)`` scores on: labelled data in any form ``fit`` takes (held-out sets are not split),
    with a list of inputs their ``groups`` too, if given."""
    if isinstance(X, Dataset):
        return X
    if isinstance(X, str | Path):
        if y is not None:
            raise TypeError("y must be None when X is a folder or table path.")
        if groups is not None:
            raise TypeError("groups for a folder or table are read as the model was trained (its groups pattern or "
                            "group column); a list of groups goes with a list of inputs.")
        return load(X, modality, text_column, label_column).train
    if y is None:
        raise TypeError("evaluate(X) with a list of inputs needs labels: evaluate(inputs, labels).")
    return from_inputs(list(X), y, modality, groups=groups)


def prediction_inputs(X: Any, modality: str, text_column: str | None = None) -> Dataset:
    """What ``predict`` and ``suggest`` take: a Dataset, a folder (or, for text, a table or .txt file), or a list of
    paths or texts. A single path that is none of these is refused with the likely fix."""
    if isinstance(X, Dataset):
        return X
    if isinstance(X, str | Path):
        path = Path(X)
        if modality == "text" and isinstance(X, str) and (not X.strip() or not path.exists()):
            raise FileNotFoundError(f"{X!r} is no file. Give a text model a table or a .txt file of texts, or a list "
                                    f"of texts: predict([{X!r}]).")
        if not path.exists() or path.is_dir() or (modality == "text" and path.suffix.lower() in TEXT_FILES):
            return read_unlabelled(path, modality, text_column)
        raise TypeError(f"expected a list of inputs, got a single {type(X).__name__}. Did you mean [{str(X)!r}]?")
    return from_inputs(list(X), None, modality)


def suggestion_inputs(X: Any, modality: str, classes: Sequence[str], text_column: str | None = None,
                      label_column: str | None = None) -> Dataset:
    """What ``suggest`` chooses among: :func:`prediction_inputs`, save that data laid out for training (class
    folders named after the model's classes, or a table whose label column holds them) gives only its unlabelled
    part (an ``unlabelled/`` folder, rows with an empty label): its labelled examples are labelled already."""
    if not isinstance(X, str | Path) or not Path(X).exists() or not _laid_out_for_training(Path(X), classes):
        return prediction_inputs(X, modality, text_column)
    path = Path(X)
    if path.is_dir():  # only the unlabelled/ folder is read: the class folders' files are never decoded
        found = next((p / n for p in (path, *(path / t for t in TRAIN_NAMES)) for n in UNLABELLED_NAMES
                      if (p / n).is_dir()), None)
        if found is None:
            raise ValueError(_NOTHING_UNLABELLED.format(X))
        logger.warning("%s: its class folders are left out, as labelled already; choosing among the inputs of %s",
                       X, found)
        return read_unlabelled(found, modality, text_column)
    try:
        loaded = load(X, modality, text_column, label_column)
    except (ValueError, TypeError):  # not training data after all: every row is a candidate
        return prediction_inputs(X, modality, text_column)
    if not set(map(str, loaded.train.labels)) & set(classes):
        return prediction_inputs(X, modality, text_column)
    if loaded.unlabelled is None or len(loaded.unlabelled) == 0:
        raise ValueError(_NOTHING_UNLABELLED.format(X))
    logger.warning("%s: its %d labelled rows are left out, as labelled already; choosing among its %d rows without a "
                   "label", X, len(loaded.train), len(loaded.unlabelled))
    return loaded.unlabelled


_NOTHING_UNLABELLED = ("{} holds labelled examples of the model's classes and nothing unlabelled to choose from; give "
                       "a folder or table of unlabelled inputs, or put them in an unlabelled/ folder beside the class "
                       "folders (rows with an empty label, in a table).")


def _laid_out_for_training(path: Path, classes: Sequence[str]) -> bool:
    """A folder with a sub-folder named after one of ``classes`` (itself or under train/), or any table (it may
    have labels)."""
    if path.is_dir():
        tops = [path, *(path / t for t in TRAIN_NAMES if (path / t).is_dir())]
        names = {child.name for top in tops for child in top.iterdir() if child.is_dir()}
        return bool(names & set(map(str, classes)))
    return path.suffix.lower() in TEXT_FILES[:-1]

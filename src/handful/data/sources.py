"""Turn what the user points at (a folder of class folders, a CSV/TSV/JSONL table, or Python lists) into Datasets.

All input validation lives here: every file is opened read-only, decoded once to prove it is usable, hashed for
the feature cache, and every problem is recorded with its file or row instead of stopping the run.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from handful.data.checks import label_spellings, lost_classes, nothing_in, unpack_hint
from handful.data.dataset import MODALITIES, Dataset, Example, LoadedData, Modality, Problem, summarise
from handful.data.decode import AUDIO_SUFFIXES, IMAGE_SUFFIXES, BadInputError, decode_audio, decode_image, read_bytes
from handful.data.labels import one_label_each
from handful.data.tables import Rows, is_missing_label, read_rows, read_text, text_lines

logger = logging.getLogger(__name__)

TABLE_SUFFIXES = frozenset({".csv", ".tsv", ".jsonl", ".ndjson"})
LITTER = frozenset({"__macosx", "thumbs.db", "desktop.ini", "$recycle.bin", "system volume information"})
SPREADSHEETS = frozenset({".xlsx", ".xls", ".xlsm", ".ods", ".numbers"})  # told how to make a table of them
TRAIN_NAMES = ("train", "training")
HOLDOUT_NAMES = ("val", "valid", "validation", "test", "dev", "holdout")
UNLABELLED_NAMES = ("unlabelled", "unlabeled")  # a folder of unlabelled files beside the class folders
TEXT_COLUMNS = ("text", "sentence", "review", "content", "body", "message", "comment", "document", "utterance")
LABEL_COLUMNS = ("label", "labels", "class", "category", "target", "sentiment", "intent", "y")
MAX_TEXT_CHARS = 100_000

Progress = Callable[[int], None]


def load(
    source: str | Path,
    modality: str | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    progress: Progress | None = None,
    group_column: str | None = None,
) -> LoadedData:
    """Read a folder or a table into a labelled training set and, for a train/val layout, a held-out set.

    Example:
        >>> from handful.data import load
        >>> data = load("photos/")  # doctest: +SKIP
        >>> data.train.classes  # doctest: +SKIP
        ['ants', 'bees']
    """
    path = Path(source).expanduser()
    if modality is not None and modality not in MODALITIES:
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)} (or None to infer it), got {modality!r}")
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist. Give a folder of class folders or a CSV/TSV/JSONL file.")
    if path.is_file():
        if path.suffix.lower() not in TABLE_SUFFIXES:
            raise ValueError(
                f"{path} is a single {path.suffix or 'extensionless'} file. Give a folder with one sub-folder per "
                "class (images or audio), or a .csv/.tsv/.jsonl table with text and label columns"
                + (" (from a spreadsheet: Save As > CSV UTF-8)." if path.suffix.lower() in SPREADSHEETS else
                   unpack_hint(path)))
        if modality not in (None, "text"):
            raise ValueError(f"{path} is a table, which holds text; it cannot be read as {modality}.")
        return _with_pool(read_table(path, text_column, label_column, group_column, keep_unlabelled=True), [])

    split = _find_split(path)
    if split is not None:
        train_path, holdout_path = split
        read = _reader(train_path, modality, text_column, label_column, progress, group_column)
        train = read(train_path)
        holdout = _reader(holdout_path, train.modality, text_column, label_column, progress)(holdout_path)
        loaded = _with_pool(train, [path, train_path] if train_path.is_dir() else [path], progress)
        loaded.holdout = holdout
        return loaded
    return _with_pool(_reader(path, modality, text_column, label_column, progress, group_column)(path), [path],
                      progress)


def _with_pool(train: Dataset, folders: list[Path], progress: Progress | None = None) -> LoadedData:
    """The labelled rows as the training set, and the unlabelled pool: rows of a table without a label, and the
    files of an ``unlabelled/`` (or ``unlabeled/``) folder in one of ``folders``. A pool that cannot be used is
    a problem of the training set, and training goes on without it."""
    unlabelled = [i for i, label in enumerate(train.labels) if label is None]
    pool = train.subset(unlabelled) if unlabelled else None
    if pool is not None:
        pool.problems = []  # the table's problems stay with the training set, listed once
    if unlabelled:
        train = train.subset([i for i, label in enumerate(train.labels) if label is not None])
    for folder in folders:
        found = next((p for p in (folder / n for n in UNLABELLED_NAMES) if p.is_dir()), None)
        if found is None:
            continue
        try:
            pool = read_unlabelled(found, train.modality, progress=progress)
        except ValueError as error:
            train.problems.append(Problem(str(found), f"the unlabelled pool cannot be used ({error}); training "
                                          "goes on without it"))
            logger.warning("%s: the unlabelled pool cannot be used (%s); training goes on without it", found, error)
        break
    return LoadedData(train=train, unlabelled=pool)


def _litter(name: str) -> bool:
    """Hidden files and folders, and what file managers and zip tools leave behind: never examples nor classes."""
    return name.startswith(".") or name.lower() in LITTER


def _find_split(folder: Path) -> tuple[Path, Path] | None:
    """A train/ + val/ (or test/) layout, as folders or as tables (train.csv + test.csv)."""
    entries = {p.name.lower(): p for p in _entries(folder) if not _litter(p.name)}
    for suffix in ("", *sorted(TABLE_SUFFIXES)):
        train = next((entries[n + suffix] for n in TRAIN_NAMES if n + suffix in entries), None)
        holdout = next((entries[n + suffix] for n in HOLDOUT_NAMES if n + suffix in entries), None)
        if train is not None and holdout is not None:
            spare = [entries[n + suffix] for n in HOLDOUT_NAMES if entries.get(n + suffix, holdout) != holdout]
            if spare:  # val/ and test/: one is scored with the model, the other kept for the user
                logger.warning("%s is scored as the held-out set; %s is left alone (score the model on it with: "
                               "handful evaluate MODEL %s)", holdout, spare[0], spare[0])
            return train, holdout
    return None


def _reader(
    path: Path, modality: str | None, text_column: str | None, label_column: str | None, progress: Progress | None,
    group_column: str | None = None,
) -> Callable[[Path], Dataset]:
    if path.is_file():
        return lambda p: read_table(p, text_column, label_column, group_column)
    if group_column is not None:
        raise ValueError(f"--group-column {group_column!r} names a table column, but {path} is a folder of files. "
                         "For files, give --groups with a pattern on their paths.")
    return lambda p: read_class_folders(p, modality, progress)


def _entries(folder: Path) -> list[Path]:
    """The entries of a folder the user named, or a ValueError naming it when it cannot be listed."""
    try:
        return list(folder.iterdir())
    except PermissionError as error:
        raise ValueError(f"{folder} cannot be read: permission denied. Check its owner and mode "
                         "(chmod a+rx).") from error
    except OSError as error:
        raise ValueError(f"{folder} cannot be read ({error.strerror or error}).") from error


def _files_under(folder: Path, problems: list[Problem] | None = None) -> list[Path]:
    """Every file below ``folder`` at any depth, except those under (or named with) a leading '.' at any level:
    .git, .ipynb_checkpoints, .thumbnails and macOS's ._ files are never examples. A sub-folder that cannot be
    listed is added to ``problems`` by path, never skipped in silence."""
    found: list[Path] = []

    def unreadable(error: OSError) -> None:
        if problems is not None:
            reason = "permission denied" if isinstance(error, PermissionError) else (error.strerror or str(error))
            problems.append(Problem(str(error.filename or folder), f"the folder cannot be read ({reason}), so "
                                    "its files are left out; check its owner and mode (chmod a+rx)"))

    for top, dirs, names in os.walk(folder, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not _litter(d))
        found.extend(Path(top) / name for name in names if not _litter(name))
    return sorted(found)


def infer_modality(files: Iterable[Path]) -> str:
    """The modality most of ``files`` have by suffix; a ValueError when none is an image or audio file."""
    suffixes = [f.suffix.lower() for f in files]
    images = sum(s in IMAGE_SUFFIXES for s in suffixes)
    audio = sum(s in AUDIO_SUFFIXES for s in suffixes)
    if images == 0 and audio == 0:
        raise ValueError(
            "found no image (" + ", ".join(sorted(IMAGE_SUFFIXES)) + ") or audio ("
            + ", ".join(sorted(AUDIO_SUFFIXES)) + ") files. For text, give a .csv/.tsv/.jsonl table."
        )
    return "image" if images >= audio else "audio"


def read_class_folders(folder: Path, modality: str | None = None, progress: Progress | None = None) -> Dataset:
    """One sub-folder per class; every image or audio file below it (at any depth) is an example of that class."""
    entries = _entries(folder)
    class_dirs = sorted(p for p in entries if p.is_dir() and not _litter(p.name)
                        and p.name.lower() not in UNLABELLED_NAMES)
    problems: list[Problem] = []
    for stray in sorted(p for p in entries if p.is_file() and not _litter(p.name)):
        problems.append(Problem(str(stray), "is not inside a class folder, so it has no label"))
    labelled: list[tuple[Path, str]] = []
    for class_dir in class_dirs:
        files = _files_under(class_dir, problems)
        if not files and os.access(class_dir, os.R_OK | os.X_OK):
            problems.append(Problem(str(class_dir), f"the class folder is empty, so class {class_dir.name!r} is left "
                                    "out; add examples to it or remove the folder"))
        labelled.extend((f, class_dir.name) for f in files)
    if not labelled:
        raise ValueError(
            f"{folder} holds no files in class sub-folders. Expected {folder}/<class name>/<files>, "
            "e.g. photos/cats/1.jpg and photos/dogs/2.jpg."
        )
    kind = modality or infer_modality(f for f, _ in labelled)
    files, labels = [f for f, _ in labelled], [label for _, label in labelled]
    return read_files(files, labels, kind, problems, root=str(folder), progress=progress)


def read_files(
    files: Sequence[Path],
    labels: Sequence[str | None],
    modality: str,
    problems: list[Problem] | None = None,
    root: str | None = None,
    progress: Progress | None = None,
    groups: Sequence[Any] | None = None,
) -> Dataset:
    """Validate image or audio files: each is decoded once; unusable ones are skipped and reported (``groups``, one
    per file, are kept beside the usable ones)."""
    allowed = IMAGE_SUFFIXES if modality == "image" else AUDIO_SUFFIXES
    decode: Callable[[bytes], Any] = decode_image if modality == "image" else decode_audio
    problems = list(problems or [])
    examples: list[Example] = []
    kept: list[str | None] = []
    kept_groups: list[str] = []
    for index, (path, label) in enumerate(zip(files, labels, strict=True)):
        if progress is not None:
            progress(1)
        if path.suffix.lower() not in allowed:
            problems.append(Problem(str(path), f"{path.suffix or 'no suffix'} is not a supported {modality} type "
                                                f"({', '.join(sorted(allowed))})"))
            continue
        try:
            data = read_bytes(path)
            empty = nothing_in(decode(data))
        except BadInputError as error:
            problems.append(Problem(str(path), str(error)))
            continue
        problems += [Problem(str(path), empty, action="kept")] if empty else []
        examples.append(Example(source=str(path), digest=hashlib.sha256(data).hexdigest()))
        kept.append(label)
        if groups is not None:
            kept_groups.append(str(groups[index]))
    dataset = Dataset(examples, kept, _modality(modality), problems, root,
                      groups=kept_groups if groups is not None else None)
    dataset.problems.extend(lost_classes(labels, dataset) + find_duplicates(dataset) + label_spellings(dataset))
    _log_problems(dataset)
    return dataset


def from_texts(
    texts: Sequence[Any], labels: Sequence[Any] | None, where: str = "row", lines: Sequence[int] | None = None,
    groups: Sequence[Any] | None = None, keep_unlabelled: bool = False,
) -> Dataset:
    """Validate a list of strings (with labels, or ``None`` for an unlabelled pool; ``groups`` kept beside them).

    ``where`` names the file the texts come from and ``lines`` the line each starts on, for the messages; a
    list given in Python is named by position (``row 1`` is the first item). A row whose label is missing
    (empty, NaN, null) is left out of training and said so: it is never a class named "nan"; with
    ``keep_unlabelled`` it is kept with the label ``None`` (for the unlabelled pool).
    """
    label_list: list[Any] = list(labels) if labels is not None else [None] * len(texts)
    group_list: list[Any] = list(groups) if groups is not None else [None] * len(texts)
    problems: list[Problem] = []
    examples: list[Example] = []
    kept: list[str | None] = []
    kept_groups: list[str] = []
    for index, (text, label, group) in enumerate(zip(texts, label_list, group_list, strict=True)):
        if where == "row":
            place = f"row {index + 1}"
        else:
            place = f"{where}, line {lines[index]}" if lines is not None else f"{where}, row {index + 1}"
        if not isinstance(text, str):
            problems.append(Problem(place, f"expected a string, got {type(text).__name__}"))
            continue
        clean = text.strip()
        if not clean:
            problems.append(Problem(place, "the text is empty"))
            continue
        if len(clean) > MAX_TEXT_CHARS:
            problems.append(Problem(place, f"the text has {len(clean):,} characters, over {MAX_TEXT_CHARS:,}"))
            continue
        if labels is not None and isinstance(label, dict | list):  # a JSONL cell holding an object or a list
            problems.append(Problem(place, f"the label is a JSON {type(label).__name__.replace('dict', 'object')}; "
                                    "give one string or number"))
            continue
        if labels is not None and is_missing_label(label):
            shown = "empty" if label is None or str(label).strip() == "" else f"{str(label).strip()!r}"
            if not keep_unlabelled:
                problems.append(Problem(place, f"the label is {shown}, so the row counts as unlabelled and is left "
                                        "out of training; give it a label to use it"))
                continue
            problems.append(Problem(place, f"the label is {shown}, so the row counts as unlabelled and is left out "
                                    "of training (it joins the unlabelled pool); give it a label to train on it",
                                    "kept"))
            label = None
        if groups is not None and (group is None or str(group).strip() == ""):
            problems.append(Problem(place, "the group is empty, so nothing keeps the row apart from the others of "
                                    "its group; fill it in (a row that stands alone takes a group of its own)"))
            continue
        digest = hashlib.sha256(clean.encode("utf-8")).hexdigest()
        examples.append(Example(source=place, digest=digest, text=clean))
        kept.append(None if labels is None or label is None else str(label).strip())
        kept_groups.append(str(group).strip())
    dataset = Dataset(examples, kept, "text", problems, groups=kept_groups if groups is not None else None)
    dataset.problems.extend(find_duplicates(dataset) + label_spellings(dataset))
    _log_problems(dataset)
    return dataset


def read_table(path: Path, text_column: str | None = None, label_column: str | None = None,
               group_column: str | None = None, keep_unlabelled: bool = False) -> Dataset:
    """Read text and labels (and, with ``group_column``, groups) from a CSV, TSV or JSONL file (UTF-8, with or
    without a byte-order mark). With ``keep_unlabelled``, rows without a label are kept with the label ``None``."""
    table = read_rows(path)
    rows = table.rows
    if not rows:
        raise ValueError(f"{path} holds no data rows.")
    columns = list(rows[0].keys())
    text_key = _pick_column(path, columns, text_column, TEXT_COLUMNS, "text", rows)
    label_key = _pick_column(path, columns, label_column, LABEL_COLUMNS, "label", rows, exclude=text_key)
    texts = [row.get(text_key) for row in rows]
    labels = [row.get(label_key) for row in rows]
    groups = None
    if group_column is not None:
        if group_column not in columns:
            raise ValueError(f"{path} has no column {group_column!r} for --group-column; its columns are {columns}.")
        groups = [row.get(group_column) for row in rows]
    dataset = from_texts(texts, labels, where=str(path), lines=table.lines, groups=groups,
                         keep_unlabelled=keep_unlabelled)
    dataset.problems[:0] = _row_problems(path, table)
    dataset.root = str(path)
    return dataset


def _row_problems(path: Path, table: Rows) -> list[Problem]:
    problems = [Problem(f"{path}, line {line}", message) for line, message in table.problems]
    for problem in problems:
        logger.warning("%s", problem)
    return problems


def _pick_column(
    path: Path,
    columns: list[str],
    wanted: str | None,
    candidates: tuple[str, ...],
    role: str,
    rows: list[dict[str, Any]],
    exclude: str | None = None,
) -> str:
    if wanted is not None:
        if wanted not in columns:
            raise ValueError(f"{path} has no column {wanted!r}; its columns are {columns}.")
        return wanted
    by_lower = {c.lower().strip(): c for c in columns if c != exclude}
    for name in candidates:
        if name in by_lower:
            return by_lower[name]
    others = [c for c in columns if c != exclude]
    if len(columns) == 2 and len(others) == 1:
        return others[0]
    if len(columns) == 2 and role == "text":
        # Two unnamed columns: the text is the one with the longer values.
        return max(columns, key=lambda c: sum(len(str(r.get(c) or "")) for r in rows))
    raise ValueError(
        f"{path}: cannot tell which column holds the {role}; columns are {columns}. "
        f"Name it with --{role}-column (Python: {role}_column=...)."
    )


def find_duplicates(dataset: Dataset) -> list[Problem]:
    """Identical contents under two labels (a sure label conflict) or twice under one label."""
    first: dict[str, int] = {}
    problems = []
    for index, example in enumerate(dataset.examples):
        if example.digest not in first:
            first[example.digest] = index
            continue
        other = first[example.digest]
        here, there = dataset.labels[index], dataset.labels[other]
        source = dataset.examples[other].source
        if here != there:
            message = f"identical to {source}, which is labelled {there!r} while this is {here!r}: check the label"
        else:
            message = f"identical to {source} (same label); duplicates make cross-validation look better"
        problems.append(Problem(example.source, message, action="kept"))
    return problems


def from_inputs(inputs: Sequence[Any], labels: Sequence[Any] | None, modality: str | None = None,
                groups: Sequence[Any] | None = None) -> Dataset:
    """Python lists: file paths (images or audio) or strings of text, with labels or ``None`` (and optionally the
    group of each input)."""
    if isinstance(inputs, str | Path):
        raise TypeError(f"expected a list of inputs, got a single {type(inputs).__name__}. Did you mean [{inputs!r}]?")
    try:
        items = list(inputs)
    except TypeError:
        raise TypeError(f"expected a folder or table path, or a list of inputs (paths or texts), got a "
                        f"{type(inputs).__name__}") from None
    _refuse_in_memory(items)
    labels = one_label_each(labels)
    if labels is not None and len(labels) != len(items):
        raise ValueError(f"got {len(items)} inputs but {len(labels)} labels; they must match one to one.")
    if groups is not None and len(groups) != len(items):
        raise ValueError(f"got {len(items)} inputs but {len(groups)} groups; give one group per input.")
    if modality is None:
        paths = [Path(i) for i in items if isinstance(i, str | Path) and Path(i).suffix.lower() in
                 IMAGE_SUFFIXES | AUDIO_SUFFIXES and Path(i).is_file()]
        modality = infer_modality(paths) if paths and len(paths) == len(items) else "text"
    if modality == "text":
        return from_texts(items, labels, groups=groups)
    label_list = [None if v is None else str(v) for v in labels] if labels is not None else [None] * len(items)
    return read_files([Path(i) for i in items], label_list, modality, groups=groups)


def _refuse_in_memory(items: Sequence[Any]) -> None:
    """Arrays, images or bytes as inputs (a stack of images from numpy) are refused with the fix: handful reads
    images and audio from files, which reports and the label check name."""
    found = next((i for i in items if not isinstance(i, str | Path)
                  and (len(getattr(i, "shape", ())) or hasattr(i, "getdata") or isinstance(i, bytes))), None)
    if found is None:
        return
    shape = getattr(found, "shape", None)
    raise ValueError(
        f"the inputs hold in-memory {type(found).__name__} objects{f' of shape {tuple(shape)}' if shape else ''}; "
        "handful reads images and audio from files: save each one (PIL.Image.fromarray(a).save('photos/cat/0.png'), "
        "soundfile.write('clips/yes/0.wav', a, rate)) and give the paths, or a folder of class folders"
        + ("; for rows of numeric features, use scikit-learn directly." if shape is not None and len(shape) == 1
           else "."))


def read_unlabelled(
    source: str | Path,
    modality: str,
    text_column: str | None = None,
    progress: Progress | None = None,
) -> Dataset:
    """Read a pool of unlabelled inputs: every image or audio file under a folder (flat or in sub-folders, which
    are ignored as labels), or for text a CSV/TSV/JSONL table with a header row, or a .txt file with one text a line.

    Unusable files and rows are skipped and recorded in ``problems``; all labels are ``None``.

    Example:
        >>> from handful.data.sources import read_unlabelled
        >>> pool = read_unlabelled("unlabelled_photos/", "image")  # doctest: +SKIP
        >>> len(pool), pool.labels[0]  # doctest: +SKIP
        (120, None)
    """
    path = Path(source).expanduser()
    kind = _modality(modality)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist. Give a folder of unlabelled files"
                                + (" or a CSV/TSV/JSONL/TXT file of texts." if kind == "text" else "."))
    if kind == "text":
        if path.is_dir():
            raise ValueError(f"{path} is a folder; unlabelled texts come in a .csv/.tsv/.jsonl table with a text "
                             "column, or a .txt file with one text per line.")
        if path.suffix.lower() == ".txt":
            numbered = [(n, line) for n, line in text_lines(read_text(path)) if line.strip()]
            dataset = from_texts([line for _, line in numbered], None, where=str(path),
                                 lines=[n for n, _ in numbered])
        elif path.suffix.lower() in TABLE_SUFFIXES:
            table = read_rows(path)
            rows = table.rows
            if not rows:
                raise ValueError(f"{path} holds no data rows.")
            columns = list(rows[0].keys())
            if text_column is None and len(columns) == 1:
                text_key = columns[0]
            else:
                text_key = _pick_column(path, columns, text_column, TEXT_COLUMNS, "text", rows)
            dataset = from_texts([row.get(text_key) for row in rows], None, where=str(path), lines=table.lines)
            dataset.problems[:0] = _row_problems(path, table)
        else:
            raise ValueError(f"{path} is a {path.suffix or 'extensionless'} file; give a .csv/.tsv/.jsonl table "
                             "with a text column, or a .txt file with one text per line.")
        dataset.root = str(path)
        return dataset
    if not path.is_dir():
        raise ValueError(f"{path} is a file; give the folder that holds the unlabelled {kind} files.")
    problems: list[Problem] = []
    files = _files_under(path, problems)
    if not files:
        raise ValueError(f"{path} holds no files." + (f" {problems[0]}" if problems else ""))
    return read_files(files, [None] * len(files), kind, problems, root=str(path), progress=progress)


def _modality(value: str) -> Modality:
    if value not in MODALITIES:
        raise ValueError(f"modality must be one of {', '.join(MODALITIES)}, got {value!r}")
    return value  # type: ignore[return-value]


def _log_problems(dataset: Dataset, shown: int = 5) -> None:
    lines = summarise(dataset.problems)
    for line in lines[:shown]:
        logger.warning("%s", line)
    if len(lines) > shown:
        logger.warning("... and %d more problems in the data", len(lines) - shown)

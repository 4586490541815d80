"""Read rows from a CSV, TSV or JSONL table as the user meant them.

* CSV/TSV go through the :mod:`csv` module on the text as a stream, so a quoted cell may hold line breaks and
  only ``\\n``/``\\r`` end a row: Unicode line and paragraph separators (U+2028, U+2029, NEL, form feed...) stay
  inside their cell, where ``str.splitlines`` would have cut the row in two.
* The delimiter is read from the table itself (comma, tab, semicolon or bar: a TSV saved as ``.csv`` and the
  semicolon tables of spreadsheet programs set to a decimal comma both read), the suffix only breaking ties.
* Every row carries the line number where it starts in the file (1-based, as an editor shows it), so a message
  about a row points at the right line even after cells with line breaks, blank lines or a JSONL file.
* A long cell does not refuse the file: cells up to :data:`MAX_CELL_CHARS` are read, and the row whose text is
  too long to use is reported by its line (see ``sources.from_texts``).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DELIMITERS = (",", "\t", ";", "|")
MAX_CELL_CHARS = 64 * 1024 * 1024  # the csv module's default (128 KB) would refuse a whole file for one cell
SNIFF_ROWS = 200
SEP_HINT = re.compile(r"^sep=(.)\r?\n")
# Written by spreadsheets and pandas for a missing value; such a label means "no label", never a class.
MISSING_LABELS = frozenset({"", "nan", "null", "n/a", "#n/a", "<na>"})


@dataclass(frozen=True)
class Rows:
    """A table's rows (column name -> value) and the 1-based line on which each row starts."""

    rows: list[dict[str, Any]]
    lines: list[int]
    delimiter: str | None = None
    problems: list[tuple[int, str]] = field(default_factory=list)  # (line, why): rows left out


def read_text(path: Path) -> str:
    """A table's text, or a ValueError naming the path and the fix.

    UTF-8 with or without a byte-order mark, or UTF-16 with one (what Excel's "Unicode Text" and some analytics
    exports write; the mark makes it unambiguous). Line endings are kept as written (no newline translation), so a
    ``\r`` inside a quoted cell survives.
    """
    encoding = "utf-8-sig"
    try:
        with path.open("rb") as raw:
            if raw.read(2) in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
                encoding = "utf-16"
        with path.open(encoding=encoding, newline="") as handle:
            return handle.read()
    except UnicodeDecodeError as error:
        name = "UTF-16" if encoding == "utf-16" else "UTF-8"
        raise ValueError(
            f"{path} is not {name} text (bad byte at position {error.start}). Re-save it as UTF-8 "
            "(in Excel: Save As > CSV UTF-8)."
        ) from error
    except PermissionError as error:
        raise ValueError(f"{path} cannot be read: permission denied. Check its owner and mode (chmod a+r).") from error
    except OSError as error:
        raise ValueError(f"{path} cannot be read ({error.strerror or error}).") from error


def text_lines(content: str) -> list[tuple[int, str]]:
    """(line number, line) for a plain text: only ``\\n``, ``\\r\\n`` and ``\\r`` end a line."""
    return [(number, line.rstrip("\r\n")) for number, line in enumerate(io.StringIO(content, newline=None), start=1)]


def read_rows(path: Path) -> Rows:
    """The rows of a CSV/TSV/JSONL table with the line each starts on. Raises ValueError naming file and line."""
    content = read_text(path)
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        return _json_rows(path, content)
    return _csv_rows(path, content)


def _json_rows(path: Path, content: str) -> Rows:
    rows, lines = [], []
    # JSON strings may hold U+2028 and friends unescaped: only a line feed ends a JSONL record.
    for number, line in enumerate(content.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number}: not valid JSON ({error.msg}). Each line must hold one "
                             'JSON object like {"text": "...", "label": "..."}.') from error
        except RecursionError as error:
            raise ValueError(f"{path}, line {number}: the JSON is nested too deeply.") from error
        if not isinstance(row, dict):
            raise ValueError(f'{path}, line {number}: expected a JSON object like {{"text": ..., "label": ...}}.')
        rows.append(row)
        lines.append(number)
    return Rows(rows, lines)


def sniff_delimiter(content: str, suffix: str) -> str:
    """The delimiter that splits the header and the first rows into the same number (two or more) of cells.

    Each candidate parses the start of the table with the csv module (so quoted cells count right); the one
    under which most rows agree with the header wins, the suffix's own delimiter breaking ties.
    """
    preferred = "\t" if suffix == ".tsv" else ","
    best, best_score = preferred, (-1, -1)
    for delimiter in sorted(DELIMITERS, key=lambda d: d != preferred):
        reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter)
        try:
            header = next(reader, [])
            widths = [len(row) for _, row in zip(range(SNIFF_ROWS), reader, strict=False) if row]
        except csv.Error:
            continue
        if len(header) < 2:
            continue
        agree = sum(width == len(header) for width in widths)
        score = (agree, len(header) if agree == len(widths) else 0)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _csv_rows(path: Path, content: str) -> Rows:
    hint = SEP_HINT.match(content)  # Excel's "sep=;" first line names the delimiter outright
    if hint:
        content = "\n" + content[hint.end():]  # keep the line numbers: the hint was line 1
    delimiter = hint.group(1) if hint else sniff_delimiter(content, path.suffix.lower())
    kind = "TSV" if delimiter == "\t" else "CSV"
    previous = csv.field_size_limit()
    csv.field_size_limit(MAX_CELL_CHARS)
    try:
        try:
            records = _records(content, delimiter, strict=True)
        except _RecordError as error:
            if "unexpected end of data" not in str(error.__cause__):
                records = _records(content, delimiter, strict=False)  # lenient like a spreadsheet: "a"b reads a"b
            else:
                raise ValueError(f"{path}, line {error.line}: a quoted cell that starts on this line is never "
                                 "closed, so the rest of the file would be read into it. Close the quote (a quote "
                                 'inside a cell is written twice: "").') from error
    except _RecordError as error:
        raise ValueError(f"{path}, line {error.line}: not a readable {kind} row ({error.__cause__}).") from error
    finally:
        csv.field_size_limit(previous)
    rows: list[dict[str, Any]] = []
    lines: list[int] = []
    problems: list[tuple[int, str]] = []
    if not records:
        return Rows(rows, lines, delimiter)
    header = [cell.strip() for cell in records[0][1]]
    for line, record in records[1:]:
        extra = record[len(header):]
        if any(cell.strip() for cell in extra):
            problems.append((line, f"the row has {len(record)} cells but the header has {len(header)}; a cell "
                             f"that holds the delimiter {delimiter!r} must be in double quotes"))
            continue
        row: dict[str, Any] = dict(zip(header, record, strict=False))
        for name in header[len(record):]:
            row[name] = None
        rows.append(row)
        lines.append(line)
    return Rows(rows, lines, delimiter, problems)


class _RecordError(Exception):
    def __init__(self, line: int) -> None:
        super().__init__(f"line {line}")
        self.line = line


def _records(content: str, delimiter: str, strict: bool) -> list[tuple[int, list[str]]]:
    """(line the record starts on, cells) for every non-blank record."""
    reader = csv.reader(io.StringIO(content, newline=""), delimiter=delimiter, strict=strict)
    records, start = [], 1
    try:
        for record in reader:
            if any(cell.strip() for cell in record):
                records.append((start, record))
            start = reader.line_num + 1
    except csv.Error as error:
        raise _RecordError(start) from error
    return records


def is_missing_label(value: Any) -> bool:
    """True for a label that means "none given": None, a float NaN, an empty cell, or NaN/null/N/A as text."""
    if value is None:
        return True
    if isinstance(value, float) and value != value:
        return True
    return isinstance(value, str) and value.strip().lower() in MISSING_LABELS

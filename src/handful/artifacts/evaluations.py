"""Evaluations kept with a model: each ``handful evaluate`` (or ``record_evaluation``) on data the model never saw
is appended to ``evaluations.json`` in the model folder, written atomically (a temporary file renamed over the old
one), so the report can show every score the model was given, beside its cross-validated estimate.

The weights and manifest are untouched (their checksums stay valid); saving the model again starts a new folder and
so a new list, since the scores belonged to the old model.

Example:
    >>> record_evaluation("models/defects", {"data": "val/", "accuracy": 0.9, "n": 40})  # doctest: +SKIP
    >>> read_evaluations("models/defects")[-1]["accuracy"]  # doctest: +SKIP
    0.9
"""

from __future__ import annotations

import datetime
import json
import logging
import os
import uuid
from pathlib import Path
from typing import Any

from handful.artifacts.folder import ModelFileError
from handful.artifacts.safety import EVALUATIONS, MANIFEST, locked

logger = logging.getLogger(__name__)

KEPT = 50  # the most recent evaluations kept


def read_evaluations(path: str | Path) -> list[dict[str, Any]]:
    """The evaluations saved with the model at ``path``, oldest first; empty when there are none or the file is
    damaged (a damaged list is logged, never fatal: the model itself is fine)."""
    file = Path(path).expanduser() / EVALUATIONS
    if not file.is_file():
        return []
    try:
        records = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        logger.warning("ignoring %s: %s", file, error)
        return []
    return [r for r in records if isinstance(r, dict)] if isinstance(records, list) else []


def record_evaluation(path: str | Path, metrics: dict[str, Any]) -> Path:
    """Append ``metrics`` (with the time) to the model's evaluations, atomically; returns the file written.

    Raises:
        ModelFileError: ``path`` is not a model folder.
        OSError: the folder cannot be written (read-only, disk full); the old list is then left as it was.
    """
    folder = Path(path).expanduser().resolve()
    if not (folder / MANIFEST).is_file():
        raise ModelFileError(f"{folder} is not a handful model: it has no {MANIFEST}.")
    record = {"evaluated": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"), **metrics}
    target = folder / EVALUATIONS
    # Staged beside the model folder, not in it (the folder holds only handful's files), under the model's lock.
    staging = folder.parent / f".{folder.name}.{EVALUATIONS}.tmp-{uuid.uuid4().hex[:8]}"
    with locked(folder):
        records = (read_evaluations(folder) + [record])[-KEPT:]
        try:
            with staging.open("w", encoding="utf-8") as handle:
                json.dump(records, handle, indent=1, default=_plain)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(staging, target)
        finally:
            staging.unlink(missing_ok=True)
    return target


def _plain(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)

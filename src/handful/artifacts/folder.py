"""Save and load trained models: a folder with ``manifest.json`` and ``head.safetensors``. Never pickle.

Saving writes a complete new folder beside the target and swaps it in with renames, so a crash mid-save leaves
the previous model intact. Loading reads JSON and safetensors only (no code runs), verifies the weights' checksum
and checks that the backbone it needs is here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from handful.artifacts import safety, schema
from handful.artifacts.safety import FORMAT, MANIFEST, MAX_MANIFEST_BYTES, WEIGHTS

FORMAT_VERSION = 1
EXCHANGE = True  # swap folders in one renameat2(RENAME_EXCHANGE) where the system can; False tests the fallback


class ModelFileError(ValueError):
    """A model folder that is missing, damaged, or made by an incompatible handful."""


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_model(path: str | Path, manifest: dict[str, Any], tensors: dict[str, np.ndarray]) -> Path:
    """Write a model folder atomically; an existing model at ``path`` is replaced only once the new one is whole.

    ``path`` must be new, an empty folder or a handful model folder (anything else raises
    :class:`~handful.artifacts.safety.OutputPathError` before writing); writers of one path take turns, and what
    a crashed save left is cleaned first (see :mod:`handful.artifacts.safety`).
    """
    from safetensors.numpy import save_file

    target = safety.check_output(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with safety.locked(target):
        safety.step("locked")
        safety.check_output(target)  # again: another writer may have changed it while this one waited
        safety.recover(target)
        safety.step("recovered")
        staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        staging.mkdir()
        try:
            safety.step("staging-created")
            weights = staging / WEIGHTS
            save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(weights))
            safety.step("weights-written")
            manifest = {**manifest, "format": FORMAT, "format_version": FORMAT_VERSION,
                        "files": {WEIGHTS: {"sha256": file_sha256(weights), "bytes": weights.stat().st_size}}}
            with (staging / MANIFEST).open("w", encoding="utf-8") as handle:
                json.dump(manifest, handle, indent=2, sort_keys=False, default=_json_default)
                handle.flush()
                os.fsync(handle.fileno())
            safety.step("manifest-written")
            with weights.open("rb") as handle:
                os.fsync(handle.fileno())
            os.chmod(weights, 0o666 & ~_umask())  # safetensors writes 0600; a model is shared like any other file
            _fsync_dir(staging)
            safety.step("synced")
            retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            safety.swap_in(staging, target, retired, exchange=EXCHANGE)
            _fsync_dir(target.parent)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return target


def read_manifest(path: str | Path) -> tuple[Path, dict[str, Any]]:
    """The folder of the model at ``path`` and its manifest, checked to be a handful model this version reads (its
    weights are not read). Raises ModelFileError saying what is wrong."""
    folder = Path(path).expanduser()
    if not folder.exists() and safety.leftovers(folder.resolve())[1]:
        try:  # a save interrupted between its two renames left the previous model hidden beside the path
            with safety.locked(folder.resolve()):
                safety.recover(folder.resolve())
        except OSError:
            pass
    if not folder.exists():
        raise ModelFileError(f"no model at {folder}: the folder does not exist.")
    if folder.is_file():
        folder = folder.parent if folder.name in (MANIFEST, WEIGHTS) else folder
        if folder.is_file():
            raise ModelFileError(f"{folder} is a file; a handful model is a folder holding {MANIFEST}.")
    manifest_path = folder / MANIFEST
    if not manifest_path.is_file():
        raise ModelFileError(f"{folder} is not a handful model: it has no {MANIFEST}.")
    if manifest_path.stat().st_size > MAX_MANIFEST_BYTES:
        raise ModelFileError(f"{manifest_path} is implausibly large; the model is damaged.")
    try:
        manifest = schema.parse(manifest_path.read_bytes())
    except OSError as error:
        raise ModelFileError(f"{manifest_path} cannot be read ({error.strerror or error}); check its owner and "
                             "mode.") from error
    except (UnicodeDecodeError, json.JSONDecodeError, schema.SchemaError, RecursionError) as error:
        raise ModelFileError(f"{manifest_path} is damaged (not valid JSON: {error}). Retrain or restore it.") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{manifest_path} is not a handful model manifest.")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{folder} was saved in model format {version!r}; this handful reads up to {FORMAT_VERSION}. "
            "Upgrade handful (pip install -U handful)."
        )
    return folder, manifest


def read_model(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a model folder: its manifest and its weights. Raises ModelFileError saying what is wrong."""
    from safetensors.numpy import load_file

    folder, manifest = read_manifest(path)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ModelFileError(f"{folder} is incomplete: {WEIGHTS} is missing.")
    files = manifest.get("files")
    entry = files.get(WEIGHTS) if isinstance(files, dict) else None
    expected = entry.get("sha256") if isinstance(entry, dict) else None
    try:
        actual = file_sha256(weights)
    except OSError as error:
        raise ModelFileError(f"{weights} cannot be read ({error.strerror or error}); check its owner and mode."
                             ) from error
    if expected != actual:
        raise ModelFileError(
            f"{weights} does not match its checksum in {MANIFEST}: the file is truncated or damaged. "
            "Retrain or restore the model."
        )
    try:
        tensors = load_file(str(weights))
    except Exception as error:
        raise ModelFileError(f"{weights} cannot be read ({error}).") from error
    try:
        schema.validate_tensors(tensors)
    except schema.SchemaError as error:
        raise ModelFileError(f"{weights} is damaged: {error}. Retrain or restore the model.") from error
    return manifest, tensors


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to a model manifest")

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

FORMAT = "handful-model"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
WEIGHTS = "head.safetensors"
MAX_MANIFEST_BYTES = 64 * 1024 * 1024


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
    """Write a model folder atomically; an existing model at ``path`` is replaced only once the new one is whole."""
    from safetensors.numpy import save_file

    target = Path(path).expanduser().resolve()
    if target.exists() and not target.is_dir():
        raise ValueError(f"{target} exists and is a file; give a folder path for the model.")
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST).exists():
        raise ValueError(f"{target} is a non-empty folder that is not a handful model; refusing to overwrite it.")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        weights = staging / WEIGHTS
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(weights))
        manifest = {**manifest, "format": FORMAT, "format_version": FORMAT_VERSION,
                    "files": {WEIGHTS: {"sha256": file_sha256(weights), "bytes": weights.stat().st_size}}}
        with (staging / MANIFEST).open("w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=False, default=_json_default)
            handle.flush()
            os.fsync(handle.fileno())
        with weights.open("rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(weights, 0o666 & ~_umask())  # safetensors writes 0600; a model is shared like any other file
        _fsync_dir(staging)
        if target.exists():
            retired = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            os.replace(target, retired)
            os.replace(staging, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, target)
        _fsync_dir(target.parent)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_model(path: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify a model folder: its manifest and its weights. Raises ModelFileError saying what is wrong."""
    from safetensors.numpy import load_file

    folder = Path(path).expanduser()
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
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelFileError(f"{manifest_path} is damaged (not valid JSON: {error}). Retrain or restore it.") from error
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ModelFileError(f"{manifest_path} is not a handful model manifest.")
    version = manifest.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{folder} was saved in model format {version!r}; this handful reads up to {FORMAT_VERSION}. "
            "Upgrade handful (pip install -U handful)."
        )
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise ModelFileError(f"{folder} is incomplete: {WEIGHTS} is missing.")
    expected = manifest.get("files", {}).get(WEIGHTS, {}).get("sha256")
    if expected != file_sha256(weights):
        raise ModelFileError(
            f"{weights} does not match its checksum in {MANIFEST}: the file is truncated or damaged. "
            "Retrain or restore the model."
        )
    try:
        tensors = load_file(str(weights))
    except Exception as error:
        raise ModelFileError(f"{weights} cannot be read ({error}).") from error
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

"""Trained models on disk: one model folder (JSON manifest + safetensors, never pickle) and the model store.

- :mod:`handful.artifacts.folder`: write a model folder atomically, read it back checked.
- :mod:`handful.artifacts.manifest`: what a model's ``manifest.json`` holds, written and read in one place;
- :mod:`handful.artifacts.store`: named models with numbered versions under one root, and which is promoted.
"""

from handful.artifacts.folder import MANIFEST, WEIGHTS, ModelFileError, file_sha256, read_model, write_model
from handful.artifacts.store import Registry, Version

__all__ = ["MANIFEST", "WEIGHTS", "ModelFileError", "Registry", "Version", "file_sha256", "read_model", "write_model"]

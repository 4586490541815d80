"""What a model folder may hold: the manifest's schema, its nesting, its tensors. A model folder is data a user may
receive from anyone, so nothing in it is trusted before it passes here; each refusal is a ModelFileError that names
the field and why, never a traceback, an HTTP 500, or a write anywhere.

Written by hand rather than with jsonschema: the schema is small (the fields ``load`` uses; others are allowed and
ignored), the messages must name the field in handful's words with the fix, and checks such as "unique classes" or
"finite numbers" are not plain JSON Schema. That spares a dependency of four packages for sixty lines.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_DEPTH = 64  # a real manifest nests about 8 deep; a deeper one is refused before the parser sees it
MAX_CLASSES = 100_000
MAX_LABEL_CHARS = 1_000
MODALITIES = ("image", "text", "audio")
FLOAT_KINDS = "f"
STRINGS = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
# Classifier parameters that name a place on disk: never taken from a model file (the model would choose where
# this machine reads or writes). They fall back to their defaults: the user's own feature cache, no augmentation
# file (augmentation is used only while fitting).
PATH_PARAMS = ("cache_dir", "augment")


class SchemaError(ValueError):
    """A manifest or tensor that breaks the schema; the message names the field."""


def check_depth(raw: bytes, limit: int = MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than ``limit`` (counted outside strings), without parsing it."""
    skeleton = np.frombuffer(STRINGS.sub(b'""', raw), dtype=np.uint8)
    steps = (np.isin(skeleton, (ord("["), ord("{"))).astype(np.int64)
             - np.isin(skeleton, (ord("]"), ord("}"))).astype(np.int64))
    depth = int(np.cumsum(steps).max()) if steps.size else 0
    if depth > limit:
        raise SchemaError(f"the JSON is nested {depth} levels deep, over the {limit} a model manifest can need")


def parse(raw: bytes) -> Any:
    """The manifest's JSON, after the depth check (NaN in a score is allowed: the weights are checked apart)."""
    check_depth(raw)
    return json.loads(raw.decode("utf-8"))


def _is(kind: Any) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, kind) and not isinstance(value, bool) if kind in (int, float, (int, float)) \
        else isinstance(value, kind)


def _field(manifest: dict[str, Any], path: str, check: Callable[[Any], bool], expected: str,
           optional: bool = False) -> Any:
    value: Any = manifest
    for key in path.split("."):
        if not isinstance(value, dict) or key not in value:
            if optional:
                return None
            raise SchemaError(f"{path} is missing")
        value = value[key]
    if (value is None and optional) or check(value):
        return value
    shown = json.dumps(value)[:60] if not isinstance(value, dict | list) else type(value).__name__
    raise SchemaError(f"{path} must be {expected}, got {shown}")


def validate_manifest(manifest: Any) -> None:
    """Check the fields ``load`` uses: types, ranges, a class list of unique names, a backbone with parts."""
    if not isinstance(manifest, dict):
        raise SchemaError("the manifest must be a JSON object")
    text, count = _is(str), _is(int)
    _field(manifest, "modality", lambda v: v in MODALITIES, f"one of {', '.join(MODALITIES)}")
    classes = _field(manifest, "classes", _is(list), "a list of class names")
    if not 2 <= len(classes) <= MAX_CLASSES:
        raise SchemaError(f"classes must hold 2 to {MAX_CLASSES:,} names, got {len(classes):,}")
    if not all(isinstance(c, str) and 0 < len(c) <= MAX_LABEL_CHARS for c in classes):
        raise SchemaError(f"classes must be non-empty strings of at most {MAX_LABEL_CHARS:,} characters")
    if len(set(classes)) != len(classes):
        raise SchemaError("classes must be unique; the list repeats a name")
    _field(manifest, "backbone.name", text, "a backbone name")
    parts = _field(manifest, "backbone.parts", lambda v: isinstance(v, list) and 0 < len(v) <= 16,
                   "a list of 1 to 16 backbone parts")
    for index, part in enumerate(parts):
        if not isinstance(part, dict) or not isinstance(part.get("name"), str):
            raise SchemaError(f"backbone.parts[{index}] must be an object with a name")
    _field(manifest, "learner.name", text, "a learner name")
    _field(manifest, "learner.params", _is(dict), "an object")
    _field(manifest, "params", _is(dict), "an object")
    for key in ("backbones", "learners"):
        _field(manifest, f"config.{key}", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
               "a list of names")
    _field(manifest, "metrics", _is(dict), "an object")
    _field(manifest, "metrics.n_folds", count, "a whole number", optional=True)
    _field(manifest, "leaderboard", _is(list), "a list")
    _field(manifest, "data.n_examples", lambda v: count(v) and v >= 0, "a whole number")
    _field(manifest, "data.class_counts", _is(dict), "an object")
    _field(manifest, "data.problems", _is(list), "a list")
    for key in ("sources", "unlabelled_sources"):  # where update reads the data again
        _field(manifest, f"data.{key}", lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
               "a list of paths", optional=True)


def safe_params(params: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``params`` without those that name a place on disk (see :data:`PATH_PARAMS`), and the names dropped."""
    dropped = [key for key in PATH_PARAMS if isinstance(params.get(key), str) and _names_a_path(key, params[key])]
    return {k: v for k, v in params.items() if k not in dropped}, dropped


def _names_a_path(key: str, value: str) -> bool:
    if key == "cache_dir":
        return True
    # augment: a spec like "light,no-flip" is kept; a file name (JSON/TOML, or anything with a separator) is not
    return "/" in value or "\\" in value or value.lower().endswith((".json", ".toml"))


def validate_tensors(tensors: dict[str, np.ndarray]) -> None:
    """Weights must be numbers (no object or complex arrays) and every float finite."""
    for name, values in tensors.items():
        if values.dtype.kind not in "fiub":
            raise SchemaError(f"tensor {name!r} has dtype {values.dtype}, not a number type")
        if values.dtype.kind in FLOAT_KINDS and not np.isfinite(values).all():
            bad = int((~np.isfinite(values)).sum())
            raise SchemaError(f"tensor {name!r} holds {bad:,} NaN or infinite weights")


def check_head(proba: Any, n_classes: int) -> None:
    """The head's answer on a probe batch must be one finite probability row per input over the class list."""
    values = np.asarray(proba, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != n_classes:
        raise SchemaError(f"the head gives {values.shape[-1] if values.ndim else 0} scores per input but the "
                          f"manifest lists {n_classes} classes: its weights do not match its class list")
    if not np.isfinite(values).all() or (values < -1e-6).any() or not np.allclose(values.sum(axis=1), 1, atol=1e-3):
        raise SchemaError("the head does not give finite probabilities: its weights are damaged")

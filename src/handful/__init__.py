"""handful: a handful of labelled examples in, a model you can trust out. Offline, on a CPU, in minutes.

Example:
    >>> import handful
    >>> clf = handful.Classifier(preset="fast", random_state=0).fit("photos/")  # doctest: +SKIP
    >>> clf.save("models/photos"); clf = handful.load("models/photos")  # doctest: +SKIP
"""

from __future__ import annotations

import logging
from pathlib import Path

from handful._version import __version__
from handful.artifacts import ModelFileError
from handful.artifacts.store import Registry
from handful.backbones import list_backbones
from handful.classifier import Classifier, NotFittedError
from handful.config import PRESETS
from handful.versions import update

logging.getLogger(__name__).addHandler(logging.NullHandler())


def load(path: str | Path) -> Classifier:
    """Load a model saved with ``Classifier.save``; reads JSON and safetensors only, never runs code.

    Raises ModelFileError (a ValueError) when the folder is missing, damaged or from an incompatible handful.

    Example:
        >>> import handful
        >>> clf = handful.load("models/photos")  # doctest: +SKIP
    """
    return Classifier.load(path)


__all__ = [
    "PRESETS", "Classifier", "ModelFileError", "NotFittedError", "Registry", "__version__", "list_backbones", "load",
    "update",
]

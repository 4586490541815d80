"""Serve saved models over HTTP: a FastAPI app (``create_app``), its settings, and a static test page.

Example:
    >>> from handful.serve import create_app
    >>> api = create_app("models/photos")  # doctest: +SKIP
"""

from __future__ import annotations

from handful.serve.app import create_app
from handful.serve.settings import Settings

__all__ = ["Settings", "create_app"]

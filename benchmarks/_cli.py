"""The benchmarks' command lines.

Each benchmark reads its few words by hand and documents them in its own docstring. ``-h`` or ``--help`` prints
that docstring and stops: before, a benchmark read ``--help`` as no arguments and started a run of many minutes.
"""

from __future__ import annotations

import sys


def arguments(usage: str | None) -> list[str]:
    """The command line's words after the script's name; with ``-h`` or ``--help``, print ``usage`` and exit."""
    words = sys.argv[1:]
    if "-h" in words or "--help" in words:
        print((usage or "").strip())
        raise SystemExit(0)
    return words

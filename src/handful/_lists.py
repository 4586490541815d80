"""Lists inside messages, kept short: a 10,000-class dataset must not give a 130 KB error."""

from __future__ import annotations

from collections.abc import Iterable

SHOWN = 5
LONGEST = 60


def short(text: str, longest: int = LONGEST) -> str:
    """``text`` cut to ``longest`` characters, the cut marked with an ellipsis."""
    return text if len(text) <= longest else text[:longest - 1] + "…"


def listed(items: Iterable[str], shown: int = SHOWN) -> str:
    """The first ``shown`` items joined with commas, then "and N more"; each item cut to a readable length.

    Example:
        >>> listed([repr(c) for c in "abcdefg"])
        "'a', 'b', 'c', 'd', 'e' and 2 more"
    """
    items = list(items)
    head = [short(item) for item in items[:shown]]
    rest = len(items) - len(head)
    return ", ".join(head) + (f" and {rest:,} more" if rest > 0 else "")

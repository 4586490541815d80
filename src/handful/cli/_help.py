"""Help that shows types a person reads: ``--quiet`` with no type, ``--output PATH``, ``--top N``, ``DATA``.

Typer 0.29 writes its own placeholders (``<bool>``, ``<str>``, ``<list[str]>``, ``{data}``) unless a parameter has
a metavar, and a flag shows ``<bool>`` whatever it is given. Rather than patch Typer for every program that imports
it, handful's commands use the two small subclasses here (``cls=`` of ``Typer`` and of ``Typer.command``): they
give each of their own parameters a readable metavar (an explicit one is kept) and write the usage line the way
click always has (``DATA``, ``[NAME]``, ``INPUTS...``).
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Any, get_args

from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

WORDS: dict[Any, str] = {str: "TEXT", int: "N", float: "NUMBER", Path: "PATH", bool: "BOOLEAN"}


def type_word(param: Any) -> str | None:
    """The word for PARAM's type: ``""`` for a flag (it takes no value), the choices of an enum or a ``Literal`` as
    ``a|b|c``, else TEXT, N, NUMBER or PATH (None: leave Typer's, e.g. for a tuple)."""
    if getattr(param, "is_flag", False) or getattr(param, "count", False):
        return ""
    descriptor = getattr(param, "type_descriptor", None)
    annotation = getattr(descriptor, "annotation", None)
    if getattr(descriptor, "is_list", False) and get_args(annotation):
        annotation = get_args(annotation)[0]
    choices = getattr(descriptor, "choices", None)
    if choices:
        return "|".join(str(c.value if isinstance(c, enum.Enum) else c) for c in choices)
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return "|".join(str(member.value) for member in annotation)
    return WORDS.get(annotation)


class Argument(TyperArgument):
    """An argument shown by its name (``DATA``) with its type in a word (``PATH``), not ``<path>``."""

    type_word: str | None = None

    def display_type_rich(self, ctx: Any) -> str | None:
        if self.type_word is None:
            return super().display_type_rich(ctx=ctx)
        return self.type_word + ("..." if self.nargs != 1 else "")


def name_params(params: list[Any]) -> list[Any]:
    """Give PARAMS readable metavars in place (an explicit metavar is kept)."""
    for param in params:
        if isinstance(param, TyperArgument) and not isinstance(param, Argument):
            word = type_word(param)
            if param.metavar is None:
                param.metavar = (param.name or "value").upper()
            # Typer builds the argument and offers no class to pick; Argument only adds display_type_rich
            param.__class__ = Argument
            param.type_word = word  # type: ignore[attr-defined]
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = type_word(param)
    return params


def usage_pieces(command: TyperCommand | TyperGroup, ctx: Any) -> list[str]:
    """The usage line as click writes it: ``[OPTIONS] DATA [NAME] INPUTS...`` (not Typer's ``{data}``)."""
    pieces = [command.options_metavar] if command.options_metavar else []
    for param in command.get_params(ctx):
        if not isinstance(param, TyperArgument):
            pieces.extend(param.get_usage_pieces(ctx))
            continue
        word = param.metavar or (param.name or "value").upper()
        word += "..." if param.nargs != 1 else ""
        pieces.append(word if param.required else f"[{word}]")
    return pieces


def unwrapped(text: str) -> str:
    """A docstring's paragraphs each on one line: the terminal wraps them to its width, where the source's breaks
    (at 115 characters) would cut an 80-column help mid-sentence.

    Example:
        >>> unwrapped("One line\n    and more.\n\n    A second.")
        'One line and more.\n\nA second.'
    """
    paragraphs = [" ".join(line.strip() for line in block.strip().splitlines()) for block in text.split("\n\n")]
    return "\n\n".join(p for p in paragraphs if p)


class Command(TyperCommand):
    """A Typer command whose help names types in words and wraps its paragraphs to the terminal (see the module)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.help:
            self.help = unwrapped(self.help)

    def get_params(self, ctx: Any) -> list[Any]:
        return name_params(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return usage_pieces(self, ctx)


class Group(TyperGroup):
    """A Typer group whose own options (``--version``, ``--help``) are shown the same way."""

    def get_params(self, ctx: Any) -> list[Any]:
        return name_params(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        return [*usage_pieces(self, ctx), self.subcommand_metavar]

"""The ``handful`` command: train, evaluate, predict, check, suggest, report, serve, export and the model registry.

It calls the public API only. One module per command group (:mod:`~handful.cli.train`, :mod:`~handful.cli.review`,
:mod:`~handful.cli.deploy`, :mod:`~handful.cli.models`); what they print is in :mod:`~handful.cli.output`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from handful._version import __version__
from handful.cli import deploy, models, review, train
from handful.cli._help import Command, Group
from handful.cli.output import console, errors

app = typer.Typer(
    cls=Group,
    help="handful: a handful of labelled examples in, a model you can trust out. Offline, on a CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},  # inherited by every command
)


def _version(shown: bool) -> None:
    if shown:
        console.print(f"handful {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                                help="Print handful's version and exit.")] = False) -> None:
    """handful: a handful of labelled examples in, a model you can trust out. Offline, on a CPU."""
for command in (train.train, train.evaluate, train.predict, train.backbones, train.demo, review.check,
                review.suggest, review.report, deploy.serve, deploy.export):
    app.command(cls=Command)(command)
app.add_typer(models.models_app, name="models")
app.command(cls=Command)(models.update)


def main() -> None:  # pragma: no cover - console entry point
    app()


__all__ = ["app", "console", "errors", "main"]

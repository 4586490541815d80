"""The options and arguments that several ``handful`` commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

TABLES = (".csv", ".tsv", ".jsonl", ".ndjson")
Backbones = Annotated[list[str] | None, typer.Option(
    "--backbone", metavar="NAME", help="Backbone(s) to try instead of the preset's.")]
Modality = Annotated[str | None, typer.Option(
    metavar="image|text|audio", help="image, text or audio (inferred when omitted).")]
TextColumn = Annotated[str | None, typer.Option(help="Text column of a table.")]
LabelColumn = Annotated[str | None, typer.Option(help="Label column of a table.")]
Seed = Annotated[int, typer.Option(help="Random seed: the same seed and data give the same result.")]
ModelFolder = Annotated[Path, typer.Argument(help="A saved model folder.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or tables; errors only.")]
RegistryRoot = Annotated[Path | None, typer.Option(
    help="The model registry folder (default: $HANDFUL_HOME, else ./models).", show_default=False)]

VersionArgument = Annotated[str, typer.Argument(help="A version: v3 or 3.")]
NameArgument = Annotated[str, typer.Argument(help="The registered model's name.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Same as --format json.", hidden=True)]
OutputFormat = Annotated[str, typer.Option("--format", metavar="table|json|csv", help="How to print the result.")]
FORMATS = ("table", "json", "csv")

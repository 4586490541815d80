"""The model registry: list, show, promote, roll back and delete versions; update a model with new data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from handful.artifacts.store import Registry, Version, default_root, parse_version
from handful.cli._help import Command, Group
from handful.cli.options import JsonOutput, NameArgument, OutputFormat, Quiet, RegistryRoot, VersionArgument
from handful.cli.output import brief, check_format, console, fail, print_csv, registered, setup, show_comparison
from handful.versions import update as update_version

models_app = typer.Typer(cls=Group, help="Registered models and their versions: list, show, promote, rollback, delete.",
                         no_args_is_help=True)
NOT_PROMOTED = 3  # exit status of `handful update` when the new version was registered but not promoted


def registry_root(root: Path | None) -> Path:
    return root if root is not None else default_root()


def open_registry(root: Path | None) -> Registry:
    try:
        return Registry(registry_root(root))
    except (ValueError, OSError) as error:
        fail(str(error))
        raise  # unreachable: _fail exits


VERSION_COLUMNS = ["name", "version", "status", "promoted", "created", "backbone", "learner", "modality", "n_examples",
                   "cv_balanced_accuracy", "cv_low", "cv_high", "holdout_accuracy", "path"]


def version_row(v: Version) -> list[object]:
    """One version as a CSV row (VERSION_COLUMNS): what `models list` shows, whole, for a script."""
    m, cv = v.metrics, v.metrics.get("cv_balanced_accuracy") or {}
    holdout = m.get("holdout") or {}
    return [v.name, v.version, v.status, v.promoted, v.created, m.get("backbone"), m.get("learner"),
            m.get("modality"), m.get("n_examples"), cv.get("mean"), cv.get("low"), cv.get("high"),
            holdout.get("accuracy"), v.path]


@models_app.command("list", cls=Command)
def models_list(
    name: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
    root: RegistryRoot = None,
    output_format: OutputFormat = "table",
    json_output: JsonOutput = False,
    quiet: Quiet = False,
) -> None:
    """List registered versions: status (production, ready, retired, refused), scores, data size."""
    setup(quiet)
    output_format = "json" if json_output else check_format(output_format)
    registry = open_registry(root)
    try:
        versions = registry.versions(name)
        if name is not None:
            registry.get(name, versions[0].version if versions else 1)  # an unknown name says what is known
    except ValueError as error:
        fail(str(error))
    if output_format == "json":
        sys.stdout.write(json.dumps([v.as_dict() for v in versions], indent=2) + "\n")
        return
    if output_format == "csv":
        print_csv(VERSION_COLUMNS, [version_row(v) for v in versions])
        return
    if quiet:
        return
    table = Table("name", "version", "status", "balanced acc. (cv) [95% CI]", "held-out acc.", "n", "model",
                  title=f"Models in {registry.root}", box=box.SIMPLE_HEAD,
                  caption="n: the examples it learned from; when each was made: handful models show NAME VERSION")
    for column in table.columns[:3]:  # whole names and statuses, which a user types: no "produc…" at 80 columns
        column.no_wrap = True
    table.columns[3].min_width, table.columns[4].min_width = 7, 8  # "[0.349," and "held-out" whole
    table.columns[-1].overflow = "fold"  # efficientnet-lite0 wraps rather than ending in "effici…"
    for v in versions:
        holdout = v.metrics.get("holdout") or {}
        table.add_row(v.name, f"v{v.version}", v.status, brief(v.metrics.get("cv_balanced_accuracy")),
                      f"{holdout['accuracy']:.3f}" if holdout.get("accuracy") is not None else "-",
                      str(v.metrics.get("n_examples", "-")),
                      f"{v.metrics.get('backbone')} + {v.metrics.get('learner')}",
                      style="bold green" if v.promoted else ("dim" if v.status in ("retired", "refused") else ""))
    console.print(table)
    if not versions:
        console.print("No model registered yet: handful train DATA --name NAME", highlight=False)


@models_app.command("show", cls=Command)
def models_show(
    name: NameArgument,
    version: Annotated[str | None, typer.Argument(help="A version (default: the promoted one).")] = None,
    root: RegistryRoot = None,
    output_format: OutputFormat = "table",
    json_output: JsonOutput = False,
    quiet: Quiet = False,
) -> None:
    """Show one version: where it is, its metrics, its data (fingerprint, sources), and how it compared."""
    setup(quiet)
    output_format = "json" if json_output else check_format(output_format)
    registry = open_registry(root)
    try:
        found = registry.get(name, version)
    except ValueError as error:
        fail(str(error))
    details = {**found.as_dict(), "history": registry.history(name)}
    if output_format == "json":
        sys.stdout.write(json.dumps(details, indent=2) + "\n")
        return
    if output_format == "csv":  # the version as `models list` has it; its history and comparison are in the JSON
        print_csv(VERSION_COLUMNS, [version_row(found)])
        return
    if quiet:  # -q: the exit status alone says whether the version exists
        return
    m = found.metrics
    console.print(f"[bold]{found.label}[/] ({found.status}), created {found.created}", highlight=False)
    console.print(f"  folder: {found.path}", highlight=False)
    console.print(f"  model: {m.get('backbone')} + {m.get('learner')}, {m.get('modality')}, classes "
                  f"{', '.join(m.get('classes') or [])}, {m.get('n_examples')} examples", highlight=False)
    console.print(f"  cv balanced accuracy: {brief(m.get('cv_balanced_accuracy'))}", highlight=False)
    if m.get("holdout"):
        console.print(f"  held-out accuracy: {m['holdout']['accuracy']:.3f} (n={m['holdout']['n']})", highlight=False)
    console.print(f"  data fingerprint: {found.fingerprint}", highlight=False)
    console.print(f"  data sources: {', '.join(found.sources) or '(not recorded)'}", highlight=False)
    if found.comparison:
        show_comparison(found.comparison)


@models_app.command("promote", cls=Command)
def models_promote(name: NameArgument, version: VersionArgument, root: RegistryRoot = None,
                   quiet: Quiet = False) -> None:
    """Serve VERSION of NAME from now on (a running handful serve picks it up within about a second)."""
    setup(quiet)
    registry = open_registry(root)
    try:
        found = registry.promote(name, version)
    except ValueError as error:
        fail(str(error))
    if not quiet:
        console.print(f"{found.label} is now the promoted version.", highlight=False)


@models_app.command("rollback", cls=Command)
def models_rollback(name: NameArgument, root: RegistryRoot = None, quiet: Quiet = False) -> None:
    """Promote again the version of NAME that was promoted before the current one."""
    setup(quiet)
    registry = open_registry(root)
    try:
        found = registry.rollback(name)
    except ValueError as error:
        fail(str(error))
    if not quiet:
        console.print(f"Rolled back: {found.label} is the promoted version again.", highlight=False)


@models_app.command("delete", cls=Command)
def models_delete(
    name: NameArgument,
    version: VersionArgument,
    root: RegistryRoot = None,
    force: Annotated[bool, typer.Option("--force", help="Delete even the promoted version (the previous promoted "
                                                          "one is served again).")] = False,
    quiet: Quiet = False,
) -> None:
    """Delete VERSION of NAME: its registry entry and its model folder (never your data)."""
    setup(quiet)
    registry = open_registry(root)
    try:
        after = registry.delete(name, version, force=force)
    except ValueError as error:
        fail(str(error))
    number = parse_version(version)
    if not quiet:
        console.print(f"Deleted {name} v{number}." + (f" {after.label} is the promoted version." if after else ""),
                      highlight=False)


def update(
    name: NameArgument,
    data: Annotated[Path, typer.Argument(help="New labelled examples (same layout as for train).")],
    root: RegistryRoot = None,
    output_format: OutputFormat = "table",
    json_output: JsonOutput = False,
    quiet: Quiet = False,
) -> None:
    """Retrain NAME on its training data plus DATA; promote the new version only if it is not worse.

    Both are refitted on each training part of the same cross-validation folds of the combined data (the old
    version's backbone and head on its old examples only) and scored on the held-out old examples, whose labels
    were already trusted. Exit status 0 when the new version was promoted, 3 when it was registered but not
    promoted (the promoted version keeps serving).
    """
    setup(quiet)
    output_format = "json" if json_output else check_format(output_format)
    registry = open_registry(root)
    try:
        result = update_version(registry, name, data, verbose=0 if quiet or output_format != "table" else 1)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        fail(str(error))
    if output_format == "json":
        sys.stdout.write(json.dumps({"old": result.old.as_dict(), "new": result.new.as_dict()}, indent=2) + "\n")
    elif output_format == "csv":  # the two versions compared: the old, then the new
        print_csv(VERSION_COLUMNS, [version_row(result.old), version_row(result.new)])
    elif not quiet:
        console.print(f"{result.new.label} trained on {result.comparison['n_old']} old + "
                      f"{result.comparison['n_new']} new examples.", highlight=False)
        show_comparison(result.comparison)
        console.print(registered(result.new, registry), highlight=False)
    if not result.promoted:
        raise typer.Exit(NOT_PROMOTED)


"""What to do next: check the labels, suggest what to label, write the report."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from handful.classifier import Classifier
from handful.cli.options import Backbones, LabelColumn, Modality, ModelFolder, OutputFormat, Quiet, Seed, TextColumn
from handful.cli.output import check_format, console, csv_output, fail, print_csv, setup, shown, write_csv
from handful.evaluation.suggest import DEFAULT as DEFAULT_METHOD

WHY = {"label": "another class is confidently more likely", "outlier": "unlike every other example",
       "disagrees": "a model trained without it predicts another class"}


def check(
    data: Annotated[Path, typer.Argument(help="A folder of class folders, or a CSV/TSV/JSONL of text and labels.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the findings to this CSV.")] = None,
    output_format: OutputFormat = "table",
    json_output: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
    top: Annotated[int, typer.Option("--top", "-n", min=1,
                                     help="How many suspicious examples and duplicate pairs to show.")] = 20,
    backbone: Backbones = None,
    modality: Modality = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    seed: Seed = 0,
    groups: Annotated[str | None, typer.Option(
        "--groups", help="Examples that belong together: a regular expression on the file paths (as for train), so "
        "a label is judged by models that did not see its group.")] = None,
    group_column: Annotated[str | None, typer.Option(help="A table's column naming each row's group.")] = None,
    quiet: Quiet = False,
) -> None:
    """Find likely wrong labels, examples unlike any class, and near-duplicates in DATA (fits the fast preset)."""
    setup(quiet)
    output_format = "json" if json_output else check_format(output_format)
    header = ["rank", "kind", "input", "given", "suggested", "score", "other_input", "other_label"]
    output = csv_output(output, header, "a CSV of findings", "findings.csv")
    clf = Classifier(preset="fast", backbone=backbone or None, modality=modality, random_state=seed,
                             text_column=text_column, label_column=label_column, group_column=group_column,
                             verbose=0 if quiet or output_format != "table" else 1)
    try:
        clf.fit(data, groups=groups)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        fail(str(error))
    found = clf.label_issues_
    rows = [[rank, e["kind"], e["text"] or e["source"], e["given"], e["suggested"], e["score"], "", ""]
            for rank, e in enumerate(found["examples"], start=1)]
    rows += [[rank, "duplicate conflict" if d["conflict"] else "duplicate", d["first_source"], d["first_label"], "",
              d["similarity"], d["second_source"], d["second_label"]]
             for rank, d in enumerate(found["duplicates"], start=1)]
    if output is not None:
        write_csv(output, header, rows)
    if output_format == "json":
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return
    if output_format == "csv":
        print_csv(header, rows)
        return
    if quiet:
        return
    # Paths relative to the data folder, whole; a long one wraps in its cell (fold) rather than losing its middle.
    root = data if data.is_dir() else data.parent
    if found["examples"]:
        table = Table(title=f"Flagged: check these labels ({found['n_flagged']} of {clf.n_examples_} examples)")
        for column in ("#", "example", "given", "suggested", "why", "score"):
            table.add_column(column, overflow="fold", min_width=12 if column == "example" else None)
        for rank, e in enumerate(found["examples"][:top], start=1):
            table.add_row(str(rank), shown(e, root=root), e["given"], e["suggested"], WHY.get(e["kind"], e["kind"]),
                          f"{e['score']:.3f}")
        console.print(table)
        if found.get("caution"):
            console.print(f"[yellow]{escape(found['caution'])}.[/]", highlight=False)
    else:
        console.print(f"No example of {clf.n_examples_} is flagged: no label looks wrong to a model trained "
                      "without it, and none is unlike every other. The ranking, flagged or not, is under "
                      '"ranking" in --json.')
    if found["duplicates"]:
        pairs = Table(title=f"Near-duplicates (cosine similarity ≥ {found['duplicate_threshold']})")
        for column in ("first", "label", "second", "label ", "similarity"):
            pairs.add_column(column, overflow="fold", min_width=12 if column in ("first", "second") else None)
        for d in found["duplicates"][:top]:
            style = "bold yellow" if d["conflict"] else ""
            pairs.add_row(shown({"source": d["first_source"]}, root=root), d["first_label"],
                          shown({"source": d["second_source"]}, root=root), d["second_label"], f"{d['similarity']:.3f}",
                          style=style)
        console.print(pairs)
    if output is not None:
        console.print(f"Findings written to [bold]{escape(str(output))}[/]")


def suggest(
    model: ModelFolder,
    unlabelled: Annotated[Path, typer.Argument(
        help="A folder of unlabelled files (text models: a CSV or TXT). Training data (class folders, a labelled "
             "table) gives only its unlabelled/ folder or its rows without a label.")],
    n: Annotated[int, typer.Option("--top", "-n", min=1, help="How many examples to suggest.")] = 20,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the suggestions to this CSV.")] = None,
    method: Annotated[str | None, typer.Option(
        help="Strategy: cluster, diverse, or uncertainty alone: margin, entropy, least_confident. "
             f"Default: {DEFAULT_METHOD} (the one that did best in benchmarks/suggest.py).")] = None,
    output_format: OutputFormat = "table",
    quiet: Quiet = False,
) -> None:
    """Rank the UNLABELLED inputs worth labelling next: those MODEL is least sure of, unlike each other."""
    setup(quiet)
    output_format = check_format(output_format)
    try:
        clf = Classifier.load(model).set_params(verbose=0 if quiet else 1)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        fail(str(error))
    column = "text" if clf.modality_ == "text" else "file"
    header = ["rank", column, "predicted", "probability", "uncertainty"]
    output = csv_output(output, header, "a CSV of suggestions", "suggestions.csv")
    try:
        records = clf.suggest(unlabelled, n=n, method=method)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        fail(str(error))
    rows = [[r["rank"], r["input"], r["predicted"], r["probability"], r["uncertainty"]] for r in records]
    if output is not None:
        write_csv(output, header, rows)
    if output_format == "json":
        sys.stdout.write(json.dumps(records, indent=2, default=str) + "\n")
        return
    if output_format == "csv":
        print_csv(header, rows)
        return
    if quiet:
        return
    table = Table("#", column, "predicted", "probability", "uncertainty", title="Label these next")
    for r in records:
        table.add_row(str(r["rank"]), shown(r), r["predicted"], f"{r['probability']:.2f}", f"{r['uncertainty']:.3f}")
    console.print(table)
    if output is not None:
        console.print(f"Suggestions written to [bold]{escape(str(output))}[/]")


def report(
    model: ModelFolder,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path("report.html"),
    quiet: Quiet = False,
) -> None:
    """Write MODEL's report as one self-contained HTML file: scores, mistakes, learning curve, what to do next."""
    setup(quiet)
    try:
        saved = Classifier.load(model).report_.save(output)
    except (ValueError, TypeError, FileNotFoundError, OSError) as error:
        fail(str(error))
    if not quiet:
        console.print(f"Report written to [bold]{escape(str(saved))}[/]; open it in a web browser.")


"""The ``handful`` command: train, evaluate, predict, list backbones, and a demo. It calls the public API only."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

import handful
from handful.artifacts import store

app = typer.Typer(
    help="handful: a handful of labelled examples in, a model you can trust out. Offline, on a CPU.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

TABLES = (".csv", ".tsv", ".jsonl", ".ndjson")
Backbones = Annotated[list[str] | None, typer.Option("--backbone", help="Backbone(s) to try instead of the preset's.")]
Modality = Annotated[str | None, typer.Option(help="image, text or audio (inferred when omitted).")]
TextColumn = Annotated[str | None, typer.Option(help="Text column of a table.")]
LabelColumn = Annotated[str | None, typer.Option(help="Label column of a table.")]
Seed = Annotated[int, typer.Option(help="Random seed: the same seed and data give the same result.")]
ModelFolder = Annotated[Path, typer.Argument(help="A saved model folder.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or tables; errors only.")]
RegistryRoot = Annotated[Path | None, typer.Option(
    help="The model registry folder (default: $HANDFUL_HOME, else ./models).", show_default=False)]


def _setup(quiet: bool) -> None:
    level = logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=errors, show_path=False)],
                        force=True)


def _fail(message: str, code: int = 1) -> None:
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)


def _interval(estimate: dict[str, Any] | None) -> str:
    if not estimate:
        return "-"
    return f"{estimate['mean']:.3f} ± {estimate['std']:.3f}  [{estimate['low']:.3f}, {estimate['high']:.3f}]"


def _show_training(clf: handful.Classifier, out: Path | None) -> None:
    table = Table(title="Leaderboard (repeated stratified cross-validation)", show_lines=False)
    for column in ("backbone", "head", "kind", "balanced accuracy: mean ± sd [95% CI]", "seconds"):
        table.add_column(column)
    for row in clf.leaderboard_:
        augmented = bool(row.get("augment"))
        chosen = (row["backbone"] == clf.backbone_ and row["learner"] == clf.learner_
                  and augmented == bool(getattr(clf, "augment_", "")))
        score = _interval(row["balanced_accuracy"]) if row["status"] == "ok" else f"{row['status']}: {row['message']}"
        style = "bold green" if chosen else ("dim" if row["status"] != "ok" else "")
        head = f"{row['learner']} + augmented" if augmented else row["learner"]
        table.add_row(row["backbone"], head, row["kind"], score, f"{row['seconds']:.1f}", style=style)
    console.print(table)
    console.print(f"Chosen: [bold]{clf.backbone_} + {clf.learner_}[/], "
                  f"cross-validated balanced accuracy {_interval(clf.cv_score_.as_dict() if clf.cv_score_ else None)}"
                  f" over {clf.n_folds_} folds")
    record = getattr(clf, "augmentation_", None)
    if record and record.get("tried"):
        gains = ", ".join(f"{g['learner']} {g['gain']:+.3f}" for g in record.get("gains", []))
        console.print(f"Augmentation ({record['strength']}, {record['views']} views: {', '.join(record['transforms'])})"
                      f" {'used' if record['used'] else 'not used'}; gain over the same head without it: {gains}",
                      highlight=False)
    if clf.baseline_ and clf.baseline_["balanced_accuracy"]:
        console.print(f"Baseline ({clf.baseline_['backbone']}): {_interval(clf.baseline_['balanced_accuracy'])}")
    if clf.holdout_:
        low, high = clf.holdout_["accuracy_interval"]
        console.print(f"Held-out accuracy: [bold]{clf.holdout_['accuracy']:.3f}[/] (95% CI {low:.3f}-{high:.3f}, "
                      f"n={clf.holdout_['n']})")
    skipped = [p for p in clf.problems_ if getattr(p, "action", "skipped") == "skipped"]
    if clf.problems_:
        console.print(f"[yellow]{len(clf.problems_)} problem(s) in the data[/] ({len(skipped)} file(s) skipped):")
        for problem in clf.problems_[:10]:
            console.print(f"  {problem}", highlight=False)
    curve = getattr(clf, "learning_curve_", None)
    if curve is not None and not curve.skipped and curve.verdict:
        console.print(f"More data: {curve.verdict}", highlight=False)
    diagnosis = getattr(clf, "diagnosis_", None)
    if diagnosis is not None:
        console.print(f"Diagnosis: [bold]{diagnosis.verdict}[/]. {diagnosis.headline}", highlight=False)
        for advice in diagnosis.advice[:3]:
            console.print(f"  - {advice}", highlight=False)
    if out is not None:
        console.print(f"Model saved to [bold]{out}[/] ({clf.fit_seconds_:.0f} s). "
                      f"Full report: handful report {out} -o report.html")


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="A folder of class folders, or a CSV/TSV/JSONL of text and labels.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Folder to save the model in (default: ./model), unless --name registers it.")] = None,
    name: Annotated[str | None, typer.Option(
        help="Register the model as a new version of NAME in the registry at --root.")] = None,
    root: RegistryRoot = None,
    preset: Annotated[str, typer.Option(help="best (default) or fast.")] = "best",
    backbone: Backbones = None,
    learner: Annotated[
        list[str] | None, typer.Option(help="Head(s): linear, mlp, cosine, prototypes, finetune.")] = None,
    modality: Modality = None,
    time_budget: Annotated[float | None, typer.Option(help="Seconds for the model search.")] = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    seed: Seed = 0,
    augment: Annotated[str | None, typer.Option(
        help="Augmentation: off, light, medium, strong; switch transforms off with e.g. no-flip,no-rotate; "
             "views=N; or a JSON/TOML file. Default: the preset's (best: light, kept only if it helps).")] = None,
    quiet: Quiet = False,
) -> None:
    """Train on DATA, choose the best model by cross-validation, and save it (or register it with --name)."""
    _setup(quiet)
    registry = None
    if name is not None:
        if output is not None:
            _fail("give --output (a plain model folder) or --name (a version in the registry), not both.", 2)
        try:
            registry = handful.Registry(_root(root), create=True)
            store.check_name(name)
        except (ValueError, OSError) as error:
            _fail(str(error), 2)
    clf = handful.Classifier(
        preset=preset, backbone=backbone or None, learners=learner or None, modality=modality,
        time_budget=time_budget, random_state=seed, text_column=text_column, label_column=label_column,
        verbose=0 if quiet else 1, augment=augment,
    )
    try:
        clf.fit(data)
        if registry is None or name is None:
            saved = clf.save(output or Path("model"))
        else:
            version = registry.add(name, clf.save)
            saved = version.path
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        _fail(str(error))
    if not quiet:
        _show_training(clf, saved)
        if registry is not None:
            console.print(_registered(version, registry), highlight=False)


@app.command()
def evaluate(
    model: ModelFolder,
    data: Annotated[Path, typer.Argument(help="Labelled data the model never saw (same layout as for train).")],
    json_output: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
    quiet: Quiet = False,
) -> None:
    """Score MODEL on labelled DATA: accuracy with a 95% interval, balanced accuracy, per-class scores."""
    _setup(quiet)
    try:
        metrics = handful.load(model).evaluate(data)
    except (ValueError, TypeError, FileNotFoundError) as error:
        _fail(str(error))
    if json_output:
        sys.stdout.write(json.dumps(metrics, indent=2) + "\n")
        return
    low, high = metrics["accuracy_interval"]
    console.print(f"Accuracy {metrics['accuracy']:.3f} (95% CI {low:.3f}-{high:.3f}) on {metrics['n']} examples; "
                  f"balanced accuracy {metrics['balanced_accuracy']:.3f}")
    table = Table("class", "precision", "recall", "support")
    for name, scores in metrics["per_class"].items():
        table.add_row(name, *(f"{scores[k]:.3f}" if scores[k] is not None else "-" for k in ("precision", "recall")),
                      str(scores["support"]))
    console.print(table)
    for problem in metrics["problems"][:20]:
        console.print(f"[yellow]skipped[/] {problem}", highlight=False)


@app.command()
def predict(
    model: ModelFolder,
    inputs: Annotated[list[str], typer.Argument(help="Files, a folder, or (text models) sentences or a table.")],
    output_format: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    top_k: Annotated[int, typer.Option(help="How many labels to show per input.")] = 3,
    quiet: Quiet = False,
) -> None:
    """Predict labels for INPUTS; unreadable inputs are reported and the rest still predicted."""
    _setup(quiet)
    if output_format not in ("table", "json", "csv"):
        _fail(f"--format must be table, json or csv, got {output_format!r}", 2)
    try:
        clf = handful.load(model)
        target: Any = inputs
        if len(inputs) == 1 and Path(inputs[0]).is_dir():
            target = inputs[0]
        elif clf.modality_ == "text" and len(inputs) == 1 and Path(inputs[0]).suffix.lower() in TABLES:
            target = inputs[0]
        records = clf.predict_records(target, top_k=top_k)
    except (ValueError, TypeError, FileNotFoundError) as error:
        _fail(str(error))
    if output_format == "json":
        sys.stdout.write(json.dumps(records, indent=2, default=str) + "\n")
    elif output_format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(["input", "label", "probability", "error"])
        for r in records:
            top = r.get("top", [{}])
            writer.writerow([r["input"], r.get("label", ""), top[0].get("probability", "") if top else "",
                             r.get("error", "")])
    else:
        table = Table("input", "prediction", "top labels")
        for r in records:
            if "error" in r:
                table.add_row(str(r["input"]), "[red]error[/]", r["error"])
            else:
                table.add_row(str(r["input"])[:80], str(r["label"]),
                              ", ".join(f"{t['label']} {t['probability']:.2f}" for t in r["top"]))
        console.print(table)
    if any("error" in r for r in records):
        raise typer.Exit(1)


@app.command()
def backbones(
    modality: Annotated[str | None, typer.Option(help="Only this modality.")] = None,
    all_kinds: Annotated[bool, typer.Option("--all", help="Include the tiny test backbones.")] = False,
) -> None:
    """List the backbones that work offline, with their licences and whether they are installed."""
    table = Table("name", "modality", "kind", "dim", "installed", "licence", "description")
    for spec in handful.list_backbones(modality):
        if spec.kind == "test" and not all_kinds:
            continue
        installed = "yes" if spec.available() else f"no: {spec.install or 'pip install ' + str(spec.package)}"
        table.add_row(spec.name, spec.modality, spec.kind, str(spec.dim), installed, spec.licence, spec.description)
    console.print(table)


@app.command()
def demo(
    folder: Annotated[Path, typer.Option(help="Where to write the example images and the model.")] = Path(
        "handful-demo"
    ),
    per_class: Annotated[int, typer.Option(help="Training images per digit.")] = 20,
    quiet: Quiet = False,
) -> None:
    """Train on a bundled example (handwritten digits from scikit-learn) and show the result."""
    _setup(quiet)
    from handful.examples import write_digits

    train_dir, test_dir = write_digits(folder / "digits", per_class=per_class, seed=0)
    if not quiet:
        console.print(f"Wrote {per_class} training images per digit to {train_dir} (held-out: {test_dir})")
    clf = handful.Classifier(preset="fast", random_state=0, verbose=0 if quiet else 1).fit(train_dir)
    saved = clf.save(folder / "model")
    metrics = clf.evaluate(test_dir)
    if quiet:
        return
    _show_training(clf, saved)
    low, high = metrics["accuracy_interval"]
    console.print(f"On {metrics['n']} held-out digits: accuracy [bold]{metrics['accuracy']:.3f}[/] "
                  f"(95% CI {low:.3f}-{high:.3f})")
    console.print(f"Try: handful predict {saved} {next(iter(sorted(test_dir.glob('*/*.png'))))}")


def _shown(record: dict[str, Any], width: int = 70) -> str:
    """A record's text (its start) or file path (its end), cut to ``width`` characters."""
    text = record.get("text")
    if text:
        return text if len(text) <= width else text[: width - 1] + "…"
    path = str(record.get("source") or record.get("input") or "")
    return path if len(path) <= width else "…" + path[-(width - 1):]


@app.command()
def check(
    data: Annotated[Path, typer.Argument(help="A folder of class folders, or a CSV/TSV/JSONL of text and labels.")],
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Also write the findings to this CSV.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the findings as JSON.")] = False,
    top: Annotated[int, typer.Option(help="How many suspicious examples and duplicate pairs to show.")] = 20,
    backbone: Backbones = None,
    modality: Modality = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    seed: Seed = 0,
    quiet: Quiet = False,
) -> None:
    """Find likely wrong labels, examples unlike any class, and near-duplicates in DATA (fits the fast preset)."""
    _setup(quiet)
    clf = handful.Classifier(preset="fast", backbone=backbone or None, modality=modality, random_state=seed,
                             text_column=text_column, label_column=label_column,
                             verbose=0 if quiet or json_output else 1)
    try:
        clf.fit(data)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        _fail(str(error))
    found = clf.label_issues_
    if output is not None:
        rows = [[rank, e["kind"], e["text"] or e["source"], e["given"], e["suggested"], e["score"], "", ""]
                for rank, e in enumerate(found["examples"], start=1)]
        rows += [[rank, "duplicate conflict" if d["conflict"] else "duplicate", d["first_source"], d["first_label"], "",
                  d["similarity"], d["second_source"], d["second_label"]]
                 for rank, d in enumerate(found["duplicates"], start=1)]
        _write_csv(output, ["rank", "kind", "input", "given", "suggested", "score", "other_input", "other_label"], rows)
    if json_output:
        sys.stdout.write(json.dumps(found, indent=2) + "\n")
        return
    if quiet:
        return
    table = Table(title=f"Suspicious examples ({found['n_flagged']} flagged of {clf.n_examples_})")
    for column in ("#", "example", "given", "suggested", "why", "score"):
        table.add_column(column)
    why = {"label": "another class is confidently more likely", "outlier": "unlike every other example"}
    for rank, e in enumerate(found["examples"][:top], start=1):
        table.add_row(str(rank), _shown(e), e["given"], e["suggested"], why.get(e["kind"], e["kind"]),
                      f"{e['score']:.3f}")
    console.print(table)
    if found["duplicates"]:
        pairs = Table(title=f"Near-duplicates (cosine similarity ≥ {found['duplicate_threshold']})")
        for column in ("first", "label", "second", "label ", "similarity"):
            pairs.add_column(column)
        for d in found["duplicates"][:top]:
            style = "bold yellow" if d["conflict"] else ""
            pairs.add_row(_shown({"source": d["first_source"]}, 40), d["first_label"],
                          _shown({"source": d["second_source"]}, 40), d["second_label"], f"{d['similarity']:.3f}",
                          style=style)
        console.print(pairs)
    if output is not None:
        console.print(f"Findings written to [bold]{output}[/]")


@app.command()
def suggest(
    model: ModelFolder,
    unlabelled: Annotated[Path, typer.Argument(help="A folder of unlabelled files (text models: a CSV or TXT).")],
    n: Annotated[int, typer.Option("-n", help="How many examples to suggest.")] = 20,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="Write the suggestions to this CSV.")] = None,
    method: Annotated[str | None, typer.Option(
        help="Strategy: cluster, diverse, or uncertainty alone: margin, entropy, least_confident. "
             "Default: the one that did best in benchmarks/suggest.py.")] = None,
    quiet: Quiet = False,
) -> None:
    """Rank the UNLABELLED inputs worth labelling next: those MODEL is least sure of, unlike each other."""
    _setup(quiet)
    try:
        clf = handful.load(model)
        records = clf.suggest(unlabelled, n=n, method=method)
    except (ValueError, TypeError, FileNotFoundError) as error:
        _fail(str(error))
    column = "text" if clf.modality_ == "text" else "file"
    if output is not None:
        _write_csv(output, ["rank", column, "predicted", "probability", "uncertainty"],
                   [[r["rank"], r["input"], r["predicted"], r["probability"], r["uncertainty"]] for r in records])
    if quiet:
        return
    table = Table("#", column, "predicted", "probability", "uncertainty", title="Label these next")
    for r in records:
        table.add_row(str(r["rank"]), _shown(r), r["predicted"], f"{r['probability']:.2f}", f"{r['uncertainty']:.3f}")
    console.print(table)
    if output is not None:
        console.print(f"Suggestions written to [bold]{output}[/]")


@app.command()
def report(
    model: ModelFolder,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path("report.html"),
    quiet: Quiet = False,
) -> None:
    """Write MODEL's report as one self-contained HTML file: scores, mistakes, learning curve, what to do next."""
    _setup(quiet)
    try:
        saved = handful.load(model).report_.save(output)
    except (ValueError, TypeError, FileNotFoundError, OSError) as error:
        _fail(str(error))
    if not quiet:
        console.print(f"Report written to [bold]{saved}[/]; open it in a web browser.")


@app.command()
def serve(
    model: Annotated[Path, typer.Argument(help="A saved model folder, a folder whose sub-folders are models, or a "
                                               "model registry root (its promoted versions, kept current).")],
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    quiet: Quiet = False,
) -> None:
    """Serve MODEL over HTTP: a test page at /, the API under /v1, its schema at /openapi.json.

    Settings from the environment: HANDFUL_API_KEY (then every /v1 call needs the X-API-Key header),
    HANDFUL_MAX_UPLOAD_MB, HANDFUL_MAX_BATCH, HANDFUL_MAX_TEXT_CHARS, HANDFUL_MAX_IMAGE_PIXELS,
    HANDFUL_MAX_AUDIO_SECONDS. Docs work offline at /docs and /redoc.
    """
    _setup(quiet)
    import uvicorn

    from handful.serve import create_app

    try:
        api = create_app(model)
    except (ValueError, TypeError, FileNotFoundError) as error:
        _fail(str(error))
    if not quiet:
        console.print(f"Serving on [bold]http://{host}:{port}/[/] (API docs: /docs, schema: /openapi.json)")
    uvicorn.run(api, host=host, port=port, log_level="warning" if quiet else "info")


@app.command()
def export(
    model: ModelFolder,
    format: Annotated[str, typer.Option("--format", help="Export format: onnx.")] = "onnx",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="The file to write (default: MODEL.onnx).")] = None,
    sample: Annotated[list[str] | None, typer.Option(
        "--sample", help="An input (image file, or text) for the parity check; repeat it. Default: generated.")] = None,
    tolerance: Annotated[float, typer.Option(help="Largest accepted difference in probabilities.")] = 1e-4,
    quiet: Quiet = False,
) -> None:
    """Export MODEL (backbone + head) to ONNX with a JSON sidecar for runners, checked against PyTorch."""
    _setup(quiet)
    from handful.export import MissingExportDependencyError, ParityError, export_onnx

    if format != "onnx":
        _fail(f"unknown export format {format!r}; the only one is onnx (--format onnx).")
    try:
        result = export_onnx(model, out, sample or None, tolerance)
    except (MissingExportDependencyError, ParityError, ValueError, FileNotFoundError, OSError) as error:
        _fail(str(error))
    if not quiet:
        console.print(f"Exported to [bold]{result.path}[/] ({result.bytes / 1e6:.1f} MB, {result.seconds:.1f} s); "
                      f"runner metadata in {result.sidecar}")
    console.print(f"Parity with PyTorch on {result.n_checked} inputs: largest absolute difference in probabilities "
                  f"{result.max_abs_diff:.2e} (tolerance {result.tolerance:.0e})", highlight=False)


# ---------------------------------------------------------------------- the model registry
models_app = typer.Typer(help="Registered models and their versions: list, show, promote, rollback, delete.",
                         no_args_is_help=True)
app.add_typer(models_app, name="models")
VersionArgument = Annotated[str, typer.Argument(help="A version: v3 or 3.")]
NameArgument = Annotated[str, typer.Argument(help="The registered model's name.")]
JsonOutput = Annotated[bool, typer.Option("--json", help="Print JSON.")]
NOT_PROMOTED = 3  # exit status of `handful update` when the new version was registered but not promoted


def _root(root: Path | None) -> Path:
    return root if root is not None else store.default_root()


def _registry(root: Path | None) -> handful.Registry:
    try:
        return handful.Registry(_root(root))
    except (ValueError, OSError) as error:
        _fail(str(error))
        raise  # unreachable: _fail exits


def _registered(version: store.Version, registry: handful.Registry) -> str:
    if version.promoted:
        return (f"Registered {version.label} in {registry.root}; it is the promoted version "
                f"(handful serve {registry.root} serves it).")
    serving = registry.promoted().get(version.name)
    now = f"v{serving.version} stays promoted" if serving else "no version is promoted"
    return (f"Registered {version.label} in {registry.root}, not promoted: {now}. "
            f"Promote it with: handful models promote {version.name} v{version.version}")


def _brief(estimate: dict[str, Any] | None) -> str:
    return f"{estimate['mean']:.3f} [{estimate['low']:.3f}, {estimate['high']:.3f}]" if estimate else "-"


@models_app.command("list")
def models_list(
    name: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
    root: RegistryRoot = None,
    json_output: JsonOutput = False,
) -> None:
    """List registered versions: status (production, ready, retired, refused), scores, data size."""
    registry = _registry(root)
    try:
        versions = registry.versions(name)
        if name is not None:
            registry.get(name, versions[0].version if versions else 1)  # an unknown name says what is known
    except ValueError as error:
        _fail(str(error))
    if json_output:
        sys.stdout.write(json.dumps([v.as_dict() for v in versions], indent=2) + "\n")
        return
    table = Table("name", "version", "status", "created (UTC)", "cv balanced acc. [95% CI]", "held-out acc.",
                  "examples", "model", title=f"Models in {registry.root}")
    for v in versions:
        holdout = v.metrics.get("holdout") or {}
        table.add_row(v.name, f"v{v.version}", v.status, v.created[:16].replace("T", " "),
                      _brief(v.metrics.get("cv_balanced_accuracy")),
                      f"{holdout['accuracy']:.3f}" if holdout.get("accuracy") is not None else "-",
                      str(v.metrics.get("n_examples", "-")),
                      f"{v.metrics.get('backbone')} + {v.metrics.get('learner')}",
                      style="bold green" if v.promoted else ("dim" if v.status in ("retired", "refused") else ""))
    console.print(table)
    if not versions:
        console.print("No model registered yet: handful train DATA --name NAME", highlight=False)


@models_app.command("show")
def models_show(
    name: NameArgument,
    version: Annotated[str | None, typer.Argument(help="A version (default: the promoted one).")] = None,
    root: RegistryRoot = None,
    json_output: JsonOutput = False,
) -> None:
    """Show one version: where it is, its metrics, its data (fingerprint, sources), and how it compared."""
    registry = _registry(root)
    try:
        found = registry.get(name, version)
    except ValueError as error:
        _fail(str(error))
    details = {**found.as_dict(), "history": registry.history(name)}
    if json_output:
        sys.stdout.write(json.dumps(details, indent=2) + "\n")
        return
    m = found.metrics
    console.print(f"[bold]{found.label}[/] ({found.status}), created {found.created}", highlight=False)
    console.print(f"  folder: {found.path}", highlight=False)
    console.print(f"  model: {m.get('backbone')} + {m.get('learner')}, {m.get('modality')}, classes "
                  f"{', '.join(m.get('classes') or [])}, {m.get('n_examples')} examples", highlight=False)
    console.print(f"  cv balanced accuracy: {_brief(m.get('cv_balanced_accuracy'))}", highlight=False)
    if m.get("holdout"):
        console.print(f"  held-out accuracy: {m['holdout']['accuracy']:.3f} (n={m['holdout']['n']})", highlight=False)
    console.print(f"  data fingerprint: {found.fingerprint}", highlight=False)
    console.print(f"  data sources: {', '.join(found.sources) or '(not recorded)'}", highlight=False)
    if found.comparison:
        _show_comparison(found.comparison)


def _show_comparison(c: dict[str, Any]) -> None:
    console.print(f"  compared with v{c['old_version']} on the same {c['n_folds']} folds "
                  f"({c['n_old']} old + {c['n_new']} new examples):", highlight=False)
    for side in ("old", "new"):
        console.print(f"    {side}: {c[side]['backbone']} + {c[side]['learner']}, balanced accuracy on held-out old "
                      f"examples {c[side]['mean']:.3f} (on all held-out examples {c[side]['mean_all_examples']:.3f})",
                      highlight=False)
    console.print("    per-fold difference (new - old): " + " ".join(f"{d:+.2f}" for d in c["difference"]),
                  highlight=False)
    verdict = "[bold green]promoted[/]" if c["promote"] else "[bold yellow]not promoted[/]"
    console.print(f"    {verdict}: {c['reason']}", highlight=False)


@models_app.command("promote")
def models_promote(name: NameArgument, version: VersionArgument, root: RegistryRoot = None) -> None:
    """Serve VERSION of NAME from now on (a running handful serve picks it up within about a second)."""
    registry = _registry(root)
    try:
        found = registry.promote(name, version)
    except ValueError as error:
        _fail(str(error))
    console.print(f"{found.label} is now the promoted version.", highlight=False)


@models_app.command("rollback")
def models_rollback(name: NameArgument, root: RegistryRoot = None) -> None:
    """Promote again the version of NAME that was promoted before the current one."""
    registry = _registry(root)
    try:
        found = registry.rollback(name)
    except ValueError as error:
        _fail(str(error))
    console.print(f"Rolled back: {found.label} is the promoted version again.", highlight=False)


@models_app.command("delete")
def models_delete(
    name: NameArgument,
    version: VersionArgument,
    root: RegistryRoot = None,
    force: Annotated[bool, typer.Option("--force", help="Delete even the promoted version (the previous promoted "
                                                          "one is served again).")] = False,
) -> None:
    """Delete VERSION of NAME: its registry entry and its model folder (never your data)."""
    registry = _registry(root)
    try:
        after = registry.delete(name, version, force=force)
    except ValueError as error:
        _fail(str(error))
    number = store.parse_version(version)
    console.print(f"Deleted {name} v{number}." + (f" {after.label} is the promoted version." if after else ""),
                  highlight=False)


@app.command()
def update(
    name: NameArgument,
    data: Annotated[Path, typer.Argument(help="New labelled examples (same layout as for train).")],
    root: RegistryRoot = None,
    json_output: JsonOutput = False,
    quiet: Quiet = False,
) -> None:
    """Retrain NAME on its training data plus DATA; promote the new version only if it is not worse.

    Both are refitted on each training part of the same cross-validation folds of the combined data (the old
    version's backbone and head on its old examples only) and scored on the held-out old examples, whose labels
    were already trusted. Exit status 0 when the new version was promoted, 3 when it was registered but not
    promoted (the promoted version keeps serving).
    """
    _setup(quiet)
    registry = _registry(root)
    try:
        result = handful.update(registry, name, data, verbose=0 if quiet or json_output else 1)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        _fail(str(error))
    if json_output:
        sys.stdout.write(json.dumps({"old": result.old.as_dict(), "new": result.new.as_dict()}, indent=2) + "\n")
    elif not quiet:
        console.print(f"{result.new.label} trained on {result.comparison['n_old']} old + "
                      f"{result.comparison['n_new']} new examples.", highlight=False)
        _show_comparison(result.comparison)
        console.print(_registered(result.new, registry), highlight=False)
    if not result.promoted:
        raise typer.Exit(NOT_PROMOTED)


def main() -> None:  # pragma: no cover - console entry point
    app()

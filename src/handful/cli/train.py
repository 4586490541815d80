"""Train, evaluate and predict; list the backbones; the demo."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from handful.artifacts.evaluations import EVALUATIONS, record_evaluation
from handful.artifacts.safety import check_output
from handful.artifacts.store import Registry, check_name
from handful.backbones import list_backbones
from handful.classifier import Classifier
from handful.cli.models import registry_root
from handful.cli.options import (
    TABLES,
    Backbones,
    LabelColumn,
    Modality,
    ModelFolder,
    OutputFormat,
    Quiet,
    RegistryRoot,
    Seed,
    TextColumn,
)
from handful.cli.output import (
    LEADERBOARD_COLUMNS,
    check_format,
    console,
    errors,
    fail,
    leaderboard_rows,
    print_csv,
    registered,
    relative,
    setup,
    show_training,
    training_record,
)
from handful.data.decode import AUDIO_SUFFIXES, IMAGE_SUFFIXES
from handful.data.tables import text_lines


def train(
    data: Annotated[Path, typer.Argument(help="A folder of class folders, or a CSV/TSV/JSONL of text and labels.")],
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Folder to save the model in (default: ./model), unless --name registers it.")] = None,
    name: Annotated[str | None, typer.Option(
        help="Register the model as a new version of NAME in the registry at --root.")] = None,
    root: RegistryRoot = None,
    preset: Annotated[str, typer.Option(metavar="best|fast", help="How hard to search: best or fast.")] = "best",
    backbone: Backbones = None,
    learner: Annotated[
        list[str] | None, typer.Option(metavar="NAME", help=(
            "Head(s): linear, mlp, cosine, prototypes, finetune, self-training, co-training, "
            "label-spreading, autoencoder, vae, vae-examples, ensemble."))] = None,
    modality: Modality = None,
    time_budget: Annotated[float | None, typer.Option(metavar="SECONDS", help="Seconds for the model search.")] = None,
    text_column: TextColumn = None,
    label_column: LabelColumn = None,
    seed: Seed = 0,
    augment: Annotated[str | None, typer.Option(
        help="Augmentation: off, light, medium, strong; switch transforms off with e.g. no-flip,no-rotate; "
             "views=N; or a JSON/TOML file. Default: the preset's (best: light, kept only if it helps).")] = None,
    ray: Annotated[str | None, typer.Option(
        "--ray", metavar="ADDRESS", envvar="HANDFUL_RAY_ADDRESS",
        help="Score the candidates on the Ray cluster at ADDRESS (host:port of its head) instead of this machine; "
             'needs pip install "handful\\[ray]".')] = None,
    unlabelled: Annotated[Path | None, typer.Option(
        metavar="FILE_OR_FOLDER",
        help="Unlabelled inputs to learn from too: a folder of files, or for text a CSV/TSV/JSONL/TXT file (an "
             "unlabelled/ folder in DATA and table rows without a label are used anyway).")] = None,
    unlabelled_cap: Annotated[int | None, typer.Option(
        help="The most unlabelled inputs to use; beyond it a random sample of this size (drawn with --seed). "
             "Default: 4 for each labelled example, at least 500 and at most 2000.")
    ] = None,
    profile: Annotated[bool, typer.Option(
        "--profile", help="Show where the training time went: seconds per stage (reading, embedding per backbone, "
                          "each candidate's cross-validation, refit, review, saving).")] = False,
    groups: Annotated[str | None, typer.Option(
        "--groups", metavar="REGEX",
        help="Examples that belong together (a speaker, a patient, a session): a regular expression "
        "searched in each file's path relative to DATA; its named group 'group' (else its first capture group) is "
        "the group, e.g. '_(?P<group>\\[a-z]+)_\\d+\\.wav$' or '^(?P<group>\\[^/]+)/'. Scores are then for new "
        "groups.")] = None,
    group_column: Annotated[str | None, typer.Option(help="A table's column naming each row's group.")] = None,
    output_format: Annotated[str, typer.Option(
        "--format", metavar="table|json|csv",
        help="How to print the result: the leaderboard and summary (table), the whole record (json), or one row "
             "per candidate tried (csv).")] = "table",
    quiet: Quiet = False,
) -> None:
    """Train on DATA, choose the best model by cross-validation, and save it (or register it with --name)."""
    setup(quiet)
    output_format = check_format(output_format)
    registry = None
    if name is not None:
        if output is not None:
            fail("give --output (a plain model folder) or --name (a version in the registry), not both.", 2)
        try:
            registry = Registry(registry_root(root), create=True)
            check_name(name)
        except (ValueError, OSError) as error:
            fail(str(error), 2)
    if registry is None:
        try:  # before training, not after an hour of it
            check_output(output or Path("model"), data)
        except ValueError as error:
            fail(str(error), 2)
    clf = Classifier(
        preset=preset, backbone=backbone or None, learners=learner or None, modality=modality,
        time_budget=time_budget, random_state=seed, text_column=text_column, label_column=label_column,
        verbose=0 if quiet or output_format != "table" else 1, augment=augment, ray=ray,
        unlabelled_cap=unlabelled_cap, group_column=group_column,
    )
    version = None
    try:
        clf.fit(data, unlabelled=unlabelled, groups=groups)
        started = time.perf_counter()
        if registry is None or name is None:
            saved = clf.save(output or Path("model"))
        else:
            version = registry.add(name, clf.save)
            saved = version.path
        saving = time.perf_counter() - started
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        fail(str(error))
    except KeyboardInterrupt:  # Typer would exit 130 without a word: say what was and was not kept
        target = f"{name} in {registry.root}" if registry is not None else str(output or Path("model"))
        errors.print(f"Interrupted: no model was saved, and {escape(target)} is as it was; the features embedded so "
                     "far are cached, so training again starts from them.", highlight=False, soft_wrap=True)
        raise typer.Exit(130) from None
    if output_format == "json":
        sys.stdout.write(json.dumps(training_record(clf, saved, version), indent=2, default=str) + "\n")
    elif output_format == "csv":
        print_csv(LEADERBOARD_COLUMNS, leaderboard_rows(clf))
    elif not quiet:
        show_training(clf, saved)
        if registry is not None and version is not None:
            console.print(registered(version, registry), highlight=False)
    if profile and output_format == "table":
        show_profile(clf, saving)


def show_profile(clf: Classifier, saving: float) -> None:
    """The stage table of the fit (``Classifier.timings_``) and the seconds it took to save the model."""
    from handful._timing import paths
    from handful._timing import table as stage_rows

    total = clf.fit_seconds_ + saving
    rows = Table("stage", "seconds", "share", "CPU seconds", title=f"Where the {total:.1f} s went")
    found = stage_rows({**clf.timings_, "save": saving}, total)
    cpu = getattr(clf, "timings_cpu_", {}) or {}
    for (stage, seconds, share), path in zip(found, paths(found), strict=True):
        used = cpu.get(path)
        rows.add_row(stage, f"{seconds:.2f}", "" if share is None else f"{share:.0%}",
                     "" if used is None else f"{used:.2f}")
    console.print(rows)
    console.print("A stage's seconds include those of the stages indented under it; CPU seconds count this "
                  "process only (not worker processes).", style="dim")


def evaluate(
    model: ModelFolder,
    data: Annotated[Path, typer.Argument(help="Labelled data the model never saw (same layout as for train).")],
    output_format: OutputFormat = "table",
    json_output: Annotated[bool, typer.Option("--json", help="Same as --format json.", hidden=True)] = False,
    quiet: Quiet = False,
) -> None:
    """Score MODEL on labelled DATA: accuracy with a 95% interval, balanced accuracy, per-class scores, calibration
    error, how often the prediction sets hold the true label, and how much of DATA is unlike what it learned."""
    setup(quiet)
    output_format = "json" if json_output else check_format(output_format)
    try:
        metrics = Classifier.load(model).set_params(verbose=0 if quiet else 1).evaluate(data)
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        fail(str(error))
    kept = ""
    try:  # kept with the model, for its report; a read-only model folder still gets its scores printed
        record_evaluation(model, {"data": str(data.expanduser().resolve()), **metrics})
        kept = f"Kept with the model ({EVALUATIONS}); `handful report {model}` shows it."
    except OSError as error:
        kept = f"Not kept with the model: {error}"
    if output_format == "json":
        sys.stdout.write(json.dumps(metrics, indent=2) + "\n")
        return
    trust = metrics.get("trust") or {}
    if output_format == "csv":
        import csv

        writer = csv.writer(sys.stdout)  # one table a script reads as it is: a metric, its class (or none), a value
        writer.writerow(["metric", "class", "value"])
        low, high = metrics["accuracy_interval"]
        writer.writerows([["accuracy", "", metrics["accuracy"]], ["accuracy_low", "", low], ["accuracy_high", "", high],
                          ["balanced_accuracy", "", metrics["balanced_accuracy"]], ["n", "", metrics["n"]]]
                         + [[k, "", v] for k, v in trust.items()]
                         + [[metric, name, "" if s[metric] is None else s[metric]]
                            for name, s in metrics["per_class"].items()
                            for metric in ("precision", "recall", "support")])
        return
    low, high = metrics["accuracy_interval"]
    console.print(f"Accuracy {metrics['accuracy']:.3f} (95% CI {low:.3f}-{high:.3f}) on {metrics['n']} examples; "
                  f"balanced accuracy {metrics['balanced_accuracy']:.3f}")
    if trust:
        console.print(f"Calibration error (ECE) {trust['ece']:.3f} (uncalibrated {trust['ece_before']:.3f}); "
                      f"{trust['set_level']:.0%} prediction sets held the true label for {trust['set_coverage']:.3f} "
                      f"of the examples, with {trust['set_mean_size']:.2f} labels on average", highlight=False)
        if "unlike_share" in trust:
            said = (f"{trust['unlike_share']:.0%} were flagged as unlike anything it learned (about "
                    f"{trust['unlike_expected']:.0%} for data like its training data)")
            if trust["unlike_more"]:
                said = (f"[yellow]{said}: this data differs from what it learned, and a score on one need not hold "
                        "on the other; check it, or train on some of it[/]")
            console.print(said, highlight=False)
    table = Table("class", "precision", "recall", "support")
    for name, scores in metrics["per_class"].items():
        table.add_row(name, *(f"{scores[k]:.3f}" if scores[k] is not None else "-" for k in ("precision", "recall")),
                      str(scores["support"]))
    console.print(table)
    for problem in metrics["problems"][:20]:
        console.print(f"[yellow]{escape(str(problem))}[/]", highlight=False)  # each line ends with what was done
    console.print(kept, highlight=False)


def predict(
    model: ModelFolder,
    inputs: Annotated[list[str], typer.Argument(
        help="Files, a folder, or (text models) sentences or a table; - reads one input a line from standard input "
             "(sentences for a text model, file paths for the others).")],
    output_format: OutputFormat = "table",
    top_k: Annotated[int, typer.Option(min=1, help="How many labels to show per input.")] = 3,
    coverage: Annotated[float | None, typer.Option(
        metavar="FRACTION",
        help="How often the prediction set must hold the true label (default: the model's, 0.9).")] = None,
    abstain: Annotated[bool, typer.Option(
        "--abstain", help="Answer 'unknown' for inputs unlike anything the model learned.")] = False,
    quiet: Quiet = False,
) -> None:
    """Predict labels for INPUTS, with the set of labels that holds the true one 90% of the time (--coverage) and
    a flag for inputs unlike anything the model learned; unreadable inputs are reported, the rest still predicted."""
    setup(quiet)
    output_format = check_format(output_format)
    if coverage is not None and not 0.0 < coverage < 1.0:
        fail(f"--coverage must be a fraction between 0 and 1 (e.g. 0.95), got {coverage!r}", 2)
    try:
        clf = Classifier.load(model).set_params(verbose=0 if quiet else 1)
        target: Any = inputs
        if inputs == ["-"]:
            target = stdin_inputs(clf.modality_)
        elif len(inputs) == 1 and Path(inputs[0]).is_dir():
            target = inputs[0]
        elif clf.modality_ == "text" and any(Path(i).is_file() for i in inputs):
            target = text_files(inputs)
        elif clf.modality_ == "text":
            missing_files(inputs)
        records = [r for t in (target if isinstance(target, tuple) else [target])
                   for r in clf.predict_records(t, top_k=top_k, coverage=coverage, abstain=abstain)]
    except (ValueError, TypeError, FileNotFoundError, RuntimeError) as error:
        fail(str(error))
    if output_format == "json":
        sys.stdout.write(json.dumps(records, indent=2, default=str) + "\n")
    elif output_format == "csv":
        import csv

        writer = csv.writer(sys.stdout)
        writer.writerow(["input", "label", "probability", "set", "ood_score", "ood", "error"])
        for r in records:
            top = r.get("top", [{}])
            ood = r.get("ood") or {}
            answered = top and not (abstain and ood.get("flag"))  # 'unknown' has no probability: the top label's
            writer.writerow([r["input"], r.get("label", ""), top[0].get("probability", "") if answered else "",
                             "|".join(r.get("set", [])), ood.get("score", ""), ood.get("flag", ""),
                             r.get("error", "")])
    else:
        table = Table("input", "prediction", "top labels", "set", "note")
        table.columns[0].overflow = "fold"  # a file's whole name, relative to the folder given or to here
        root = Path(inputs[0]) if isinstance(target, str) else Path.cwd()
        for r in records:
            name = escape(str(r["input"])[:80] if clf.modality_ == "text" else relative(str(r["input"]), root))
            if "error" in r:
                table.add_row(name, "[red]error[/]", escape(r["error"]), "", "")
            else:
                note = (r.get("ood") or {}).get("text", "")
                table.add_row(name, escape(str(r["label"])),
                              escape(", ".join(f"{t['label']} {t['probability']:.2f}" for t in r["top"])),
                              escape(r.get("set_text", "")), f"[yellow]{escape(note)}[/]" if note else "")
        console.print(table)
    if any("error" in r for r in records):
        raise typer.Exit(1)


def stdin_inputs(modality: str) -> list[str]:
    """``predict MODEL -``: one input a line of standard input (sentences, or file paths for photos and sounds)."""
    example = "cat reviews.txt" if modality == "text" else "find photos -name '*.jpg'"
    what = "one sentence a line" if modality == "text" else "one file path a line (not the file's bytes)"
    try:
        content = sys.stdin.buffer.read().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"standard input is not UTF-8 text; '-' reads {what}, e.g. {example} | handful predict "
                         "MODEL -") from error
    lines = [line for _, line in text_lines(content) if line.strip()]
    if not lines:
        raise ValueError(f"standard input is empty; '-' reads {what}, e.g. {example} | handful predict MODEL -")
    return lines


def text_files(inputs: list[str]) -> tuple[str, ...]:
    """What a text model reads from files on the command line, as ``suggest`` does: each .txt (a sentence a line) or
    table by itself; a photo or a clip is refused, naming it (the model reads text)."""
    for item in inputs:
        suffix = Path(item).suffix.lower()
        if Path(item).is_file() and suffix in IMAGE_SUFFIXES | AUDIO_SUFFIXES:
            kind = "a photo" if suffix in IMAGE_SUFFIXES else "a sound"
            raise ValueError(f"{item} is {kind}, but this is a text model: give it sentences, a .txt with one "
                             "sentence a line, or a table (CSV, TSV, JSONL) with a text column.")
        if not Path(item).is_file() or suffix not in (*TABLES, ".txt"):
            raise ValueError(f"{item!r}: give a text model either sentences or files (.txt, CSV, TSV, JSONL), "
                             "not both: quote a sentence that looks like a file name inside a table.")
    return tuple(inputs)


def missing_files(inputs: list[str]) -> None:
    """Refuse a text model's input that names a file that is not there (``reviews.csv``, ``new/notes.txt``): read as
    a sentence, a mistyped path would be predicted as if someone had written it."""
    for item in inputs:
        if item.split() != [item] or Path(item).suffix.lower() not in (*TABLES, ".txt"):
            continue
        raise ValueError(f"{item} does not exist. A text model reads each input as a sentence unless it names a "
                         f"file (.txt, CSV, TSV, JSONL): check the path. To predict the words themselves, give them "
                         f"a line each on standard input: echo {item!r} | handful predict MODEL -")


def backbones(
    modality: Annotated[str | None, typer.Option(help="Only this modality.")] = None,
    all_kinds: Annotated[bool, typer.Option("--all", help="Include the tiny test backbones.")] = False,
    output_format: OutputFormat = "table",
) -> None:
    """List the backbones that work offline, with their licences and whether they are installed."""
    output_format = check_format(output_format)
    specs = [s for s in list_backbones(modality) if s.kind != "test" or all_kinds]
    if output_format != "table":
        header = ["name", "modality", "kind", "dim", "licence", "package", "installed", "install", "description"]
        rows = [[s.name, s.modality, s.kind, s.dim, s.licence, s.package, s.available(),
                 s.install_hint, s.description] for s in specs]
        if output_format == "json":
            sys.stdout.write(json.dumps([dict(zip(header, row, strict=True)) for row in rows], indent=2) + "\n")
        else:
            print_csv(header, rows)
        return
    # Two columns, so the description has room at 80 columns (seven crushed it to three letters a line).
    table = Table("name", "about", show_lines=True)
    table.columns[0].no_wrap = True  # whole names: a user types them (no "mfcc-sta…")
    for spec in specs:
        installed = "yes" if spec.available() else f"no: {spec.install_hint}"
        table.add_row(spec.name, escape(f"{spec.modality}, {spec.kind}, {spec.dim}-d, {spec.licence}, installed: "
                                        f"{installed}") + f"\n[dim]{escape(spec.description)}[/]")
    console.print(table)


def demo(
    folder: Annotated[Path, typer.Option(help="Where to write the example images and the model.")] = Path(
        "handful-demo"
    ),
    per_class: Annotated[int, typer.Option(min=2, max=120, help="Training images per digit (the next 50 of each "
                                                                    "are held out).")] = 20,
    quiet: Quiet = False,
) -> None:
    """Train on a bundled example (handwritten digits from scikit-learn) and show the result."""
    setup(quiet)
    from handful.examples import write_digits

    # one folder a size: a second run with more per digit must not train on the first run's held-out images
    train_dir, test_dir = write_digits(folder / f"digits-{per_class}", per_class=per_class, seed=0)
    if not quiet:
        console.print(f"Wrote {per_class} training images per digit to {train_dir} (held-out: {test_dir})")
    clf = Classifier(preset="fast", random_state=0, verbose=0 if quiet else 1).fit(train_dir)
    saved = clf.save(folder / "model")
    metrics = clf.evaluate(test_dir)
    if quiet:
        return
    show_training(clf, saved)
    low, high = metrics["accuracy_interval"]
    console.print(f"On {metrics['n']} held-out digits: accuracy [bold]{metrics['accuracy']:.3f}[/] "
                  f"(95% CI {low:.3f}-{high:.3f})")
    console.print(f"Try: handful predict {saved} {next(iter(sorted(test_dir.glob('*/*.png'))))}")


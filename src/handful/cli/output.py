"""What the ``handful`` command prints: consoles, errors, tables and the summaries shared by several commands."""

from __future__ import annotations

import csv
import logging
import os
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape
from rich.table import Table

from handful.artifacts.safety import OutputPathError, check_file_output, file_start, write_file
from handful.artifacts.store import Registry, Version
from handful.classifier import Classifier
from handful.cli.options import FORMATS
from handful.data import summarise
from handful.report.html import new_classes_text
from handful.report.trust import group_gaps_text
from handful.selection.results import choice_note

console = Console()
errors = Console(stderr=True)


QUIET_ENVIRONMENT = {  # third-party progress bars and notices (sentence-transformers, huggingface, transformers)
    "TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
}


def setup(quiet: bool) -> None:
    """Logging for a command; ``quiet`` (-q) silences everything but errors, other libraries' progress bars too."""
    level = logging.ERROR if quiet else logging.WARNING
    logging.basicConfig(level=level, format="%(message)s", handlers=[RichHandler(console=errors, show_path=False)],
                        force=True)
    if quiet:
        os.environ.update(QUIET_ENVIRONMENT)  # read when those libraries load, which is later (backbones are lazy)
        for name in ("transformers", "sentence_transformers", "huggingface_hub"):
            logging.getLogger(name).setLevel(logging.ERROR)
        transformers = sys.modules.get("transformers")
        if transformers is not None:  # already loaded (the library used from Python, then the CLI)
            transformers.utils.logging.disable_progress_bar()


def fail(message: str, code: int = 1) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def check_format(value: str) -> str:
    """The --format value, or exit 2 naming the choices."""
    if value not in FORMATS:
        fail(f"--format must be {', '.join(FORMATS[:-1])} or {FORMATS[-1]}, got {value!r}", 2)
    return value


def print_csv(header: list[str], rows: list[list[Any]]) -> None:
    """A table on standard output as CSV, for a script to read."""
    writer = csv.writer(sys.stdout)
    writer.writerow(header)
    writer.writerows(rows)


def csv_output(path: Path | None, header: list[str], kind: str, example: str) -> Path | None:
    """The CSV file ``-o`` names, checked before any work: new, or a CSV handful wrote with this header; else exit 1."""
    if path is None:
        return None
    line = (",".join(header) + "\r\n").encode()
    try:
        return check_file_output(path, lambda p: file_start(p, len(line)) == line, kind, example)
    except OutputPathError as error:
        fail(str(error))
    raise AssertionError  # fail() exits


def write_csv(path: Path, header: list[str], rows: list[list[Any]]) -> None:
    """Write the CSV whole or not at all (the path was checked by :func:`csv_output`)."""
    def write(staging: Path) -> None:
        with staging.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows(rows)

    path.parent.mkdir(parents=True, exist_ok=True)
    write_file(path, write)


def interval(estimate: dict[str, Any] | None) -> str:
    if not estimate:
        return "-"
    return f"{estimate['mean']:.3f} ± {estimate['std']:.3f}  [{estimate['low']:.3f}, {estimate['high']:.3f}]"


def shown(record: dict[str, Any], width: int = 70, root: Path | None = None) -> str:
    """A record's text (its start, cut to ``width`` characters) or file path.

    With ``root`` (the data folder), a path under it is shown relative to it and whole, for a table column that
    wraps (``overflow="fold"``): the user must be able to tell which file it is. Without, a long path keeps its end.
    """
    text = record.get("text")
    if text:
        return text if len(text) <= width else text[: width - 1] + "…"
    path = str(record.get("source") or record.get("input") or "")
    if root is not None:
        return relative(path, root)
    return path if len(path) <= width else "…" + path[-(width - 1):]


def relative(path: str, root: Path) -> str:
    """``path`` relative to the folder ``root`` when it lies under it, else as it is."""
    for base in (root, root.resolve()):
        for candidate in (Path(path), Path(path).resolve()):
            try:
                return str(candidate.relative_to(base))
            except ValueError:
                continue
    return path


def brief(estimate: dict[str, Any] | None) -> str:
    return f"{estimate['mean']:.3f} [{estimate['low']:.3f}, {estimate['high']:.3f}]" if estimate else "-"


def _fold_skipped(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The leaderboard as the terminal shows it: the heads skipped on one backbone for one reason are one row
    ("mlp, cosine, vae"), where the first of them stood; the model card keeps a row each."""
    folded: list[dict[str, Any]] = []
    where: dict[tuple[str, str, str, bool], int] = {}
    for row in rows:
        key = (row["backbone"], row["kind"], row.get("message") or "", bool(row.get("augment")))
        if row["status"] != "skipped" or key not in where:
            if row["status"] == "skipped":
                where[key] = len(folded)
            folded.append(row)
        else:
            first = folded[where[key]]
            folded[where[key]] = {**first, "learner": f"{first['learner']}, {row['learner']}"}
    return folded


LEADERBOARD_COLUMNS = ["backbone", "learner", "augment", "kind", "status", "balanced_accuracy", "std", "low", "high",
                       "seconds", "chosen", "gain_over_labelled_only", "message"]


def _is_chosen(clf: Classifier, row: dict[str, Any]) -> bool:
    return (row["backbone"] == clf.backbone_ and row["learner"] == clf.learner_
            and bool(row.get("augment")) == bool(getattr(clf, "augment_", "")))


def leaderboard_rows(clf: Classifier) -> list[list[Any]]:
    """Every candidate tried (LEADERBOARD_COLUMNS), one row each, as the model card keeps them."""
    rows = []
    for row in clf.leaderboard_:
        score = row.get("balanced_accuracy") or {}
        rows.append([row["backbone"], row["learner"], row.get("augment") or "", row["kind"], row["status"],
                     score.get("mean"), score.get("std"), score.get("low"), score.get("high"), row["seconds"],
                     _is_chosen(clf, row), row.get("gain_over_labelled_only"), row.get("message") or ""])
    return rows


def training_record(clf: Classifier, saved: Path, version: Version | None) -> dict[str, Any]:
    """What `handful train` printed, for a script: where the model went, what was chosen and how far to trust it."""
    trust = getattr(clf, "trust_", None)
    curve = getattr(clf, "learning_curve_", None)
    return {
        "model": str(saved),
        "registered": None if version is None else {"name": version.name, "version": version.version,
                                                    "promoted": version.promoted},
        **clf.summary(),
        "augment": getattr(clf, "augment_", "") or None,
        "n_folds": clf.n_folds_,
        "protocol": getattr(clf, "protocol_", None),
        "leakage": getattr(clf, "leakage_", None),
        "trust": trust.summary if trust is not None else None,
        "unlabelled": getattr(clf, "unlabelled_", None),
        "more_data": None if curve is None else (curve.skipped or curve.verdict),
        "problems": [str(p) for p in clf.problems_],
        "fit_seconds": round(clf.fit_seconds_, 2),
        "timings": getattr(clf, "timings_", None),  # seconds per stage, as --profile shows them
        "leaderboard": clf.leaderboard_,
    }


def show_training(clf: Classifier, out: Path | None) -> None:
    table = Table(title="Leaderboard (repeated stratified cross-validation)", show_lines=False)
    for column in ("backbone", "head", "kind", "balanced accuracy: mean ± sd [95% CI]", "seconds"):
        table.add_column(column)
    for row in _fold_skipped(clf.leaderboard_):
        augmented = bool(row.get("augment"))
        chosen = _is_chosen(clf, row)
        score = interval(row["balanced_accuracy"]) if row["status"] == "ok" else f"{row['status']}: {row['message']}"
        style = "bold green" if chosen else ("dim" if row["status"] != "ok" else "")
        head = f"{row['learner']} + augmented" if augmented else row["learner"]
        table.add_row(row["backbone"], head, row["kind"], score, f"{row['seconds']:.1f}", style=style)
    console.print(table)
    console.print(f"Chosen: [bold]{clf.backbone_} + {clf.learner_}[/], "
                  f"cross-validated balanced accuracy {interval(clf.cv_score_.as_dict() if clf.cv_score_ else None)}"
                  f" over {clf.n_folds_} folds")
    note = choice_note(clf.leaderboard_, clf.backbone_, clf.learner_, getattr(clf, "augment_", ""))
    if note:
        console.print(f"  {escape(note)}", highlight=False)
    record = getattr(clf, "augmentation_", None)
    if record and record.get("tried"):
        gains = ", ".join(f"{g['learner']} {g['gain']:+.3f}" for g in record.get("gains", []))
        console.print(f"Augmentation ({record['strength']}, {record['views']} views: {', '.join(record['transforms'])})"
                      f" {'used' if record['used'] else 'not used'}; gain over the same head without it: {gains}",
                      highlight=False)
    show_trust(clf)
    pool = getattr(clf, "unlabelled_", None)
    if pool and (pool.get("used") or pool.get("messages")):
        gains = ", ".join(f"{g['learner']}{' + augmented' if g.get('augment') else ''} {g['gain']:+.3f}"
                          for g in pool.get("gains", []))
        untried = pool.get("untried")
        console.print(escape(f"Unlabelled pool: {pool['used']} input(s) {'read' if untried else 'used'} "
                             f"({', '.join(pool['sources'])})"
                             + (f"; gain over the best labelled-only candidate: {gains}" if gains else "")
                             + (f"; no option that learns from it was tried ({untried})" if untried else "")
                             + ("; the chosen model learnt from it" if pool.get("used_by_model") else "")),
                      highlight=False)
        for message in pool.get("messages", [])[:5]:
            console.print(f"  [yellow]{escape(message)}[/]", highlight=False)
    if clf.baseline_ and clf.baseline_["balanced_accuracy"]:
        console.print(f"Baseline ({clf.baseline_['backbone']}): {interval(clf.baseline_['balanced_accuracy'])}")
    if clf.holdout_:
        low, high = clf.holdout_["accuracy_interval"]
        console.print(f"Held-out accuracy: [bold]{clf.holdout_['accuracy']:.3f}[/] (95% CI {low:.3f}-{high:.3f}, "
                      f"n={clf.holdout_['n']})")
        left_out = clf.holdout_.get("problems", [])  # held-out examples left out of that score
        for line in left_out[:10]:
            console.print(f"  [yellow]left out[/] {escape(line)}", highlight=False)
        if len(left_out) > 10:
            console.print(f"  and {len(left_out) - 10:,} more left out", highlight=False)
    skipped = [p for p in clf.problems_ if getattr(p, "action", "skipped") == "skipped"]
    if clf.problems_:
        console.print(f"[yellow]{len(clf.problems_)} problem(s) in the data[/] ({len(skipped)} skipped, "
                      f"{len(clf.problems_) - len(skipped)} kept):")
        for line in summarise(clf.problems_)[:10]:
            console.print(f"  {escape(line)}", highlight=False)
    curve = getattr(clf, "learning_curve_", None)
    if curve is not None and not curve.skipped and curve.verdict:
        console.print(f"More data: {escape(curve.verdict)}", highlight=False)
    elif curve is not None and curve.skipped:
        console.print(f"More data: no learning curve: {escape(curve.skipped)}.", highlight=False)
    diagnosis = getattr(clf, "diagnosis_", None)
    if diagnosis is not None:
        console.print(f"Diagnosis: [bold]{diagnosis.verdict}[/]. {escape(diagnosis.headline)}", highlight=False)
        for advice in diagnosis.advice[:3]:
            console.print(f"  - {escape(advice)}", highlight=False)
    if out is not None:
        console.print(f"Model saved to [bold]{escape(str(out))}[/] ({clf.fit_seconds_:.0f} s). "
                      f"Full report: handful report {out} -o report.html")


def show_trust(clf: Classifier) -> None:
    """How far to trust it: the protocol, the leakage check's warning, calibration, sets and the distance flag."""
    protocol = getattr(clf, "protocol_", None)
    if protocol:
        console.print(f"Protocol: {protocol['text']}; scores are for {protocol['scores_for']}.", highlight=False)
        if protocol.get("groups_hint"):
            console.print(f"Tip: {escape(protocol['groups_hint'])}", highlight=False)
    leakage = getattr(clf, "leakage_", None)
    if leakage and leakage.get("warn"):
        console.print(f"[bold yellow]Warning:[/] {escape(leakage['message'])}", highlight=False)
    trust = getattr(clf, "trust_", None)
    if trust is not None:
        calibration, sets = trust.summary["calibration"], trust.summary["sets"]
        perfect = calibration.get("ece_perfect_high")
        console.print(f"Calibration: {calibration['method']}, out-of-fold ECE {calibration['ece_before']:.3f} -> "
                      f"{calibration['ece_after']:.3f}"
                      + (f" (a perfectly calibrated model: up to {perfect:.3f} on as many)" if perfect else "")
                      + ("; [yellow]more than chance: read its probabilities as rough[/]"
                         if perfect and calibration["ece_after"] > perfect else "")
                      + f"; {sets['level']:.0%} prediction sets cover "
                      f"{sets['oof_coverage']:.3f} out of fold (mean size {sets['oof_mean_size']:.2f})",
                      highlight=False)
        by_group = calibration.get("by_group")
        if by_group and by_group["beyond_chance"]:
            console.print(f"[yellow]Calibration differs from group to group[/]: {escape(group_gaps_text(by_group))}",
                          highlight=False)


def registered(version: Version, registry: Registry) -> str:
    if version.promoted:
        return (f"Registered {version.label} in {registry.root}; it is the promoted version "
                f"(handful serve {registry.root} serves it).")
    serving = registry.promoted().get(version.name)
    now = f"v{serving.version} stays promoted" if serving else "no version is promoted"
    return (f"Registered {version.label} in {registry.root}, not promoted: {now}. "
            f"Promote it with: handful models promote {version.name} v{version.version}")


def show_comparison(c: dict[str, Any]) -> None:
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
    added = new_classes_text(c.get("new_classes") or {})
    if added:
        console.print(f"  {escape(added)}", highlight=False)


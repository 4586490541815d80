"""One self-contained HTML file per model: scores with intervals, the baseline, mistakes, the learning curve and
the diagnosis. Plots, thumbnails and audio are embedded as base64; the page loads nothing from anywhere."""

from __future__ import annotations

import base64
import datetime
import html
import io
import logging
import re
from pathlib import Path
from typing import Any

from handful.artifacts.safety import check_file_output, file_start, write_file
from handful.backbones.registry import frozen_name
from handful.data.dataset import Problem, summarise
from handful.report import plots
from handful.report.trust import trust_section
from handful.selection.results import choice_note

logger = logging.getLogger(__name__)

THUMBNAIL = 112
AUDIO_SECONDS = 4.0
AUDIO_RATE = 16000
SHOWN = 12
SHOWN_PROBLEMS = 20  # lines of the data's problems

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
color:#1f2933;background:#fff;line-height:1.45}
h1{margin-bottom:.2em}h2{border-bottom:2px solid #e4e7eb;padding-bottom:.2em;margin-top:1.8em}
.muted{color:#616e7c}.cards{display:flex;gap:1em;flex-wrap:wrap}
.card{border:1px solid #d9e2ec;border-radius:8px;padding:.8em 1.1em;min-width:200px;background:#f8fafc}
.card b{font-size:1.5em;display:block}.chosen{border-color:#1b7f3b;background:#eef8f0}
table{border-collapse:collapse;margin:.6em 0;font-size:.92em}th,td{border-bottom:1px solid #e4e7eb;padding:.3em .6em;
text-align:left;vertical-align:top}th{background:#f0f4f8}tr.win td{background:#eef8f0;font-weight:600}
img.plot{max-width:100%;height:auto;display:block;margin:.5em 0}
.verdict{font-size:1.15em;padding:.7em 1em;border-radius:8px;background:#fff8e1;border-left:6px solid #f0b429}
.verdict.fine{background:#eef8f0;border-color:#1b7f3b}.grid{display:flex;flex-wrap:wrap;gap:.8em}
.item{border:1px solid #d9e2ec;border-radius:6px;padding:.5em;width:240px;font-size:.88em;word-break:break-word}
.item img{max-width:100%;display:block;margin-bottom:.3em}.item audio{width:100%}
.given{color:#1b7f3b}.predicted{color:#c62828}.text{font-style:italic}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _finetune_gain(row: dict[str, Any], board: list[dict[str, Any]]) -> float | None:
    """A fine-tuned option's score minus the frozen backbone's linear probe (same folds); None for other rows."""
    if row["learner"] != "finetune" or row.get("augment") or not row.get("balanced_accuracy"):
        return None
    frozen = frozen_name(row["backbone"])
    probes = [r for r in board if r["backbone"] == frozen and r["learner"] == "linear" and not r.get("augment")
              and r.get("balanced_accuracy")]
    return row["balanced_accuracy"]["mean"] - probes[0]["balanced_accuracy"]["mean"] if probes else None


def _score(estimate: dict[str, Any] | None) -> str:
    if not estimate:
        return "-"
    return f"{estimate['mean']:.3f} <span class=muted>(95% range {estimate['low']:.3f}-{estimate['high']:.3f})</span>"


def _img(png: str | None, alt: str) -> str:
    return f'<img class="plot" alt="{_e(alt)}" src="data:image/png;base64,{png}">' if png else ""


def thumbnail(path: str | Path, size: int = THUMBNAIL) -> str | None:
    """A small JPEG of the image at ``path`` as base64, or ``None`` when it cannot be read."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.seek(0)
            small = image.convert("RGB")
            small.thumbnail((size, size))
            buffer = io.BytesIO()
            small.save(buffer, format="JPEG", quality=75)
    except (OSError, ValueError) as error:
        logger.debug("no thumbnail for %s: %s", path, error)
        return None
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def audio_clip(path: str | Path, seconds: float = AUDIO_SECONDS, rate: int = AUDIO_RATE) -> str | None:
    """The first ``seconds`` of the clip at ``path``, mono, at most ``rate`` Hz, as a base64 16-bit WAV."""
    import numpy as np
    import soundfile

    try:
        wave, source_rate = soundfile.read(str(path), frames=int(seconds * 48000), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, ValueError) as error:  # soundfile raises LibsndfileError (a RuntimeError)
        logger.debug("no audio for %s: %s", path, error)
        return None
    mono = wave.mean(axis=1)[: int(seconds * source_rate)]
    if source_rate > rate:
        from math import gcd

        from scipy.signal import resample_poly

        step = gcd(rate, int(source_rate))
        mono = resample_poly(mono, rate // step, int(source_rate) // step).astype(np.float32)
        source_rate = rate
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(mono, -1, 1), int(source_rate), format="WAV", subtype="PCM_16")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _example(row: dict[str, Any], modality: str, extra: str) -> str:
    source = str(row.get("source", ""))
    media = ""
    if row.get("text"):
        media = f'<div class="text">"{_e(row["text"])}"</div>'
    elif modality == "image":
        data = thumbnail(source)
        media = f'<img alt="{_e(source)}" src="data:image/jpeg;base64,{data}">' if data else "<i>(file not found)</i>"
    elif modality == "audio":
        data = audio_clip(source)
        media = f'<audio controls src="data:audio/wav;base64,{data}"></audio>' if data else "<i>(file not found)</i>"
    given = row.get("given", row.get("given_label", row.get("label", "?")))
    predicted = row.get("predicted", row.get("suggested", row.get("suggested_label", "?")))
    name = Path(source).name if modality != "text" else source
    return (f'<div class="item">{media}<div>given: <b class="given">{_e(given)}</b><br>model says: '
            f'<b class="predicted">{_e(predicted)}</b> {extra}</div><div class="muted">{_e(name)}</div></div>')


HEAD = '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>handful report: '  # how every report starts


def is_report(path: Path) -> bool:
    """``path`` is a report handful wrote (it starts with :data:`HEAD`), so saving over it loses nothing."""
    return file_start(path, 512).startswith(HEAD.encode())


class Report:
    """The report of a fitted (or loaded) classifier.

    Example:
        >>> clf = handful.Classifier(preset="fast").fit("photos/")  # doctest: +SKIP
        >>> clf.report_.save("report.html")  # doctest: +SKIP
    """

    def __init__(self, clf: Any) -> None:
        self.clf = clf

    def save(self, path: str | Path) -> Path:
        """Write the report to ``path`` (one HTML file, no other files needed) and return the path.

        An existing file is replaced only if it is a report handful wrote (OutputPathError otherwise).
        """
        target = check_file_output(path, is_report, "a report", "report.html")
        page = self.html()
        target.parent.mkdir(parents=True, exist_ok=True)
        write_file(target, lambda staging: staging.write_text(page, encoding="utf-8"))
        return target

    def html(self) -> str:
        """The report as one HTML string."""
        sections = [self._summary(), trust_section(self.clf), self._update(), self._diagnosis(), self._problems(),
                    self._leaderboard(),
                    self._errors(), self._holdout(), self._evaluations(), self._curve(), self._examples(),
                    self._label_issues(), self._timings()]
        clf = self.clf
        model = f"{clf.backbone_} + {clf.learner_}"
        title = f"handful report: {model}"
        created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        return (f'{HEAD}{_e(model)}</title>'
                f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style></head>'
                f'<body><h1>What this model learned, and what to do next</h1><p class="muted">{_e(title)} · '
                f'{_e(clf.modality_)} · {len(clf.classes_)} classes · {clf.n_examples_} labelled examples · '
                f'report made {created}</p>' + "".join(s for s in sections if s) + "</body></html>\n")

    # ------------------------------------------------------------------ sections
    def _summary(self) -> str:
        clf = self.clf
        cv = clf.cv_score_.as_dict() if clf.cv_score_ else None
        chance = 1.0 / max(1, len(clf.classes_))
        cards = [_card("Chosen model: cross-validated balanced accuracy", cv, "chosen")] if cv else []
        baseline = (clf.baseline_ or {}).get("balanced_accuracy")
        if baseline:
            cards.append(_card(f"Simple baseline ({clf.baseline_['backbone']}): cross-validated balanced accuracy",
                               baseline))
        if clf.holdout_:
            low, high = clf.holdout_["accuracy_interval"]
            cards.append(f'<div class="card">Held-out set: accuracy<b>{clf.holdout_["accuracy"]:.3f}</b><span '
                         f'class=muted>95% range {low:.3f}-{high:.3f}, {clf.holdout_["n"]} examples; balanced accuracy '
                         f'{clf.holdout_["balanced_accuracy"]:.3f}</span></div>')
        notes = []
        if baseline and baseline["mean"] < chance:
            notes.append(f"The simple baseline scores below chance ({baseline['mean']:.3f} against {chance:.3f} for "
                         f"guessing): on {clf.n_examples_} examples its score is noise around chance, not evidence "
                         "that the classes are hard to tell apart.")
        note = choice_note(clf.leaderboard_, clf.backbone_, clf.learner_, getattr(clf, "augment_", ""))
        notes += [note] if note else []
        counts = ", ".join(f"{_e(k)}: {v}" for k, v in clf.class_counts_.items())
        return (f'<h2 id="summary">Summary</h2><div class="cards">{"".join(cards)}</div>'
                + "".join(f'<p class="verdict">{_e(n)}</p>' for n in notes)
                + '<p>Balanced accuracy is the average share of each class recognised (1 / number of classes is '
                f'guessing: {chance:.2f} here). Cross-validated: the model is trained on part of your examples and '
                f'tested on the rest, several times; the number is the mean over those rounds. Examples per class: '
                f'{counts}.</p>')

    def _update(self) -> str:
        """Old vs new, when this model came from ``handful update``: the paired fold scores and the decision."""
        c = getattr(self.clf, "update_", None)
        if not c:
            return ""
        rows = "".join(
            f"<tr><td>{label}</td><td>{_e(c[side]['backbone'])} + {_e(c[side]['learner'])}</td><td>{trained}</td>"
            f"<td>{c[side]['mean']:.3f}</td><td>{c[side]['mean_all_examples']:.3f}</td></tr>"
            for side, label, trained in (("old", f"promoted before (v{c['old_version']})", c["n_old"]),
                                         ("new", "this model", c["n_old"] + c["n_new"])))
        differences = " ".join(f"{d:+.2f}" for d in c["difference"])
        verdict = "Promoted" if c["promote"] else "Not promoted"
        added = new_classes_text(c.get("new_classes") or {})
        return (f'<h2 id="update">Old vs new</h2><p class="verdict {"fine" if c["promote"] else ""}"><b>{verdict}.'
                f'</b> {_e(c["reason"])}.</p><table><tr><th>version</th><th>model</th><th>trained on</th><th>'
                f'balanced accuracy, held-out old examples</th><th>all held-out examples</th></tr>{rows}</table>'
                + (f"<p>{_e(added)}</p>" if added else "")
                + f'<p class="muted">Both were refitted on the same {c["n_folds"]} cross-validation folds of the '
                f'{c["n_old"]} old and {c["n_new"]} new examples (the old one on the old examples only) and scored on '
                f'the same held-out examples. Rule: {_e(c["rule"])}. Per-fold difference (new - old): '
                f'{differences}.</p>')

    def _diagnosis(self) -> str:
        diagnosis = getattr(self.clf, "diagnosis_", None)
        if diagnosis is None:
            return ""
        advice = "".join(f"<li>{_e(a)}</li>" for a in diagnosis.advice)
        evidence = diagnosis.evidence
        facts = (f"Score on the examples it learned from: {evidence.get('training_score', 0):.2f}; on unseen "
                 f"examples: {evidence.get('cv_score', 0):.2f}; by chance: {evidence.get('chance', 0):.2f}."
                 + (f" The rule: {evidence['rule']}." if evidence.get("rule") else ""))
        return (f'<h2 id="diagnosis">Diagnosis</h2><p class="verdict {_e(diagnosis.verdict)}"><b>'
                f'{_e(diagnosis.verdict.capitalize())}.</b> {_e(diagnosis.headline)}</p><p class="muted">{facts}</p>'
                + (f"<h3>What to do next</h3><ol>{advice}</ol>" if advice else ""))

    def _problems(self) -> str:
        """The inputs skipped (unreadable files, empty rows) and those kept but worth a look (duplicates, labels
        spelt two ways), one line for one problem on many rows."""
        found = [p if isinstance(p, Problem) else _problem(str(p)) for p in self.clf.problems_]
        if not found:
            return ""
        lines = summarise(found)
        skipped = sum(p.action == "skipped" for p in found)
        return (f'<h2 id="data">Problems in the data ({len(found)})</h2><p>{skipped} skipped (not used to train), '
                f'{len(found) - skipped} used but worth a look.</p><ul>'
                + "".join(f"<li>{_e(line)}</li>" for line in lines[:SHOWN_PROBLEMS])
                + (f"<li>and {len(lines) - SHOWN_PROBLEMS} more</li>" if len(lines) > SHOWN_PROBLEMS else "")
                + "</ul>")

    def _leaderboard(self) -> str:
        clf = self.clf
        rows = []
        chosen = getattr(clf, "augment_", "") or ""
        record = getattr(clf, "augmentation_", None) or {}
        gains = {(g["backbone"], g["learner"]): g["gain"] for g in record.get("gains", [])}
        for row in clf.leaderboard_:
            augment = row.get("augment") or ""
            win = row["backbone"] == clf.backbone_ and row["learner"] == clf.learner_ and augment == chosen
            score = _score(row.get("balanced_accuracy")) if row["status"] == "ok" else _e(
                f"{row['status']}: {row.get('message', '')}")
            kind = "simple baseline" if row.get("kind") == "baseline" else row.get("kind", "")
            head = f"{row['learner']} + augmented" if augment else row["learner"]
            gain = gains.get((row["backbone"], row["learner"])) if augment else (
                row["gain_over_labelled_only"] if "gain_over_labelled_only" in row else
                _finetune_gain(row, clf.leaderboard_))
            rows.append(f'<tr class="{"win" if win else ""}"><td>{_e(row["backbone"])}</td><td>{_e(head)}'
                        f'</td><td>{_e(kind)}</td><td>{score}</td><td>{"" if gain is None else f"{gain:+.3f}"}</td>'
                        f'<td>{row.get("seconds", 0):.1f}</td></tr>')
        png = plots.leaderboard_png(clf.leaderboard_, (clf.backbone_, clf.learner_, chosen))
        return (f'<h2 id="leaderboard">Options tried</h2>{_img(png, "leaderboard")}<table><tr><th>features '
                f'(backbone)</th><th>head</th><th>kind</th><th>balanced accuracy (95% range)</th><th>gain from '
                f'the remedy</th><th>seconds</th></tr>' + "".join(rows) + "</table>" + self._augmentation()
                + self._finetuning() + self._unlabelled())

    def _timings(self) -> str:
        seconds = getattr(self.clf, "timings_", None)
        return _timings_table(seconds, float(getattr(self.clf, "fit_seconds_", 0.0))) if seconds else ""

    def _finetuning(self) -> str:
        tuned = [r for r in self.clf.leaderboard_ if r["learner"] == "finetune" and not r.get("augment")]
        scored = [(r, _finetune_gain(r, self.clf.leaderboard_)) for r in tuned if r["status"] == "ok"]
        if not tuned:
            return '<p class="muted">Fine-tuning was not tried (preset, or a backbone that cannot be tuned).</p>'
        if not scored:
            return f'<p class="muted">Fine-tuning was not scored: {_e(tuned[0].get("message", ""))}</p>'
        row, gain = scored[0]
        used = self.clf.learner_ == "finetune"
        change = "" if gain is None else f" ({gain:+.3f} against the frozen {_e(frozen_name(row['backbone']))} " \
                                         "with a linear head)"
        return (f'<p id="finetuning"><b>Fine-tuning</b> of {_e(frozen_name(row["backbone"]))}\'s last layers scored '
                f'{row["balanced_accuracy"]["mean"]:.3f}{change}. '
                + ("The chosen model is fine-tuned." if used else "The chosen model is not fine-tuned: a frozen "
                   "option scored better.") + ' "gain from the remedy" for a fine-tuned option is its score minus '
                'that of the frozen backbone with a linear head.</p>')

    def _unlabelled(self) -> str:
        record = getattr(self.clf, "unlabelled_", None)
        if not record or not (record.get("used") or record.get("messages")):
            return '<p class="muted">No unlabelled inputs were given, so no semi-supervised option was tried.</p>'
        params = self.clf.head_.params() if hasattr(self.clf, "head_") else {}
        made = {"pseudo_counts": "pseudo-labelled", "spread_counts": "labelled by spreading",
                "generated_counts": "generated"}
        counts = "".join(f" The chosen model was trained on {sum(params[k])} rows {what} besides the labelled "
                         f"examples." for k, what in made.items() if k in params)
        verdict = ("The chosen model learnt from them." if record.get("used_by_model") else
                   f"No semi-supervised option was tried ({_e(record['untried'])})." if record.get("untried") else
                   "The chosen model did not use them: no semi-supervised option scored better.")
        notes = "".join(f" {_e(m)}." for m in record.get("messages", []))
        return (f'<p id="unlabelled"><b>Unlabelled inputs</b>: {record["used"]} '
                f'{"read" if record.get("untried") else "used"} '
                f'({_e(", ".join(record.get("sources", [])))}).{notes} {verdict}{counts} "gain from the remedy" for '
                f'a semi-supervised option is its score minus that of the best option that learnt from the '
                f'labelled examples only; cross-validation folds are scored on labelled examples only.</p>')

    def _augmentation(self) -> str:
        record = getattr(self.clf, "augmentation_", None)
        if not record:
            return '<p class="muted">No augmentation was tried.</p>'
        off = f" Switched off: {_e(', '.join(record['disabled']))}." if record.get("disabled") else ""
        verdict = ("The chosen model was trained on them." if record.get("used") else
                   "The chosen model was trained without them: they did not help here." if record.get("tried") else
                   "No augmented option was scored (time budget).")
        return (f'<p id="augmentation"><b>Augmentation</b> ({_e(record["strength"])}, {record["views"]} views of '
                f'each training example, kept in that example\'s cross-validation fold): '
                f'{_e(", ".join(record["transforms"]))}.{off} {verdict} "gain from augmentation" is the score of '
                f'the augmented option minus that of the same option without augmentation.</p>')

    def _errors(self) -> str:
        metrics = getattr(self.clf, "oof_metrics_", None)
        if not metrics:
            return ""
        cv = self.clf.cv_score_
        mean = f" the summary's {cv.mean:.3f} is the mean of the rounds' scores;" if cv else ""
        return (f'<h2 id="confusion">Mistakes by class (cross-validation)</h2><p>Counts on your examples, each '
                f'predicted by a model that did not train on it. Balanced accuracy of these predictions pooled: '
                f'<b id="oof-balanced-accuracy">{metrics["balanced_accuracy"]:.3f}</b> (accuracy '
                f'{metrics["accuracy"]:.3f});{mean} the diagonal holds the right answers.</p>'
                + self._class_tables(metrics, "cross-validation", "per-class"))

    def _class_tables(self, metrics: dict[str, Any], where: str, anchor: str) -> str:
        classes = [str(c) for c in self.clf.classes_]
        rows = "".join(
            f"<tr><td>{_e(name)}</td><td>{_fmt(s.get('precision'))}</td><td>{_fmt(s.get('recall'))}</td>"
            f"<td>{s.get('support', '')}</td></tr>" for name, s in metrics["per_class"].items())
        title = f"Which labels get mixed up ({where})"
        return (f'{_img(plots.confusion_png(metrics["confusion"], classes, title), "confusion matrix")}'
                f'<h3 id="{anchor}">Per class ({_e(where)})</h3>'
                f'{_img(plots.per_class_png(metrics["per_class"]), where)}'
                f'<table><tr><th>class</th><th>precision (right when it says so)</th><th>recall (share found)</th>'
                f'<th>examples</th></tr>{rows}</table>')

    def _holdout(self) -> str:
        """The held-out set (a val/ or test/ folder beside train/), apart from the cross-validated figures."""
        h = self.clf.holdout_
        if not h:
            return ""
        low, high = h["accuracy_interval"]
        return (f'<h2 id="holdout">Held-out set</h2><p>{h["n"]} examples the model never trained on: accuracy '
                f'<b>{h["accuracy"]:.3f}</b> (95% range {low:.3f}-{high:.3f}), balanced accuracy '
                f'<b>{h["balanced_accuracy"]:.3f}</b>.</p>' + self._class_tables(h, "held-out set", "holdout-class"))

    def _evaluations(self) -> str:
        """Every ``handful evaluate`` saved with the model (artifacts.evaluations), newest first."""
        records = getattr(self.clf, "evaluations_", None) or []
        if not records:
            return ""
        rows = "".join(
            f'<tr><td>{_e(r.get("evaluated", ""))}</td><td>{_e(r.get("data", ""))}</td><td>{r.get("n", "")}</td>'
            f'<td>{_fmt(r.get("accuracy"), 3)} <span class=muted>({_fmt((r.get("accuracy_interval") or [None])[0], 3)}'
            f'-{_fmt((r.get("accuracy_interval") or [None, None])[1], 3)})</span></td>'
            f'<td>{_fmt(r.get("balanced_accuracy"), 3)}</td><td>{_unlike(r.get("trust"))}</td></tr>'
            for r in reversed(records))
        return ('<h2 id="evaluations">Evaluations on new data (handful evaluate)</h2><p>Scores on labelled data the '
                'model never saw, saved with the model each time it was evaluated. "Unlike what it learned": the '
                'share flagged as unlike anything it learned, against the share expected of data like the training '
                'data; where it is clearly more, that data differs and its scores may not carry over.</p><table><tr>'
                '<th>when</th><th>data</th><th>examples</th><th>accuracy (95% range)</th><th>balanced accuracy</th>'
                f'<th>unlike what it learned (expected)</th></tr>{rows}</table>')

    def _curve(self) -> str:
        curve = getattr(self.clf, "learning_curve_", None)
        if curve is None:
            return ""
        if curve.skipped:
            return f'<h2 id="learning-curve">Would more data help?</h2><p>No learning curve: {_e(curve.skipped)}.</p>'
        now = float(curve.predict(curve.params["n_now"]))
        forecast = "".join(f"<tr><td>{f.factor:g}x ({f.n_train:.0f} training examples per round)</td>"
                           f"<td>{100 * (f.value - now):+.1f}</td><td>{100 * (f.low - now):+.1f} to "
                           f"{100 * (f.high - now):+.1f}</td></tr>" for f in curve.forecasts)
        per_class = ((getattr(self.clf, "oof_metrics_", None) or {}).get("per_class")) or {}
        gains = sorted(curve.class_gain.items(), key=lambda item: -item[1])
        class_rows = "".join(f"<tr><td>{_e(name)}</td><td>{_fmt((per_class.get(name) or {}).get('recall'))}</td>"
                             f"<td>{100 * gain:+.1f}</td></tr>" for name, gain in gains[:20])
        return (f'<h2 id="learning-curve">Would more data help?</h2><p>{_e(curve.verdict)}</p>'
                + (f'<p class="muted">{_e(curve.note)}</p>' if curve.note else "")
                + '<p class="muted">The curve is measured on its own cross-validation rounds at growing shares of '
                'your examples, so its level is not the summary\'s score; read it for the change more data brings.</p>'
                + _img(plots.curve_png(curve), "learning curve")
                + "<table><tr><th>with</th><th>expected change in balanced accuracy (points)</th><th>likely range "
                f"(95%)</th></tr>{forecast}</table>"
                '<h3>Which classes would gain most from more examples</h3><table><tr><th>class</th><th>recall now '
                '(cross-validation, as under Mistakes by class)</th><th>recall points gained per doubling (learning '
                f"curve)</th></tr>{class_rows}</table>")

    def _examples(self) -> str:
        rows = getattr(self.clf, "misclassified_", None) or []
        if not rows:
            return ""
        items = "".join(_example(r, self.clf.modality_, f"({r['confidence']:.0%} sure)") for r in rows[:SHOWN])
        return ('<h2 id="misclassified">Examples the model gets wrong</h2><p>Predicted by a model that did not train '
                'on them, most confident mistakes first. A wrong given label is a common cause.</p>'
                f'<div class="grid">{items}</div>')

    def _label_issues(self) -> str:
        found = getattr(self.clf, "label_issues_", None)
        issues = found.get("examples") if isinstance(found, dict) else found
        if not issues:
            return ""
        why = {"outlier": "unlike any other example", "label": "another class confidently more likely",
               "disagrees": "a model trained without it predicts another class"}
        items = "".join(_example(r, self.clf.modality_, f"({why.get(str(r.get('kind')), r.get('kind'))}; score "
                                 f"{float(r.get('score', 0)):.2f})") for r in issues[:SHOWN])
        total = found.get("n_flagged", len(issues)) if isinstance(found, dict) else len(issues)
        return (f'<h2 id="label-issues">Flagged: check these labels ({total})</h2><p>The given label looks '
                'unlikely to a model trained without the example, or the example is unlike any other. Lower score '
                f'is more suspicious; the {min(SHOWN, len(issues))} most suspicious are shown.</p>'
                + (f'<p class="verdict"><b>Caution:</b> {_e(found["caution"])}.</p>'
                   if isinstance(found, dict) and found.get("caution") else "")
                + f'<div class="grid">{items}</div>')


def _problem(line: str) -> Problem:
    """A problem saved as its line (``where: message (action)``) read back, so a loaded model's report groups them."""
    found = re.match(r"^(.*?): (.*) \((skipped|kept)\)$", line, re.DOTALL)
    if found is None:
        return Problem("", line)
    return Problem(found[1], found[2], "kept" if found[3] == "kept" else "skipped")


def _timings_table(seconds: dict[str, float], fit_seconds: float) -> str:
    from handful._timing import table

    rows = "".join(f'<tr><td><pre style="margin:0">{_e(name)}</pre></td><td>{value:.1f}</td>'
                   f'<td>{"" if share is None else f"{share:.0%}"}</td></tr>'
                   for name, value, share in table(seconds, fit_seconds or None))
    return (f'<details id="timings"><summary>Where the {fit_seconds:.0f} s of training went</summary><table><tr>'
            f'<th>stage</th><th>seconds</th><th>share</th></tr>{rows}</table><p class="muted">A stage\'s seconds '
            'include those of the stages indented under it.</p></details>')


def _unlike(trust: dict[str, Any] | None) -> str:
    """An evaluation's share unlike the training data beside the expected share, marked when clearly more."""
    if not trust or "unlike_share" not in trust:
        return "-"
    said = f'{trust["unlike_share"]:.0%} ({trust["unlike_expected"]:.0%})'
    return f"<b>{said}: differs</b>" if trust.get("unlike_more") else said


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _card(title: str, estimate: dict[str, Any], kind: str = "") -> str:
    return (f'<div class="card {kind}">{_e(title)}<b>{estimate["mean"]:.3f}</b><span class=muted>95% range '
            f'{estimate["low"]:.3f}-{estimate["high"]:.3f}</span></div>')


def new_classes_text(added: dict[str, dict[str, Any]]) -> str:
    """An update's classes the old version did not have, in words (empty when none): the comparison on the old
    examples cannot see them, so each is named with its examples and out-of-fold recall."""
    if not added:
        return ""
    named = ", ".join(f"{k!r} ({v['examples']} example{'s' * (v['examples'] != 1)}"
                      + (f", recognised {v['recall']:.0%} of the time out of fold" if v.get("recall") is not None
                         else "") + ")" for k, v in added.items())
    return (f"New class{'es' * (len(added) > 1)}: {named}. The old version could not predict "
            f"{'them' if len(added) > 1 else 'it'}, so the comparison reads the old examples only.")

"""Diagnosis: is the model overfitting, underfitting or fine, and what should the user do next?

The evidence: the score on the training rows themselves (fit on all, scored on the same) against the
cross-validated score, the learning curve's slope, the classical baseline, chance, and per-class recall and
confusions out of fold. Advice is phrased in the user's terms (collect, augment, relabel, choose a larger backbone).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from handful.evaluation.curve import FLAT, RISING, WIDE, LearningCurve, forecast_gain
from handful.learners import LEARNERS, Learner

OVERFIT_GAP = 0.10  # training score this far above the cross-validated one: memorising, not learning
UNDERFIT_TRAIN = 0.9  # a head that cannot reach this on its own training rows is short of capacity or signal
ROOM = 0.95  # a class recalled this well has no room for "collect more of it"
RULE = (f"overfitting when the score on the examples learned from is {OVERFIT_GAP:.2f} or more above the "
        "cross-validated one; underfitting when the cross-validated score is within a tenth of the way from chance "
        f"to perfect, or the score on the examples learned from is below {UNDERFIT_TRAIN:.2f}; otherwise fine")

AUGMENT = {
    "image": "augment the images (random crops, flips, small rotations, colour jitter)",
    "audio": "augment the clips (time shifts, background noise, small pitch and speed changes)",
    "text": "augment the texts (paraphrases, back-translation, synonym swaps)",
}
LARGER = {
    "image": "a larger backbone (efficientnet-lite2)",
    "text": "a larger backbone (e5-small)",
    "audio": "another audio backbone (logmel-efficientnet-lite0, or aisfx fused with MFCC statistics)",
}


@dataclass
class Diagnosis:
    """The verdict (``overfitting``, ``underfitting`` or ``fine``), a one-line headline, the numbers behind it
    and concrete advice, most useful first."""

    verdict: str
    headline: str
    evidence: dict[str, Any] = field(default_factory=dict)
    advice: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Diagnosis:
        return cls(**data)

    def __str__(self) -> str:
        return "\n".join([f"{self.verdict}: {self.headline}"] + [f"- {a}" for a in self.advice])


def diagnose(
    train_score: float,
    cv_score: float,
    classes: list[str],
    modality: str,
    learner: str,
    baseline_score: float | None = None,
    curve: LearningCurve | None = None,
    confusion: np.ndarray | list[list[int]] | None = None,
    label_issues: list[dict[str, Any]] | None = None,
    augmentation: dict[str, Any] | None = None,
    baseline_chosen: bool = False,
    leaderboard: list[dict[str, Any]] | None = None,
) -> Diagnosis:
    """Read the evidence and say what is wrong, if anything, and what to do about it.

    Args:
        train_score: balanced accuracy of the final model on its own training rows.
        cv_score: cross-validated balanced accuracy.
        classes: class names in index order.
        modality: ``image``, ``text`` or ``audio`` (the advice names modality-specific augmentations).
        learner: the chosen head (dropout advice applies to the MLP heads).
        baseline_score: cross-validated balanced accuracy of the classical baseline, if it ran.
        curve: the learning curve, if one was measured.
        confusion: out-of-fold confusion matrix (rows: given label, columns: predicted).
        label_issues: suspected label errors, dicts with at least the given label under ``given``.
        augmentation: the model card's augmentation record (see ``selection.plan.augmentation_record``), so the
            advice does not suggest what the search already tried.
        baseline_chosen: the chosen model is the classical baseline itself (no pretrained one beat it).
        leaderboard: the search's rows, so a simpler head it tried and found worse is not advised.

    Example:
        >>> print(diagnose(1.0, 0.7, ["a", "b"], "image", "mlp").verdict)
        overfitting
    """
    chance = 1.0 / max(1, len(classes))
    gap = train_score - cv_score
    found = forecast_gain(curve)
    gain = None if found is None else found[0]
    evidence: dict[str, Any] = {
        "training_score": round(train_score, 4), "cv_score": round(cv_score, 4), "gap": round(gap, 4),
        "chance": round(chance, 4), "baseline_score": None if baseline_score is None else round(baseline_score, 4),
        "gain_with_2x_data": None if gain is None else round(gain, 4), "rule": RULE,
    }
    advice: list[str] = []
    narrow = found is not None and found[2] - found[1] <= WIDE  # the curve can only be read when its range is narrow
    rising = narrow and gain is not None and gain >= RISING
    flat = narrow and gain is not None and gain < FLAT
    if cv_score - chance < 0.1 * (1 - chance):
        verdict = "underfitting"
        headline = (f"The model barely beats guessing ({cv_score:.2f} against {chance:.2f} by chance): the "
                    "examples may not show what separates the classes.")
        advice += ["Check that each folder (or label) really holds its class: open a few examples of each.",
                   f"Try {LARGER.get(modality, 'a larger backbone')}, or fine-tune the backbone on your data."]
    elif gap >= OVERFIT_GAP - 1e-9:  # 0.98 - 0.88 is 0.0999... in floating point
        verdict = "overfitting"
        # percentages of the scores the report shows beside them (evidence to 4 places, shown to 2: 0.925 is 0.93)
        headline = (f"The model is right on {round(round(train_score, 4), 2):.0%} of the examples it learned from "
                    f"but on {round(round(cv_score, 4), 2):.0%} "
                    "of unseen ones: it memorises more than it generalises.")
        advice.append("Collect more labelled examples: the surest cure." if not flat else
                      "More of the same examples will not close the gap (the learning curve is flat); collect more "
                      "varied ones (other lighting, speakers, writers, backgrounds).")
        advice.append(_augment_advice(modality, augmentation))
        advice.append(_overfit_head_advice(learner, cv_score, leaderboard))
    elif train_score < UNDERFIT_TRAIN:
        verdict = "underfitting"
        headline = (f"The model scores {train_score:.2f} even on the examples it learned from: the frozen features "
                    "do not separate the classes well enough.")
        advice.append(f"Try {LARGER.get(modality, 'a larger backbone')}.")
        advice.append("Fine-tune the backbone on your data, so its features adapt to your classes.")
        flexible = _learner_advice(learner, "underfit_advice")
        if flexible:
            advice.append(flexible)
        if flat:
            advice.append("The learning curve is flat: more of the same data will not help; better features will.")
    else:
        verdict = "fine"
        headline = (f"No sign of over- or underfitting: {cv_score:.2f} on unseen examples, {train_score:.2f} on the "
                    "examples learned from.")
        if rising:
            advice.append("The learning curve is still rising: more labelled examples will improve the model.")
        elif flat:
            advice.append("The learning curve has flattened: more of the same data will not help much.")
    if baseline_chosen:
        advice.append("The chosen model is the simple baseline: no pretrained backbone beat it, so the classes may "
                      "differ in plain colour, loudness or word choice rather than content; check the data is sorted "
                      "by what you mean.")
    elif baseline_score is not None and baseline_score >= cv_score - 0.02:
        advice.append(f"The simple baseline scores as well ({baseline_score:.2f}): the classes may differ in plain "
                      "colour, loudness or word choice rather than content; check the data is sorted by what you mean.")
    specific = _class_advice(classes, curve, confusion, label_issues)  # names a class: more use than the general
    return Diagnosis(verdict, headline, evidence, specific[:1] + advice + specific[1:])


def _augment_advice(modality: str, record: dict[str, Any] | None) -> str:
    """Augmentation advice that knows what the search did: used it, tried it without gain, or never tried it."""
    how = AUGMENT.get(modality, "augment the examples")
    if not record:  # not offered (the fast preset, or switched off)
        return f"To stretch the examples you have, {how}: `--augment light` tries it."
    if not record.get("tried"):
        return f"To stretch the examples you have, {how}."
    views = f"{record.get('views', 'several')} augmented views of each example ({record.get('strength', 'light')})"
    if record.get("used"):
        return f"The model already learns from {views}; `--augment strong` stretches the examples further."
    stronger = " `--augment strong` may;" if record.get("strength") != "strong" else ""
    return (f"{views.capitalize()} were tried and did not score better in cross-validation:{stronger} examples "
            "that differ in ways augmentation cannot imitate help more.")


def _overfit_head_advice(learner: str, cv_score: float, leaderboard: list[dict[str, Any]] | None) -> str:
    """The chosen head's advice for overfitting, unless the simpler head it names was tried and scored lower (or
    fell too far behind to finish): then the head is not the cure."""
    simpler = getattr(LEARNERS.get(learner), "simpler", "prototypes")
    rows = [r for r in leaderboard or [] if r.get("learner") == simpler and not r.get("augment")
            and r.get("status") in ("ok", "stopped")]
    scores = [float(r["balanced_accuracy"]["mean"]) for r in rows
              if r.get("status") == "ok" and r.get("balanced_accuracy")]
    if simpler and rows and all(m < cv_score for m in scores):
        scored = f" ({max(scores):.2f} at best)" if scores else ""
        return (f"The simpler {simpler} head was tried and scored lower{scored}: a simpler head is not the cure "
                "here; more, or more varied, examples are.")
    return _learner_advice(learner, "overfit_advice") or Learner.overfit_advice


def _learner_advice(learner: str, kind: str) -> str | None:
    """What the chosen learner says to do when its model over- or underfits (see ``Learner.overfit_advice``)."""
    return getattr(LEARNERS[learner], kind) if learner in LEARNERS else None


def _class_advice(classes: list[str], curve: LearningCurve | None, confusion: np.ndarray | list[list[int]] | None,
                  label_issues: list[dict[str, Any]] | None) -> list[str]:
    """"Add examples of X" for one class only: the one recognised worst out of fold, when its recall has room to
    improve (below ``ROOM``) and is clearly below the others'; the learning curve's per-class gain is quoted for it."""
    advice = []
    if confusion is not None:
        matrix = np.asarray(confusion, dtype=np.float64)
        actual = matrix.sum(axis=1)
        recall = np.divide(np.diag(matrix), actual, out=np.ones(len(matrix)), where=actual > 0)
        c = int(np.argmin(recall))
        if actual[c] > 0 and recall[c] < ROOM and recall[c] < float(np.mean(recall)) - 0.05:
            off = matrix[c].copy()
            off[c] = 0
            other = int(off.argmax())
            gain = (curve.class_gain or {}).get(classes[c]) if curve is not None else None
            rising = f" (its recall rises {100 * gain:.0f} points per doubling on the learning curve)" \
                if gain is not None and gain >= 0.02 else ""
            largest = int(actual.argmax())
            few = (f" (it has {int(actual[c])}, '{classes[largest]}' {int(actual[largest])})"
                   if 4 * actual[c] <= actual[largest] else "")
            tied = [classes[k] for k in np.flatnonzero(off == off[other])]
            if len(tied) == 1:
                mistaken = f"most often mistaken for '{classes[other]}' ({int(off[other])} of {int(actual[c])})"
            elif len(tied) <= 3:  # "most often" would pick one of equals
                names = [f"'{t}'" for t in tied]
                mistaken = (f"mistaken for {', '.join(names[:-1])} and {names[-1]} ({int(off[other])} each of "
                            f"{int(actual[c])})")
            else:
                mistaken = (f"its {int(off.sum())} misses of {int(actual[c])} spread over {int(np.sum(off > 0))} "
                            "classes")
            advice.append(f"'{classes[c]}' is recognised only {recall[c]:.0%} of the time, {mistaken}: add examples of "
                          f"'{classes[c]}'{few}{rising} and check its labels.")
    if label_issues:
        counts: dict[str, int] = {}
        for issue in label_issues:
            given = str(issue.get("given", issue.get("given_label", issue.get("label", "?"))))
            counts[given] = counts.get(given, 0) + 1
        worst = sorted(counts.items(), key=lambda item: -item[1])[:2]
        advice.append("Check the labels of " + ", ".join(f"'{name}' ({n} suspicious)" for name, n in worst) + ".")
    return advice


def misclassified(
    proba: np.ndarray, y: np.ndarray, classes: list[str], sources: list[str], texts: list[str | None] | None = None,
    limit: int = 12,
) -> list[dict[str, Any]]:
    """The out-of-fold mistakes the model was surest of, most confident first (the minimum a report needs).

    Example:
        >>> proba = np.array([[0.9, 0.1], [0.2, 0.8]])
        >>> misclassified(proba, np.array([1, 1]), ["a", "b"], ["x.jpg", "y.jpg"])[0]["predicted"]
        'a'
    """
    predicted = proba.argmax(axis=1)
    wrong = np.flatnonzero(predicted != y)
    wrong = wrong[np.argsort(-proba[wrong, predicted[wrong]], kind="stable")][:limit]
    rows = []
    for i in wrong:
        row: dict[str, Any] = {"source": sources[i], "given": classes[y[i]], "predicted": classes[predicted[i]],
                               "confidence": round(float(proba[i, predicted[i]]), 4)}
        if texts is not None and texts[i] is not None:
            row["text"] = str(texts[i])[:500]
        rows.append(row)
    return rows

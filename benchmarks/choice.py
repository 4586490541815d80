"""Which candidate the search keeps: the leader by cross-validation, or handful's rule, on the same searches.

With a handful of examples every candidate's cross-validated mean is noisy, and the highest of several noisy means is
the one most likely to be high by luck. For each split this runs the default ``handful.Classifier`` once (labelled
examples only) and compares, on the same searched candidates and the same test set:
  leader   the highest mean balanced accuracy (ties: lower out-of-fold log loss), the baseline only when it leads
           the best model by more than the plain standard error of the paired fold differences (handful's rule
           until 2026-12-01)
  handful  :func:`handful.selection.best`: the baseline needs a lead beyond the Nadeau-Bengio corrected error, and
           among the models within one corrected error of the leader the backbone with the higher published
           prior (``BackboneSpec.prior``) is kept
The leader's test accuracy comes from refitting its candidate on all labelled examples, as the classifier does.

Protocols (nothing tuned to these sets; the prior is from published ImageNet and MTEB results):
  sst2-8, sst2-64  8 or 64 sentences a class from SST-2 train, scored on the full test split (1,821)
  sst5-8           8 sentences a class from SST-5 train (5 classes), scored on the full test split (2,210)
  ants             ants_bees: 10 photos a class from train/, scored on val/
  digits           spoken digits: three speakers labelled, the fourth speaker's clips (half, as in unlabelled.py)
                   as the test; all four rotations

Usage: HANDFUL_CACHE_DIR=... python benchmarks/choice.py [sst2-8 sst2-64 sst5-8 ants digits] [--seeds 0-9]
Writes benchmarks/results/choice_<set>.json and prints a Markdown table row per set.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

import handful
from handful import selection
from handful.backbones.features import Features
from handful.evaluation.metrics import balanced_accuracy
from handful.learners import FitContext
from handful.selection.results import Result, log_loss

sys.path.insert(0, str(Path(__file__).resolve().parent))
import unlabelled  # noqa: E402  (the same splits as the unlabelled-pool benchmark)
from _cli import arguments  # noqa: E402  (the benchmarks' shared command line)

RESULTS = Path(__file__).resolve().parent / "results"


def leader(results: list[Result], y: np.ndarray) -> Result:
    """The highest cross-validated mean; the baseline only when ahead of the best model beyond the plain error."""
    scored = [r for r in results if r.status == "ok" and r.estimate is not None]
    position = {id(r): i for i, r in enumerate(scored)}

    def rank(r: Result) -> tuple[float, float, int]:
        return (round(r.estimate.mean, 9) if r.estimate else -1.0, -log_loss(r, y), -position[id(r)])

    winner = max(scored, key=rank)
    models = [r for r in scored if r.candidate.kind != "baseline"]
    if winner.candidate.kind == "baseline" and models:
        challenger = max(models, key=rank)
        difference = np.asarray(winner.balanced) - np.asarray(challenger.balanced)
        if difference.mean() <= difference.std(ddof=1) / np.sqrt(len(difference)):
            return challenger
    return winner


SETS: dict[str, Any] = {"sst2-8": lambda s: unlabelled.sst("sst2", 8, s, 0),
                        "sst2-64": lambda s: unlabelled.sst("sst2", 64, s, 0),
                        "sst5-8": lambda s: unlabelled.sst("sst5", 8, s, 0),
                        "ants": unlabelled.ants, "digits": unlabelled.digits}


def one(train: Any, test: Any, seed: int) -> dict[str, Any]:
    seen: dict[str, Any] = {}
    real = selection.best

    def spy(results: list[Result], y: np.ndarray, test_fraction: float = 0.2) -> Result:
        seen.update(results=list(results), y=y)
        return real(results, y, test_fraction)

    selection.best = spy  # the classifier calls selection.best once, after the search
    try:
        started = time.perf_counter()
        clf = handful.Classifier(random_state=seed, verbose=0).fit(train)
        seconds = time.perf_counter() - started
    finally:
        selection.best = real
    classes = [str(c) for c in clf.classes_]
    y, y_test = seen["y"], np.searchsorted(np.asarray(classes), np.asarray(test.labels, dtype=str))
    picked = leader(seen["results"], y)
    row: dict[str, Any] = {"seed": seed, "seconds": round(seconds, 1), "load_average": os.getloadavg()[0],
                           "handful": f"{clf.backbone_} + {clf.learner_}",
                           "leader": f"{picked.candidate.backbone} + {picked.candidate.learner}"}
    found = clf.evaluate(test)
    row["handful_accuracy"], row["handful_balanced"] = found["accuracy"], found["balanced_accuracy"]
    if (picked.candidate.backbone, picked.candidate.learner, picked.candidate.augment) == (
            clf.backbone_, clf.learner_, clf.augment_):
        row["leader_accuracy"], row["leader_balanced"] = row["handful_accuracy"], row["handful_balanced"]
    else:
        c = picked.candidate
        views = None
        if c.augment:
            augmentation = clf.config_.augmentation()
            assert augmentation is not None, "an augmented candidate is searched only with augmentation configured"
            views = Features(train.examples).views(c.backbone, augmentation, seed)
        head = selection.fit_learner(c, Features(train.examples)[c.backbone], y, len(classes), np.arange(len(y)),
                                     FitContext(seed), views)
        predicted = head.predict_proba(Features(test.examples)[c.backbone]).argmax(axis=1)
        row["leader_accuracy"] = float(np.mean(predicted == y_test))
        row["leader_balanced"] = balanced_accuracy(y_test, predicted, len(classes))
    return row


def main(argv: list[str]) -> None:
    seeds = unlabelled._seeds(argv)
    names = [a for a in argv if a in SETS] or list(SETS)
    selection.score_cache = lambda *args, **kwargs: None  # every search from scratch
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        rows = []
        for _label, train, _pool, test, seed in SETS[name](seeds):
            rows.append(one(train, test, seed))
            print(json.dumps(rows[-1]), flush=True)
        table = {}
        for column in ("leader", "handful"):
            accuracy = [r[f"{column}_accuracy"] for r in rows]
            table[column] = {"mean": float(np.mean(accuracy)), "sd": float(np.std(accuracy, ddof=1))}
        gain = [r["handful_accuracy"] - r["leader_accuracy"] for r in rows]
        table["gain"] = {"mean": float(np.mean(gain)), "sd": float(np.std(gain, ddof=1)),
                         "changed": sum(r["handful"] != r["leader"] for r in rows), "splits": len(rows)}
        (RESULTS / f"choice_{name}.json").write_text(json.dumps({"runs": rows, "table": table}, indent=2))
        print(f"| {name} | {table['leader']['mean']:.3f} ± {table['leader']['sd']:.3f} | "
              f"{table['handful']['mean']:.3f} ± {table['handful']['sd']:.3f} | {table['gain']['mean']:+.3f} ± "
              f"{table['gain']['sd']:.3f} | {table['gain']['changed']} of {len(rows)} |", flush=True)


if __name__ == "__main__":
    main(arguments(__doc__))

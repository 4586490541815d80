"""Repetitions of k-fold that adapt to the noise of the estimate, against the fixed number, on the same splits.

For each split this runs the default ``handful.Classifier`` twice, labelled examples only, cross-validation scores
never reused (features shared through the cache):
  fixed     ``cv_repeats`` set to the table's number for this many examples (5 under 50, 3 under 200), every
            repetition run: handful's rule before 2026-12-01
  adaptive  the default: repetitions stop once the first candidates' repetitions agree
            (:func:`handful.selection.search.repeats_settled`)
Per split: the repetitions run, the seconds of the fit, the chosen candidate, its cross-validated mean and the
test accuracy. The seconds are wall time on a shared machine; the load average is recorded beside them.

Protocols (as in unlabelled.py and choice.py; nothing tuned to these sets):
  sst2-8, sst2-64  8 or 64 sentences a class from SST-2 train, scored on the full test split (1,821)
  sst5-8           8 sentences a class from SST-5 train (5 classes), scored on the full test split (2,210)
  ants             ants_bees: 10 photos a class from train/, scored on val/

Usage: HANDFUL_CACHE_DIR=... python benchmarks/repeats.py [sst2-64 sst2-8 sst5-8 ants] [--seeds 0-4]
Writes benchmarks/results/repeats_<set>.json and prints a Markdown table row per set.
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
from handful import config

sys.path.insert(0, str(Path(__file__).resolve().parent))
import choice  # noqa: E402  (the same splits as choice.py and the unlabelled-pool benchmark)
import unlabelled  # noqa: E402
from _cli import arguments  # noqa: E402  (the benchmarks' shared command line)

RESULTS = Path(__file__).resolve().parent / "results"
SETS = {name: choice.SETS[name] for name in ("sst2-8", "sst2-64", "sst5-8", "ants")}


def fit(train: Any, test: Any, seed: int, repeats: int | None) -> dict[str, Any]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    clf = handful.Classifier(random_state=seed, verbose=0, cv_repeats=repeats).fit(train)
    seconds = time.perf_counter() - started
    assert clf.protocol_ is not None and clf.cv_score_ is not None
    return {"repeats": clf.protocol_["repeats"], "seconds": round(seconds, 2), "load": round(load, 2),
            "chosen": f"{clf.backbone_} + {clf.learner_}" + (f" +{clf.augment_}" if clf.augment_ else ""),
            "cv": round(clf.cv_score_.mean, 4), "test": round(float(clf.evaluate(test)["accuracy"]), 4)}


def run(name: str, seeds: list[int]) -> dict[str, Any]:
    rows: list[dict[str, Any]] = []
    splits = SETS[name](seeds)
    fit(splits[0][1], splits[0][3], splits[0][4], None)  # load the networks first: not timed in either way
    for _, train, _, test, seed in splits:
        planned = config.adaptive_repeats(int(config.preset("best")["cv_repeats"]), len(train))
        row = {"seed": seed, "n": len(train), "planned_repeats": planned,
               "fixed": fit(train, test, seed, planned), "adaptive": fit(train, test, seed, None)}
        print(json.dumps(row), flush=True)
        rows.append(row)
    summary = {way: {key: [r[way][key] for r in rows] for key in ("test", "seconds", "repeats")}
               for way in ("fixed", "adaptive")}
    return {"set": name, "rows": rows, "summary": summary}


def main() -> None:
    args = arguments(__doc__)
    seeds = unlabelled._seeds(args)
    handful.selection.score_cache = lambda *a, **k: None  # type: ignore[assignment]  # score every fit afresh
    RESULTS.mkdir(exist_ok=True)
    print("| set (splits) | fixed: test acc | adaptive: test acc | fixed: repeats, s | adaptive: repeats, s "
          "| changed |")
    print("|---|---|---|---|---|---|")
    for name in [a for a in args if a in SETS] or list(SETS):
        found = run(name, seeds)
        (RESULTS / f"repeats_{name}.json").write_text(json.dumps(found, indent=1) + "\n")
        s, rows = found["summary"], found["rows"]
        changed = sum(r["fixed"]["chosen"] != r["adaptive"]["chosen"] for r in rows)
        print(f"| {name} ({len(rows)}) | {np.mean(s['fixed']['test']):.3f} ± {np.std(s['fixed']['test'], ddof=1):.3f} "
              f"| {np.mean(s['adaptive']['test']):.3f} ± {np.std(s['adaptive']['test'], ddof=1):.3f} "
              f"| {np.mean(s['fixed']['repeats']):.1f}, {np.mean(s['fixed']['seconds']):.1f} "
              f"| {np.mean(s['adaptive']['repeats']):.1f}, {np.mean(s['adaptive']['seconds']):.1f} "
              f"| {changed} of {len(rows)} |", flush=True)


if __name__ == "__main__":
    main()

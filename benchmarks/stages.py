"""Where a default train spends its time: one fit with the stage timer, cold or warm feature cache.

Prints the stage table (see :mod:`handful._timing`) and writes it to ``benchmarks/results/stages_<task>_<tag>.json``
with the load average before and after, so before/after tables of the speed work can be compared.

Run: ``python benchmarks/stages.py ants --tag before`` (``ants``: ants_bees train/ -> val/, default preset;
``demo``: what ``handful demo`` trains; ``sst2``: 16 SST-2 sentences; ``ngrams``: 800 SST-2 sentences on the word
n-gram baseline alone; ``digits``: 1,500 spoken-digit clips).
``--warm`` uses ``$HANDFUL_CACHE_DIR`` instead of an empty cache.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")


def prepare(task: str, scratch: Path) -> tuple[object, dict[str, object]]:
    """The training input of ``task`` and the Classifier options it uses."""
    if task == "ants":
        return DATA / "images" / "ants_bees", {}
    if task == "demo":
        from handful.examples import write_digits

        train_dir, _ = write_digits(scratch / "digits", per_class=20, seed=0)
        return train_dir, {"preset": "fast"}
    if task == "sst2":  # the sentences peers.py gives SetFit for seed 0 (its sst2_sample), read without pandas
        import csv

        import numpy as np

        with open(DATA / "text" / "sst2" / "train.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        rng, chosen = np.random.default_rng(0), []
        for label in sorted({r["label"] for r in rows}):
            chosen += [int(i) for i in rng.choice([i for i, r in enumerate(rows) if r["label"] == label], 8,
                                                   replace=False)]
        return ([rows[i]["text"] for i in chosen], [rows[i]["label"] for i in chosen]), {}
    if task == "ngrams":  # the first 800 SST-2 training sentences on the word n-gram baseline alone
        import csv

        with open(DATA / "text" / "sst2" / "train.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))[:800]
        return ([r["text"] for r in rows], [r["label"] for r in rows]), {"preset": "fast", "backbone": "word-ngrams"}
    if task == "digits":
        root = DATA / "audio" / "spoken_digits"
        files = sorted(p for p in root.rglob("*.wav") if p.stem.split("_")[1] != "nicolas")[:1500]
        return (files, [p.parent.name for p in files]), {}
    raise SystemExit(f"unknown task {task!r}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=["ants", "demo", "sst2", "ngrams", "digits"])
    parser.add_argument("--tag", default="now")
    parser.add_argument("--preset", default=None)
    parser.add_argument("--warm", action="store_true", help="use $HANDFUL_CACHE_DIR instead of an empty cache")
    args = parser.parse_args()
    import handful
    from handful._timing import paths, table

    with tempfile.TemporaryDirectory() as scratch:
        cache = os.environ.get("HANDFUL_CACHE_DIR") if args.warm else str(Path(scratch) / "cache")
        data, options = prepare(args.task, Path(scratch))
        if args.preset:
            options["preset"] = args.preset
        load_before = os.getloadavg()
        started = time.perf_counter()
        clf = handful.Classifier(random_state=0, verbose=0, cache_dir=cache, **options)  # type: ignore[arg-type]
        if isinstance(data, tuple):
            clf.fit(*data)
        else:
            clf.fit(data)
        seconds = time.perf_counter() - started
        load_after = os.getloadavg()
    rows = table(clf.timings_, clf.fit_seconds_)
    print(f"{args.task} ({args.tag}): {seconds:.1f} s, load {load_before[0]:.2f} -> {load_after[0]:.2f}; "
          f"chosen {clf.backbone_} + {clf.learner_}; cv {clf.cv_score_.mean if clf.cv_score_ else float('nan'):.3f}"
          + (f"; holdout accuracy {clf.holdout_['accuracy']:.3f}" if clf.holdout_ else ""))
    keys = dict(zip([n for n, _, _ in rows], paths(rows), strict=True))
    print(f"  {'stage':<58} {'wall s':>8} {'share':>6} {'CPU s':>8}")
    for name, value, share in rows:
        used = clf.timings_cpu_.get(keys[name])
        print(f"  {name:<58} {value:8.1f} {'' if share is None else f'{share:6.1%}'} "
              f"{'' if used is None else f'{used:8.1f}'}")
    out = HERE / "results" / f"stages_{args.task}_{args.tag}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({
        "task": args.task, "tag": args.tag, "cache": "warm" if args.warm else "cold", "seconds": round(seconds, 1),
        "load_average_before": [round(v, 2) for v in load_before],
        "load_average_after": [round(v, 2) for v in load_after],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "chosen": f"{clf.backbone_} + {clf.learner_}" + (" (augmented)" if clf.augment_ else ""),
        "cv_balanced_accuracy": clf.cv_score_.as_dict() if clf.cv_score_ else None,
        "holdout": {k: clf.holdout_[k] for k in ("accuracy", "n")} if clf.holdout_ else None,
        "timings": clf.timings_, "timings_cpu": clf.timings_cpu_,
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "argv": sys.argv[1:],
    }, indent=2) + "\n")


if __name__ == "__main__":
    main()

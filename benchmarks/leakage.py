"""How often the leakage check warns on small sets: independent examples (should not) and clumped ones (should).

The check (``handful.selection.leakage``) scores a linear head under random folds and under folds that keep clusters
of similar examples together. For each set and size, ``--draws`` random draws of N examples a class; for each draw
the random-fold and clustered scores, the top of the clustered 95% interval, and the verdict of two rules:
  now      the drop is at least 0.05 and the clustered interval lies below the random-fold score (the module's rule;
           measured here below its 40-example minimum too, where handful does not run the check)
  before   the same, or a drop of 0.15 or more on its own (the rule until 2026-12-01)

Sets (read in place from ../shared/data; features from $HANDFUL_CACHE_DIR):
  ants     ants_bees train/, Lite0: independent photos
  sst2     the first 600 SST-2 training sentences, MiniLM: independent sentences
  digits   spoken digits of george, jackson and lucas, mfcc-shape: three speakers, the clumps the check is for

Usage: HANDFUL_CACHE_DIR=... python benchmarks/leakage.py [ants sst2 digits] [--sizes 10,20,40,60] [--draws 8]
Writes benchmarks/results/leakage.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from handful.backbones.features import Features
from handful.data import Dataset, from_texts, load
from handful.selection import leakage
from handful.selection.folds import cross_validate, make_folds
from handful.selection.leakage import leakage_check, warns
from handful.selection.results import Candidate

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
OLD_LARGE_DROP = 0.15
SPEAKERS = ("george", "jackson", "lucas")


@contextmanager
def _no_minimum() -> Iterator[None]:
    """The check at every size, below its ``MIN_EXAMPLES`` too: how it would do there is what this measures."""
    saved, leakage.MIN_EXAMPLES = leakage.MIN_EXAMPLES, 0
    try:
        yield
    finally:
        leakage.MIN_EXAMPLES = saved


def dataset(name: str) -> tuple[Dataset, str]:
    if name == "ants":
        return load(DATA / "images" / "ants_bees" / "train").train, "efficientnet-lite0"
    if name == "sst2":
        with open(DATA / "text" / "sst2" / "train.csv", newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))[:600]
        return from_texts([r["text"] for r in rows], [r["label"] for r in rows]), "minilm-l6"
    if name == "digits":
        data = load(DATA / "audio" / "spoken_digits").train
        return data.subset([i for i, e in enumerate(data.examples) if e.path.stem.split("_")[1] in SPEAKERS]), \
            "mfcc-shape"
    raise SystemExit(f"unknown set {name!r}")


def draws(name: str, sizes: list[int], n_draws: int) -> list[dict[str, Any]]:
    data, backbone = dataset(name)
    features = Features(data.examples, os.environ.get("HANDFUL_CACHE_DIR"))[backbone]
    y_all = np.array([data.classes.index(str(label)) for label in data.labels])
    n_classes = len(data.classes)
    candidate = Candidate(backbone, "linear", "l2", "pretrained")
    rows = []
    for size in sizes:
        for seed in range(n_draws):
            rng = np.random.default_rng(seed)
            index = np.concatenate([rng.choice(np.flatnonzero(y_all == c), size, replace=False)
                                    for c in range(n_classes)])
            x, y = features[index], y_all[index]
            random = cross_validate(candidate, x, y, n_classes, make_folds(y, 5, 2, seed), seed)
            with _no_minimum():
                check = leakage_check(candidate, x, y, n_classes, random, x, 5, 2, seed)
            if check is None:
                continue
            before = check.warn or check.drop >= OLD_LARGE_DROP
            assert check.warn == warns(check.random, check.clustered, check.clustered_high)
            rows.append({"set": name, "per_class": size, "seed": seed, "random": check.random,
                         "clustered": check.clustered, "clustered_high": check.clustered_high,
                         "n_clusters": check.n_clusters, "warns_now": check.warn, "warned_before": before})
        done = [r for r in rows if r["per_class"] == size]
        print(f"{name} {size} a class: warns now {sum(bool(r['warns_now']) for r in done)}/{len(done)}, before "
              f"{sum(bool(r['warned_before']) for r in done)}/{len(done)}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=["ants", "sst2", "digits"])
    parser.add_argument("--sizes", default="10,20,40,60")
    parser.add_argument("--draws", type=int, default=8)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    load_before, started = os.getloadavg(), time.time()
    rows = [row for name in args.sets for row in draws(name, sizes, args.draws)]
    out = HERE / "results" / "leakage.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(started)),
                               "load_before": [round(v, 2) for v in load_before],
                               "load_after": [round(v, 2) for v in os.getloadavg()], "rows": rows}, indent=1) + "\n")
    print("\n| set | a class | warns now | warned before | clustered drop, median (max) |\n|---|---|---|---|---|")
    for name in args.sets:
        for size in sizes:
            done = [r for r in rows if r["set"] == name and r["per_class"] == size]
            drops = [r["random"] - r["clustered"] for r in done]
            print(f"| {name} | {size} | {sum(r['warns_now'] for r in done)}/{len(done)} | "
                  f"{sum(r['warned_before'] for r in done)}/{len(done)} | "
                  f"{np.median(drops):.2f} ({max(drops):.2f}) |")


if __name__ == "__main__":
    main()

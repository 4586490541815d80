"""Is the learning-curve forecast honest? Fit the curve on part of a training set, forecast the full set, compare.

For each set, a stratified random share (25% or 50%) of the training set stands in for "the data the user has".
The learning curve (default backbone, linear head, 5-fold x 3 repeats, fractions 0.2..1.0 of that share) forecasts
the cross-validated balanced accuracy with 4x (resp. 2x) the data, i.e. the whole set. The "actual" score is the
same cross-validation (5-fold x 3 repeats, linear head) on the whole set. A case is covered when the actual score
falls inside the stated 95% interval. Three seeds (different shares and folds) per case.

Sets: ants_bees train (245 photos, efficientnet-lite0), spoken_digits (2000 clips, aisfx), SST-2 train drawn to 500
and 2000 sentences (minilm-l6).

Usage: HANDFUL_CACHE_DIR=/tmp/hcache python benchmarks/forecast.py [ants digits sst2-500 sst2-2000]
Writes benchmarks/results/forecast.json and prints a Markdown table.
"""

from __future__ import annotations

import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from _cli import arguments

from handful.backbones.features import embed
from handful.backbones.registry import get_spec
from handful.data import from_texts, load
from handful.data.dataset import Dataset
from handful.evaluation.curve import learning_curve
from handful.selection import learner_fold_probabilities, make_folds

DATA = Path(os.environ.get("HANDFUL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results"
SHARES = (0.25, 0.5)
SEEDS = (0, 1, 2)
FOLDS, REPEATS = 5, 3


def sst2(n: int) -> Dataset:
    rows = list(csv.DictReader((DATA / "text" / "sst2" / "train.csv").open(encoding="utf-8")))
    picked = np.random.default_rng(0).choice(len(rows), n, replace=False)
    return from_texts([rows[i]["text"] for i in picked], [rows[i]["label"] for i in picked])


SETS = {
    "ants": ("efficientnet-lite0", lambda: load(DATA / "images" / "ants_bees" / "train").train),
    "digits": ("aisfx", lambda: load(DATA / "audio" / "spoken_digits").train),
    "sst2-500": ("minilm-l6", lambda: sst2(500)),
    "sst2-2000": ("minilm-l6", lambda: sst2(2000)),
}


def stratified_share(y: np.ndarray, share: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    picked = [rng.permutation(np.flatnonzero(y == c))[: int(round(share * np.sum(y == c)))] for c in np.unique(y)]
    return np.sort(np.concatenate(picked))


def run(name: str) -> list[dict[str, Any]]:
    backbone, read = SETS[name]
    dataset = read()
    classes = dataset.classes
    y = np.searchsorted(classes, np.asarray(dataset.labels, dtype=str))
    features = embed(backbone, dataset.examples)
    scaling = get_spec(backbone).normalize
    rows = []
    for seed in SEEDS:
        started = time.perf_counter()
        full = learning_curve(features, y, classes, make_folds(y, FOLDS, REPEATS, 1000 + seed), "linear", scaling,
                              seed, fractions=(1.0,), n_boot=0, fold_loop=learner_fold_probabilities)
        actual = full.mean[-1]
        for share in SHARES:
            part = stratified_share(y, share, seed)
            yp = y[part]
            curve = learning_curve(features[part], yp, classes, make_folds(yp, FOLDS, REPEATS, seed), "linear",
                                   scaling, seed, factors=(2.0, 4.0), fold_loop=learner_fold_probabilities)
            forecast = next(f for f in curve.forecasts if f.factor == round(1 / share))
            rows.append({
                "set": name, "backbone": backbone, "n_full": int(len(y)), "share": share, "seed": seed,
                "n_used": int(len(part)), "score_now": curve.mean[-1], "forecast": forecast.value,
                "low": forecast.low, "high": forecast.high, "actual": actual,
                "covered": bool(forecast.low <= actual <= forecast.high),
                "error": round(forecast.value - actual, 4), "verdict": curve.verdict,
                "seconds": round(time.perf_counter() - started, 1),
            })
            print(f"{name} share={share} seed={seed}: now {curve.mean[-1]:.3f} forecast {forecast.value:.3f} "
                  f"[{forecast.low:.3f}, {forecast.high:.3f}] actual {actual:.3f} "
                  f"{'inside' if rows[-1]['covered'] else 'OUTSIDE'}", flush=True)
    return rows


def main(names: list[str]) -> None:
    rows: list[dict[str, Any]] = []
    for name in names:
        rows += run(name)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "forecast.json"
    previous = json.loads(path.read_text()) if path.exists() else {"rows": []}
    kept = [r for r in previous.get("rows", []) if r["set"] not in names]
    all_rows = kept + rows
    path.write_text(json.dumps({"protocol": __doc__, "rows": all_rows}, indent=2) + "\n")
    print("\n| set | n used -> full | seed | score now | forecast at full [95%] | actual (CV at full) | inside |")
    print("|---|---|---|---|---|---|---|")
    for r in all_rows:
        print(f"| {r['set']} | {r['n_used']} -> {r['n_full']} | {r['seed']} | {r['score_now']:.3f} | "
              f"{r['forecast']:.3f} [{r['low']:.3f}, {r['high']:.3f}] | {r['actual']:.3f} | "
              f"{'yes' if r['covered'] else 'NO'} |")
    covered = sum(r["covered"] for r in all_rows)
    errors = np.abs([r["error"] for r in all_rows])
    print(f"\nCovered {covered} of {len(all_rows)}; mean |forecast - actual| {errors.mean():.3f}, "
          f"largest {errors.max():.3f}")


if __name__ == "__main__":
    main(arguments(__doc__) or list(SETS))

"""Do calibrated probabilities hold on new data when a model learns from a handful of examples?

Many small fits (the fast preset: the default backbone, linear and prototype heads), each scored on held-out data:
ants_bees 10 and 40 photos a class (scored on val/), spoken digits 2 classes x 15 clips, 3 x 20 and 10 x 10 (drawn
across the four speakers, scored on 100 other clips a class), SST-2 8, 32 and 64 sentences a class (scored on 600
test sentences); 10 seeds each, each seed its own draw.

Each fit's calibration rows (one per fold and example, as ``handful.evaluation.trust.fit_trust`` passes them) are
kept, and the calibrator is fitted on them three ways: ``none``; the temperature fitted to the bare labels
(``PSEUDO_EXAMPLES = 0``, handful before the pseudo-example); and as handful ships it. Each is applied to the final
model's probabilities on the held-out data. The columns: held-out log loss and expected calibration error (ECE),
mean over the seeds, and how many of the 10 fits kept a correction.

Usage: HANDFUL_CACHE_DIR=... python benchmarks/calibration.py [ants10 ants40 digits2x15 ...] [--seeds 10]
       [--preset fast|best]
Writes benchmarks/results/calibration[_best].json and prints a Markdown table.
"""

from __future__ import annotations

import csv
import json
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _cli import arguments

import handful
import handful.evaluation.trust as trust_module
from handful.evaluation import calibration

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"
Draw = tuple[list[str], list[str], list[str], list[str]]  # train inputs, labels; held-out inputs, labels


def digits(seed: int, per_class: int, classes: list[int]) -> Draw:
    rng = np.random.default_rng(seed)
    train, labels, test, truth = [], [], [], []
    for digit in classes:
        files = sorted(str(p) for p in (DATA / "audio" / "spoken_digits" / str(digit)).glob("*.wav"))
        rng.shuffle(files)
        train += files[:per_class]
        labels += [str(digit)] * per_class
        test += files[per_class:per_class + 100]
        truth += [str(digit)] * len(files[per_class:per_class + 100])
    return train, labels, test, truth


def ants(seed: int, per_class: int) -> Draw:
    rng = np.random.default_rng(seed)
    train, labels, test, truth = [], [], [], []
    for name in ("ants", "bees"):
        files = sorted(str(p) for p in (DATA / "images" / "ants_bees" / "train" / name).iterdir())
        rng.shuffle(files)
        train += files[:per_class]
        labels += [name] * per_class
        held = sorted(str(p) for p in (DATA / "images" / "ants_bees" / "val" / name).iterdir())
        test += held
        truth += [name] * len(held)
    return train, labels, test, truth


def sst2(seed: int, per_class: int) -> Draw:
    with open(DATA / "text" / "sst2" / "train.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    with open(DATA / "text" / "sst2" / "test.csv", encoding="utf-8") as f:
        tests = random.Random(100 + seed).sample(list(csv.DictReader(f)), 600)
    draw = random.Random(seed)
    chosen = [row for label in "01" for row in draw.sample([r for r in rows if r["label"] == label], per_class)]
    return ([r["text"] for r in chosen], [r["label"] for r in chosen], [r["text"] for r in tests],
            [r["label"] for r in tests])


SETS: dict[str, Callable[[int], Draw]] = {
    "ants10": lambda s: ants(s, 10), "ants40": lambda s: ants(s, 40),
    "digits2x15": lambda s: digits(s, 15, [1, 2]), "digits3x20": lambda s: digits(s, 20, [3, 5, 8]),
    "digits10x10": lambda s: digits(s, 10, list(range(10))),
    "sst2_8": lambda s: sst2(s, 8), "sst2_32": lambda s: sst2(s, 32), "sst2_64": lambda s: sst2(s, 64),
}


class Rows:
    """Keeps the rows ``fit_trust`` hands the calibration (a wrapper around it, the benchmark's only hook)."""

    def __init__(self) -> None:
        self.kept: dict[str, Any] = {}
        self.fit = calibration.fit_calibration

    def __call__(self, proba: np.ndarray, y: np.ndarray, **options: Any) -> calibration.CalibrationFit:
        self.kept = {"proba": np.asarray(proba), "y": np.asarray(y), **options}
        return self.fit(proba, y, **options)


def one(name: str, seed: int, rows: Rows, preset: str = "fast") -> dict[str, Any]:
    train, labels, test, truth = SETS[name](seed)
    started = time.perf_counter()
    clf = handful.Classifier(preset=preset, random_state=seed, verbose=False).fit(train, labels)
    seconds = time.perf_counter() - started
    raw = clf._raw(clf._inputs(test))[1]  # the final model's probabilities before calibration
    classes = [str(c) for c in clf.classes_]
    y = np.array([classes.index(t) for t in truth])
    result: dict[str, Any] = {"set": name, "seed": seed, "preset": preset, "n": len(train),
                              "seconds": round(seconds, 1), "accuracy": float((raw.argmax(1) == y).mean())}
    for way, pseudo in (("none", None), ("bare", 0.0), ("handful", calibration.PSEUDO_EXAMPLES)):
        shipped = calibration.PSEUDO_EXAMPLES
        if pseudo is None:
            calibrated, kept = raw, False
        else:
            calibration.PSEUDO_EXAMPLES = pseudo
            try:
                fitted = rows.fit(rows.kept["proba"], rows.kept["y"], **{k: v for k, v in rows.kept.items()
                                                                         if k not in ("proba", "y")})
            finally:
                calibration.PSEUDO_EXAMPLES = shipped
            calibrated, kept = fitted.calibrator.transform(raw), fitted.calibrator.method != "none"
            result[f"{way} T"] = fitted.calibrator.temperature
        result[f"{way} log loss"] = calibration.log_loss(calibrated, y)
        result[f"{way} ECE"] = calibration.expected_calibration_error(calibrated, y)
        result[f"{way} corrected"] = kept
    print(json.dumps(result), flush=True)
    return result


def table(results: list[dict[str, Any]]) -> str:
    ways = ("none", "bare", "handful")
    lines = ["| set (fits) | held-out accuracy | log loss: none / bare / handful | ECE: none / bare / handful "
             "| corrected: bare / handful |", "|---|---|---|---|---|"]
    for name in dict.fromkeys(r["set"] for r in results):
        rows = [r for r in results if r["set"] == name]

        def mean(key: str, rows: list[dict[str, Any]] = rows) -> float:
            return float(np.mean([r[key] for r in rows]))

        lines.append(f"| {name} ({len(rows)}) | {mean('accuracy'):.3f} | "
                     + " / ".join(f"{mean(f'{w} log loss'):.3f}" for w in ways) + " | "
                     + " / ".join(f"{mean(f'{w} ECE'):.3f}" for w in ways) + " | "
                     + " / ".join(str(sum(r[f"{w} corrected"] for r in rows)) for w in ways[1:]) + " |")
    every = {w: (np.mean([r[f"{w} log loss"] for r in results]), np.mean([r[f"{w} ECE"] for r in results]))
             for w in ways}
    lines.append(f"| all ({len(results)}) | | " + " / ".join(f"{every[w][0]:.3f}" for w in ways) + " | "
                 + " / ".join(f"{every[w][1]:.3f}" for w in ways) + " | |")
    return "\n".join(lines)


def main() -> None:
    args = arguments(__doc__)
    seeds = 10
    if "--seeds" in args:
        at = args.index("--seeds")
        seeds = int(args[at + 1])
        del args[at:at + 2]
    preset = "fast"
    if "--preset" in args:
        at = args.index("--preset")
        preset = args[at + 1]
        del args[at:at + 2]
    names = args or list(SETS)
    unknown = [n for n in names if n not in SETS]
    if unknown:
        raise SystemExit(f"unknown set(s) {unknown}; choose from {list(SETS)}")
    rows = Rows()
    trust_module.fit_calibration = rows  # type: ignore[assignment]
    results = [one(name, seed, rows, preset) for name in names for seed in range(seeds)]
    RESULTS.mkdir(exist_ok=True)
    name = "calibration.json" if preset == "fast" else f"calibration_{preset}.json"
    (RESULTS / name).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    print(table(results))


if __name__ == "__main__":
    main()

"""Fine-tuning the tail of a backbone (the ``finetune`` learner) against the frozen backbone's linear probe.

Protocols (default settings, one learner fit each, no cross-validation):
  ants      train on ants_bees/train, score on ants_bees/val, for EfficientNet-Lite0 and Lite2.
  sst2      N sentences a class drawn from SST-2 train per seed, scored on 500 test sentences (fixed draw).
  digits    spoken digits, 10 clips a digit from each of george, jackson and lucas; scored on 10 a digit from
            nicolas (an unseen voice); log-mel spectrogram images through EfficientNet-Lite0.

The trunk rows and frozen embeddings come from the feature cache (set HANDFUL_CACHE_DIR to reuse them); the
seconds are one learner fit, on one torch thread. Fits share the machine with whatever else runs on it.

Usage: python benchmarks/finetune.py [ants|sst2|digits ...] [--seeds 0,1] [--per-class 8]
Writes benchmarks/results/finetune_<name>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from handful.backbones.features import embed
from handful.data import from_inputs, from_texts, load
from handful.data.dataset import Dataset
from handful.learners import FitContext, make_learner

DATA = Path(os.environ.get("HANDFUL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results"


def compare(backbone: str, train: Dataset, test: Dataset, seed: int) -> dict[str, Any]:
    """Test accuracy and fit seconds of the linear probe on ``backbone`` and of ``finetune`` on its trunk."""
    classes = train.classes
    y_train = np.searchsorted(classes, np.asarray(train.labels, dtype=str))
    y_test = np.searchsorted(classes, np.asarray(test.labels, dtype=str))
    row: dict[str, Any] = {"backbone": backbone, "seed": seed, "n_train": len(train), "n_test": len(test)}
    for learner, name in (("linear", backbone), ("finetune", f"{backbone}:trunk")):
        x_train = embed(name, train.examples)
        x_test = embed(name, test.examples)
        started = time.perf_counter()
        head = make_learner(learner, "l2").fit(x_train, y_train, len(classes), FitContext(seed, backbone=name))
        row[f"{learner}_seconds"] = round(time.perf_counter() - started, 2)
        row[learner] = float(np.mean(head.predict_proba(x_test).argmax(axis=1) == y_test))
        if learner == "finetune":
            row["epochs"] = f"kept {head.epochs_} of {head.epochs_run_} ({head.stopped_})"  # type: ignore[attr-defined]
    return row


def ants(seeds: list[int], per_class: int) -> list[dict[str, Any]]:
    data = load(DATA / "images" / "ants_bees")
    if data.holdout is None:
        raise SystemExit(f"{DATA / 'images' / 'ants_bees'} has no val/ folder")
    backbones = ("efficientnet-lite0", "efficientnet-lite2")
    return [compare(backbone, data.train, data.holdout, seed) for backbone in backbones for seed in seeds]


def sst2(seeds: list[int], per_class: int) -> list[dict[str, Any]]:
    def read(name: str) -> tuple[list[str], np.ndarray]:
        with (DATA / "text" / "sst2" / name).open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        return [r["text"] for r in rows], np.asarray([r["label"] for r in rows])

    texts, labels = read("train.csv")
    test_texts, test_labels = read("test.csv")
    pick = np.random.default_rng(0).choice(len(test_texts), 500, replace=False)
    test = from_texts([test_texts[i] for i in pick], list(test_labels[pick]))
    found = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        chosen = np.concatenate([rng.choice(np.flatnonzero(labels == c), per_class, replace=False) for c in ("0", "1")])
        train = from_texts([texts[i] for i in chosen], list(labels[chosen]))
        found.append({**compare("minilm-l6", train, test, seed), "per_class": per_class})
    return found


def digits(seeds: list[int], per_class: int) -> list[dict[str, Any]]:
    root = DATA / "audio" / "spoken_digits"

    def clips(speakers: tuple[str, ...]) -> Dataset:
        files = [f for d in range(10) for s in speakers for f in sorted((root / str(d)).glob(f"{d}_{s}_*.wav"))[:10]]
        return from_inputs([str(f) for f in files], [f.parent.name for f in files], "audio")

    train, test = clips(("george", "jackson", "lucas")), clips(("nicolas",))
    return [compare("logmel-efficientnet-lite0", train, test, seed) for seed in seeds]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sets", nargs="*", default=["ants", "sst2", "digits"], choices=["ants", "sst2", "digits"])
    parser.add_argument("--seeds", default="0,1")
    parser.add_argument("--per-class", type=int, default=8)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    RESULTS.mkdir(exist_ok=True)
    print("| set | backbone | seed | linear probe | finetune | seconds (probe / finetune) | epochs |")
    print("|---|---|---|---|---|---|---|")
    for name in args.sets:
        rows = {"ants": ants, "sst2": sst2, "digits": digits}[name](seeds, args.per_class)
        label = f"sst2, {args.per_class} a class" if name == "sst2" else name
        suffix = f"_{args.per_class}" if name == "sst2" else ""
        (RESULTS / f"finetune_{name}{suffix}.json").write_text(json.dumps(rows, indent=2) + "\n")
        for r in rows:
            print(f"| {label} | {r['backbone']} | {r['seed']} | {r['linear']:.3f} | {r['finetune']:.3f} | "
                  f"{r['linear_seconds']} / {r['finetune_seconds']} | {r['epochs']} |")
        for backbone in sorted({r["backbone"] for r in rows}):
            mine = [r for r in rows if r["backbone"] == backbone]
            print(f"| {label} | {backbone} | mean | {np.mean([r['linear'] for r in mine]):.3f} | "
                  f"{np.mean([r['finetune'] for r in mine]):.3f} | "
                  f"{np.mean([r['linear_seconds'] for r in mine]):.2f} / "
                  f"{np.mean([r['finetune_seconds'] for r in mine]):.1f} | |")


if __name__ == "__main__":
    main()

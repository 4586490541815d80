"""handful's default preset against its classical baseline and a frozen linear probe, on ../shared/data.

Protocols (no tuning to these sets: everything runs with the default preset):
  ants      train on ants_bees/train, score on ants_bees/val; 3 seeds (the CV folds and heads differ by seed).
  digits    spoken_digits trained on three speakers, tested on the fourth; all four rotations.
  sst2      8 and 64 training examples per class drawn from SST-2 train with 5 seeds, scored on the full test split.
  cache     `handful train` on ants_bees as a subprocess twice with one fresh cache folder: first vs second run.

Usage: python benchmarks/core.py [ants|digits|sst2|cache ...]   (all by default)
Writes benchmarks/results/core_<name>.json and prints a Markdown table.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _cli import arguments

import handful
from handful.backbones.features import embed
from handful.data import from_texts, load
from handful.data.dataset import Dataset
from handful.learners import make_learner

DATA = Path(os.environ.get("HANDFUL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results"


def probe(backbone: str, scaling: str, train: Dataset, test: Dataset) -> float:
    """Accuracy of one backbone + logistic regression fitted on ``train`` and scored on ``test``."""
    classes = train.classes
    x_train = embed(backbone, train.examples)
    x_test = embed(backbone, test.examples)
    y_train = np.searchsorted(classes, np.asarray(train.labels, dtype=str))
    y_test = np.searchsorted(classes, np.asarray(test.labels, dtype=str))
    head = make_learner("linear", scaling).fit(x_train, y_train, len(classes), 0)
    return float(np.mean(head.predict_proba(x_test).argmax(axis=1) == y_test))


def run_handful(train: Dataset, test: Dataset, seed: int) -> dict[str, Any]:
    started = time.perf_counter()
    clf = handful.Classifier(random_state=seed, verbose=0).fit(train)
    fit_seconds = time.perf_counter() - started
    metrics = clf.evaluate(test)
    return {"accuracy": metrics["accuracy"], "interval": metrics["accuracy_interval"], "chosen":
            f"{clf.backbone_} + {clf.learner_}", "cv": clf.cv_score_.as_dict() if clf.cv_score_ else None,
            "fit_seconds": round(fit_seconds, 1)}


def summary(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0.0:.3f}"


def bench_ants() -> dict[str, Any]:
    data = load(DATA / "images" / "ants_bees")
    assert data.holdout is not None
    runs = [run_handful(data.train, data.holdout, seed) for seed in range(3)]
    return {
        "protocol": "train on train/ (245), score on val/ (153); seeds 0-2",
        "handful": runs,
        "handful_accuracy": summary([r["accuracy"] for r in runs]),
        "baseline colour-thumbnail + LR": probe("colour-thumbnail", "standard", data.train, data.holdout),
        "efficientnet-lite0 frozen + LR": probe("efficientnet-lite0", "l2", data.train, data.holdout),
        "efficientnet-lite2 frozen + LR": probe("efficientnet-lite2", "l2", data.train, data.holdout),
    }


def bench_digits() -> dict[str, Any]:
    data = load(DATA / "audio" / "spoken_digits").train
    speakers = np.array([Path(e.source).stem.split("_")[1] for e in data.examples])
    rows = []
    for speaker in sorted(set(speakers)):
        train = data.subset(np.flatnonzero(speakers != speaker))
        test = data.subset(np.flatnonzero(speakers == speaker))
        run = run_handful(train, test, seed=0)
        run["held_out_speaker"] = speaker
        run["baseline mfcc-stats + LR"] = probe("mfcc-stats", "standard", train, test)
        run["aisfx frozen + LR"] = probe("aisfx", "l2", train, test)
        rows.append(run)
        print(json.dumps(run), flush=True)
    return {
        "protocol": "train on 3 speakers (1500 clips), test on the 4th (500); all 4 rotations",
        "rotations": rows,
        "handful_accuracy": summary([r["accuracy"] for r in rows]),
        "baseline_accuracy": summary([r["baseline mfcc-stats + LR"] for r in rows]),
        "aisfx_accuracy": summary([r["aisfx frozen + LR"] for r in rows]),
    }


def bench_sst2() -> dict[str, Any]:
    def read(split: str) -> tuple[list[str], list[str]]:
        rows = list(csv.DictReader((DATA / "text" / "sst2" / f"{split}.csv").open(encoding="utf-8")))
        return [r["text"] for r in rows], [r["label"] for r in rows]

    texts, labels = read("train")
    test = from_texts(*read("test"))
    out: dict[str, Any] = {"protocol": "N per class from train with seeds 0-4, scored on the full test split (1821)"}
    for per_class in (8, 64):
        rows = []
        for seed in range(5):
            rng = np.random.default_rng(seed)
            picked = [i for label in ("0", "1") for i in
                      rng.permutation([j for j, v in enumerate(labels) if v == label])[:per_class]]
            train = from_texts([texts[i] for i in picked], [labels[i] for i in picked])
            run = run_handful(train, test, seed)
            run["seed"] = seed
            run["baseline tfidf + LR"] = probe("word-ngrams", "tfidf", train, test)
            run["minilm frozen + LR"] = probe("minilm-l6", "l2", train, test)
            rows.append(run)
            print(json.dumps(run), flush=True)
        out[f"{per_class}_per_class"] = {
            "runs": rows,
            "handful_accuracy": summary([r["accuracy"] for r in rows]),
            "baseline_accuracy": summary([r["baseline tfidf + LR"] for r in rows]),
            "minilm_accuracy": summary([r["minilm frozen + LR"] for r in rows]),
        }
    return out


def bench_cache() -> dict[str, Any]:
    """Cold run, then the same run again (features and scores cached), then another seed (features cached only)."""
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "HANDFUL_CACHE_DIR": str(Path(folder) / "cache")}
        times = []
        for seed in ("0", "0", "1"):
            command = [sys.executable, "-m", "handful", "train", str(DATA / "images" / "ants_bees"), "-o",
                       str(Path(folder) / "model"), "--quiet", "--seed", seed]
            started = time.perf_counter()
            subprocess.run(command, env=env, check=True)
            times.append(time.perf_counter() - started)
    return {"protocol": "handful train ants_bees (default preset), one fresh cache: seed 0, seed 0 again, seed 1",
            "first_s": round(times[0], 1), "same_again_s": round(times[1], 1), "other_seed_s": round(times[2], 1),
            "speedup_same": round(times[0] / times[1], 1), "speedup_features_only": round(times[0] / times[2], 1)}


BENCHES = {"ants": bench_ants, "digits": bench_digits, "sst2": bench_sst2, "cache": bench_cache}


def main(names: list[str]) -> None:
    RESULTS.mkdir(exist_ok=True)
    for name in names or list(BENCHES):
        started = time.perf_counter()
        result = BENCHES[name]()
        result["benchmark_seconds"] = round(time.perf_counter() - started, 1)
        (RESULTS / f"core_{name}.json").write_text(json.dumps(result, indent=2))
        print(f"## {name}\n{json.dumps({k: v for k, v in result.items() if not isinstance(v, list)}, indent=2)}",
              flush=True)


if __name__ == "__main__":
    main(arguments(__doc__))

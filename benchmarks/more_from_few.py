"""More from few examples: frozen linear probe vs + augmentation vs fine-tuning vs handful's automatic choice.

One fine-tunable backbone per set, the same for the three fixed recipes, so each column changes one thing:
  probe      the backbone's frozen embedding + logistic regression (no augmentation)
  augment    the same + 4 light augmented views of every training example in the head's training data
  finetune   the backbone's last layers tuned with a new head (``finetune`` learner on the cached trunk rows;
             SetFit's contrastive recipe for text), no augmentation
  auto       ``handful.Classifier(random_state=seed)``: the default preset, which scores frozen, augmented and
             fine-tuned candidates (and the other backbones) by repeated cross-validation and keeps the best

Protocols (nothing tuned to these sets):
  ants      ants_bees train (245) -> val (153); seeds 0-2; backbone efficientnet-lite0
  digits    spoken_digits, three speakers train (1,500 clips), the fourth tests (500), all four rotations;
            backbone logmel-efficientnet-lite0 (the spectrogram CNN, the fine-tunable audio backbone)
  sst2      8 and 64 sentences per class from SST-2 train, seeds 0-4, scored on the full test split (1,821);
            backbone minilm-l6

Training time is the wall time of each fit with the originals' features already in the cache (the benchmark
embeds them once first), so the columns compare the cost of the remedy, not the first embedding. Augmented views
are cached per seed, so the first run of a seed pays for them; auto's cross-validation scores are never reused.

Usage: HANDFUL_CACHE_DIR=... python benchmarks/more_from_few.py [ants|digits|sst2 ...] [--skip-auto]
Writes benchmarks/results/more_from_few_<set>.json and prints a Markdown table.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _cli import arguments

import handful
from handful.augment import Augmentation
from handful.backbones.cache import default_cache_dir
from handful.backbones.features import embed_all, embed_views
from handful.backbones.registry import trunk_name
from handful.data import from_texts, load
from handful.data.dataset import Dataset
from handful.learners import FitContext, make_learner
from handful.selection import with_views

DATA = Path(os.environ.get("HANDFUL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results"
AUGMENTATION = Augmentation("light", frozenset(), 4)
BACKBONES = {"ants": "efficientnet-lite0", "digits": "logmel-efficientnet-lite0", "sst2": "minilm-l6"}


def _labels(dataset: Dataset, classes: list[str]) -> np.ndarray:
    return np.searchsorted(np.asarray(classes), np.asarray(dataset.labels, dtype=str))


def _accuracy(proba: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(proba.argmax(axis=1) == y))


def _timed(fit: Callable[[], float]) -> dict[str, float]:
    started = time.perf_counter()
    accuracy = fit()
    return {"accuracy": accuracy, "seconds": round(time.perf_counter() - started, 1)}


def fixed_recipes(backbone: str, train: Dataset, test: Dataset, seed: int) -> dict[str, dict[str, float]]:
    """Probe, probe + augmented views, and fine-tuning of ``backbone`` on ``train``, scored on ``test``."""
    classes = train.classes
    y_train, y_test = _labels(train, classes), _labels(test, classes)
    trunk = trunk_name(backbone)
    assert trunk is not None, f"{backbone} has no trunk to fine-tune"
    x_train, t_train = embed_all([backbone, trunk], train.examples).values()  # each image decoded once for both
    x_test, t_test = embed_all([backbone, trunk], test.examples).values()

    def probe() -> float:
        head = make_learner("linear", "l2").fit(x_train, y_train, len(classes), seed)
        return _accuracy(head.predict_proba(x_test), y_test)

    def augmented() -> float:
        views = embed_views(backbone, train.examples, AUGMENTATION, seed)
        rows = np.arange(len(y_train))
        head = make_learner("linear", "l2").fit(*with_views(x_train, y_train, rows, views), len(classes), seed)
        return _accuracy(head.predict_proba(x_test), y_test)

    def finetune() -> float:
        head = make_learner("finetune", "l2").fit(t_train, y_train, len(classes), FitContext(seed, backbone=trunk))
        return _accuracy(head.predict_proba(t_test), y_test)

    return {"probe": _timed(probe), "augment": _timed(augmented), "finetune": _timed(finetune)}


def auto(train: Dataset, test: Dataset, seed: int) -> dict[str, Any]:
    # Features stay cached, cross-validation scores do not: the time is that of a real search.
    shutil.rmtree(default_cache_dir() / "scores", ignore_errors=True)
    started = time.perf_counter()
    clf = handful.Classifier(random_state=seed, verbose=0).fit(train)
    seconds = time.perf_counter() - started
    board = {f"{r['backbone']}|{r['learner']}|{r.get('augment', '')}": (r["balanced_accuracy"] or {}).get("mean")
             for r in clf.leaderboard_}
    chosen = clf.leaderboard_[0]
    return {"accuracy": clf.evaluate(test)["accuracy"], "seconds": round(seconds, 1),
            "chosen": f"{clf.backbone_} + {clf.learner_}" + (f" + augment {chosen.get('augment')}"
                                                             if chosen.get("augment") else ""),
            "leaderboard": board}


def run(name: str, splits: list[tuple[str, Dataset, Dataset, int]], with_auto: bool) -> dict[str, Any]:
    rows = []
    for label, train, test, seed in splits:
        row: dict[str, Any] = {"split": label, "seed": seed, **fixed_recipes(BACKBONES[name], train, test, seed)}
        if with_auto:
            row["auto"] = auto(train, test, seed)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "auto"} |
                         ({"auto": {k: v for k, v in row["auto"].items() if k != "leaderboard"}}
                          if with_auto else {})), flush=True)
    columns = ["probe", "augment", "finetune"] + (["auto"] if with_auto else [])
    table = {}
    for column in columns:
        accuracy = [r[column]["accuracy"] for r in rows]
        seconds = [r[column]["seconds"] for r in rows]
        table[column] = {"mean": float(np.mean(accuracy)), "sd": float(np.std(accuracy, ddof=1)) if len(rows) > 1
                         else 0.0, "seconds": float(np.mean(seconds))}
    return {"backbone": BACKBONES[name], "augmentation": AUGMENTATION.key(), "runs": rows, "table": table}


def ants() -> list[tuple[str, Dataset, Dataset, int]]:
    data = load(DATA / "images" / "ants_bees")
    assert data.holdout is not None
    return [("train->val", data.train, data.holdout, seed) for seed in range(3)]


def digits() -> list[tuple[str, Dataset, Dataset, int]]:
    data = load(DATA / "audio" / "spoken_digits").train
    speakers = np.array([Path(e.source).stem.split("_")[1] for e in data.examples])
    return [(f"held out {s}", data.subset(np.flatnonzero(speakers != s)), data.subset(np.flatnonzero(speakers == s)),
             0) for s in sorted(set(speakers))]


def sst2(per_class: int) -> list[tuple[str, Dataset, Dataset, int]]:
    def read(split: str) -> tuple[list[str], list[str]]:
        rows = list(csv.DictReader((DATA / "text" / "sst2" / f"{split}.csv").open(encoding="utf-8")))
        return [r["text"] for r in rows], [r["label"] for r in rows]

    texts, labels = read("train")
    test = from_texts(*read("test"))
    splits = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        picked = [i for label in ("0", "1") for i in
                  rng.permutation([j for j, v in enumerate(labels) if v == label])[:per_class]]
        splits.append((f"{per_class}/class", from_texts([texts[i] for i in picked], [labels[i] for i in picked]),
                       test, seed))
    return splits


SETS: dict[str, Callable[[], list[tuple[str, Dataset, Dataset, int]]]] = {
    "ants": ants, "digits": digits, "sst2-8": lambda: sst2(8), "sst2-64": lambda: sst2(64)}


def main(argv: list[str]) -> None:
    with_auto = "--skip-auto" not in argv
    names = [a for a in argv if not a.startswith("--")] or list(SETS)
    RESULTS.mkdir(exist_ok=True)
    for name in names:
        started = time.perf_counter()
        result = run(name.split("-")[0], SETS[name](), with_auto)
        result["benchmark_seconds"] = round(time.perf_counter() - started, 1)
        (RESULTS / f"more_from_few_{name}.json").write_text(json.dumps(result, indent=2))
        cells = " | ".join(f"{c}: {v['mean']:.3f} ± {v['sd']:.3f} ({v['seconds']:.0f} s)"
                           for c, v in result["table"].items())
        print(f"| {name} | {cells} |", flush=True)


if __name__ == "__main__":
    main(arguments(__doc__))

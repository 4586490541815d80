"""Learning from the unlabelled pile: the default choice with and without an unlabelled pool, and each remedy's gain.

For every split, on the same labelled examples:
  labelled     ``handful.Classifier(random_state=seed)`` on the labelled examples only (today's default)
  pool         the same with ``unlabelled=`` the pool: the default preset adds the pool candidates (self-training,
               domain-aligned self-training, label spreading, autoencoder, VAE, VAE-generated rows) and keeps one
               only where cross-validation on the labelled examples says it helps
  remedies     on the set's default backbone, fitted on all labelled examples (+ the pool) and scored on the test
               set: a linear probe (labelled only), each pool learner, co-training (the default backbone's model
               refitted on pool rows that it and ENSEMBLE_BACKBONES' other model label alike), and a greedy
               ensemble (Caruana 2004) of the
               linear, prototype and MLP heads on ENSEMBLE_BACKBONES, weights chosen on out-of-fold probabilities;
               each remedy's gain is its accuracy minus the probe's. Beside them, "probe B": the linear probe on
               the ensemble's other backbone B alone, so the ensemble's gain can be told from B's

Protocols (nothing tuned to these sets):
  sst2-8, sst2-64  8 or 64 sentences a class from SST-2 train (seeds 0-4), the first 2,000 other training
                   sentences as the pool (the same for every seed, so it is embedded once: the rest of the export a
                   user has), scored on the full test split (1,821)
  digits           spoken digits: three speakers labelled, half of the fourth speaker's clips (drawn with the seed)
                   as the pool, tested on the other half; all four rotations. Both default fits get the speakers
                   as groups (from the file names, as a user passes --groups), so cross-validation asks about a
                   new speaker, the question the test answers
  ants             ants_bees: 10 photos a class from train/ labelled (seeds 0-4), the rest of train/ as the pool,
                   scored on val/

Time: the seconds of each fit, features of the labelled examples cached after the first fit, cross-validation
scores never reused (the benchmark turns the score cache off); the pool's column includes embedding the pool (not
cached before the first pool fit of a split).

Usage: HANDFUL_CACHE_DIR=... python benchmarks/unlabelled.py [sst2-8 sst2-64 digits ants] [--seeds 0-4]
       [--remedies-only] (skips the two default fits per split: the remedies on the default backbone only)
       [--cold] (the two default fits only, each on its own empty feature cache: the pool's time as a user's first
                 train meets it, embedding included; in one process, so the networks are loaded once, by an
                 untimed fit on 3 a class of the first split's examples before the first timed one)
       [--default-only] (the two default fits only, features cached: no remedies)
       [--pool-sizes [--backbone NAME]] (instead: self-training and label spreading with 250, 500, 1,000 and 2,000
                 pool inputs, and an oracle, the linear probe given the pool's true labels: the most any use of
                 the pool could reach with these features. On NAME, by default the set's default backbone.
                 Writes unlabelled_<set>_pool_sizes_<backbone>.json)
Writes benchmarks/results/unlabelled_<set>.json and prints a Markdown table.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _cli import arguments

import handful
import handful.selection
from handful.backbones.features import embed, embed_all, fuse, parts_of
from handful.backbones.registry import get_spec
from handful.data import from_texts, load
from handful.data.dataset import Dataset
from handful.learners import FitContext, make_learner
from handful.learners.ensemble import EnsembleHead, Member, greedy_weights
from handful.selection import Candidate, cross_validate, make_folds, n_folds

DATA = Path(os.environ.get("HANDFUL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results"
BACKBONES = {"sst2": "minilm-l6", "digits": "aisfx", "ants": "efficientnet-lite0"}
# The ensemble remedy's backbones: the default one and a second of the default preset's (e5-small, Lite2; for
# audio the MFCC statistics, whose features the other benchmarks cache too).
ENSEMBLE_BACKBONES = {"sst2": ["minilm-l6", "e5-small"], "digits": ["aisfx", "mfcc-stats"],
                      "ants": ["efficientnet-lite0", "efficientnet-lite2"]}
POOL_LEARNERS = ["self-training", "align", "label-spreading", "autoencoder", "vae", "vae-examples"]
Split = tuple[str, Dataset, Dataset, Dataset, int]  # name, labelled, pool, test, seed
POOL_TRUTH: dict[int, list[Any]] = {}  # id(pool) -> its true labels, which the fits never see (--pool-sizes' oracle)
GROUPS: dict[int, list[str]] = {}  # id(labelled) -> each example's group (digits: its speaker), given to both fits
POOL_SIZES = [250, 500, 1000, 2000]


def _labels(dataset: Dataset, classes: list[str]) -> np.ndarray:
    return np.searchsorted(np.asarray(classes), np.asarray(dataset.labels, dtype=str))


COLD = False  # --cold: every default fit on its own empty feature cache, as a user's first train
DEFAULT_ONLY = False  # --default-only: the two default fits only, on the shared feature cache


def auto(train: Dataset, pool: Dataset | None, test: Dataset, seed: int) -> dict[str, Any]:
    # Both fits search from scratch: the second must not reuse the first one's cross-validation scores.
    handful.selection.score_cache = lambda *args, **kwargs: None  # what Classifier.fit asks for its scores
    with tempfile.TemporaryDirectory() as empty:
        started = time.perf_counter()
        clf = handful.Classifier(random_state=seed, verbose=0, cache_dir=empty if COLD else None).fit(
            train, unlabelled=pool, groups=GROUPS.get(id(train)))
        seconds = time.perf_counter() - started
    # a head tried with and without augmented views is two candidates: the augmentation is part of the key
    gains = {"|".join(filter(None, (g["backbone"], g["learner"], g.get("augment")))): g["gain"]
             for g in (clf.unlabelled_ or {}).get("gains", [])}
    return {"accuracy": clf.evaluate(test)["accuracy"], "seconds": round(seconds, 1),
            "chosen": f"{clf.backbone_} + {clf.learner_}" + (f" ({clf.augment_})" if clf.augment_ else ""),
            "cv": clf.cv_score_.mean if clf.cv_score_ else None,
            "cv_gains": gains, "pool_used": (clf.unlabelled_ or {}).get("used", 0),
            "unlike": {k: v for k, v in ((clf.unlabelled_ or {}).get("unlike") or {}).items() if k != "warning"}}


def remedies(kind: str, backbone: str, train: Dataset, pool: Dataset, test: Dataset, seed: int
             ) -> dict[str, dict[str, float]]:
    """Each remedy fitted on all labelled examples (+ the pool) on ``backbone``, scored on ``test``."""
    classes = train.classes
    y, y_test = _labels(train, classes), _labels(test, classes)
    x, x_pool, x_test = (embed(backbone, d.examples) for d in (train, pool, test))
    scaling = get_spec(backbone).normalize
    found: dict[str, dict[str, float]] = {}
    for name in ["linear", *POOL_LEARNERS]:
        started = time.perf_counter()
        head = make_learner(name, scaling).fit(x, y, len(classes), FitContext(seed, unlabelled=x_pool))
        found[name] = {"accuracy": float(np.mean(head.predict_proba(x_test).argmax(axis=1) == y_test)),
                       "seconds": round(time.perf_counter() - started, 1)}
    # Co-training reads the default backbone and the ensemble's other one side by side and keeps the first one's
    # model: the default's, and (against "probe B") the other's.
    for kept in (ENSEMBLE_BACKBONES[kind], ENSEMBLE_BACKBONES[kind][::-1]):
        fused = fuse(kept)
        x_fused, pool_fused, test_fused = (np.hstack([np.asarray(embed(b, d.examples)) for b in parts_of(fused)])
                                           for d in (train, pool, test))
        started = time.perf_counter()
        head = make_learner("co-training", "standard").fit(x_fused, y, len(classes),
                                                            FitContext(seed, unlabelled=pool_fused, backbone=fused))
        name = "co-training" if kept[0] == backbone else f"co-training {kept[0]} kept"
        found[name] = {"accuracy": float(np.mean(head.predict_proba(test_fused).argmax(axis=1) == y_test)),
                       "seconds": round(time.perf_counter() - started, 1)}
    for other in ENSEMBLE_BACKBONES[kind][1:]:  # the ensemble's other backbone alone: is the gain the ensemble's?
        x_other, x_other_test = (embed(other, d.examples) for d in (train, test))
        head = make_learner("linear", get_spec(other).normalize).fit(x_other, y, len(classes), FitContext(seed))
        right = head.predict_proba(x_other_test).argmax(axis=1) == y_test
        found[f"probe {other}"] = {"accuracy": float(np.mean(right)), "seconds": 0.0}
    started = time.perf_counter()
    found["ensemble"] = {"accuracy": ensemble(ENSEMBLE_BACKBONES[kind], train, test, y, y_test, len(classes), seed),
                         "seconds": 0.0}
    found["ensemble"]["seconds"] = round(time.perf_counter() - started, 1)
    return found


def pool_sizes(backbone: str, train: Dataset, pool: Dataset, test: Dataset, seed: int) -> dict[str, float]:
    """Test accuracy of the linear probe, of self-training and label spreading with the first 250, 500, 1,000 and
    2,000 of a random order of the pool (those it has), and of the oracle: the probe on labelled + pool with the
    pool's true labels."""
    classes = train.classes
    y, y_test = _labels(train, classes), _labels(test, classes)
    x, x_pool, x_test = (embed(backbone, d.examples) for d in (train, pool, test))
    scaling = get_spec(backbone).normalize

    def accuracy(name: str, rows: np.ndarray, labels: np.ndarray, unlabelled: np.ndarray | None = None) -> float:
        head = make_learner(name, scaling).fit(rows, labels, len(classes), FitContext(seed, unlabelled=unlabelled))
        return float(np.mean(head.predict_proba(x_test).argmax(axis=1) == y_test))

    found = {"linear": accuracy("linear", x, y)}
    truth = np.searchsorted(np.asarray(classes), np.asarray(POOL_TRUTH[id(pool)], dtype=str))
    found["oracle"] = accuracy("linear", np.vstack([x, x_pool]), np.concatenate([y, truth]))
    order = np.random.default_rng(seed).permutation(len(x_pool))
    for size in [s for s in POOL_SIZES if s <= len(x_pool)]:
        for name in ("self-training", "label-spreading"):
            found[f"{name} {size}"] = accuracy(name, x, y, x_pool[order[:size]])
    return found


def ensemble(backbones: list[str], train: Dataset, test: Dataset, y: np.ndarray, y_test: np.ndarray,
             n_classes: int, seed: int) -> float:
    """Greedy ensemble selection over linear, prototype and MLP heads on ``backbones`` (labelled only)."""
    folds = make_folds(y, n_folds(y, 5), 2, seed)
    members, oofs, blocks, tests = [], [], [], []
    train_features = embed_all(backbones, train.examples)  # each example decoded once for all the backbones
    test_features = embed_all(backbones, test.examples)
    for backbone in backbones:
        blocks.append(train_features[backbone])
        tests.append(test_features[backbone])
        scaling = get_spec(backbone).normalize
        for learner in ("linear", "prototypes", "mlp"):
            result = cross_validate(Candidate(backbone, learner, scaling, "pretrained"), blocks[-1], y, n_classes,
                                    folds, seed)
            assert result.oof_proba is not None, f"{backbone} + {learner}: {result.message}"
            members.append((backbone, learner, scaling))
            oofs.append(result.oof_proba)
    weights = greedy_weights(oofs, y)
    chosen = [Member(b, learner, s, float(w)) for (b, learner, s), w in zip(members, weights, strict=True) if w > 0]
    head = EnsembleHead("standard", chosen)
    order = [backbones.index(p) for p in head.parts]
    head.fit(np.hstack([blocks[i] for i in order]), y, n_classes, FitContext(seed))
    return float(np.mean(head.predict_proba(np.hstack([tests[i] for i in order])).argmax(axis=1) == y_test))


def sst2(per_class: int, seeds: list[int], pool_size: int = 2000) -> list[Split]:
    return sst("sst2", per_class, seeds, pool_size)


def sst(name: str, per_class: int, seeds: list[int], pool_size: int = 2000) -> list[Split]:
    """``per_class`` training sentences a class of the SST set ``name`` (sst2, sst5) drawn with each seed, the first
    ``pool_size`` other training sentences as the pool, and the full test split."""
    def read(split: str) -> tuple[list[str], list[str]]:
        rows = list(csv.DictReader((DATA / "text" / name / f"{split}.csv").open(encoding="utf-8")))
        return [r["text"] for r in rows], [r["label"] for r in rows]

    texts, labels = read("train")
    test = from_texts(*read("test"))
    splits = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        picked = [int(i) for label in sorted(set(labels)) for i in
                  rng.permutation([j for j, v in enumerate(labels) if v == label])[:per_class]]
        rest = np.setdiff1d(np.arange(len(texts)), picked)[:pool_size]
        pool = from_texts([texts[i] for i in rest], None)
        POOL_TRUTH[id(pool)] = [labels[i] for i in rest]
        splits.append((f"{per_class}/class", from_texts([texts[i] for i in picked], [labels[i] for i in picked]),
                       pool, test, seed))
    return splits


def digits(seeds: list[int]) -> list[Split]:
    data = load(DATA / "audio" / "spoken_digits").train
    speakers = np.array([Path(e.source).stem.split("_")[1] for e in data.examples])
    splits = []
    for index, speaker in enumerate(sorted(set(speakers))):
        seed = seeds[index % len(seeds)]
        held = np.random.default_rng(seed).permutation(np.flatnonzero(speakers == speaker))
        half = len(held) // 2
        pool = data.subset(np.sort(held[:half]))
        POOL_TRUTH[id(pool)] = list(pool.labels)
        pool.labels = [None] * len(pool)
        labelled = data.subset(np.flatnonzero(speakers != speaker))
        GROUPS[id(labelled)] = list(speakers[speakers != speaker])  # as a user passes --groups: new speakers ahead
        splits.append((f"held out {speaker}", labelled, pool, data.subset(np.sort(held[half:])), seed))
    return splits


def ants(seeds: list[int], per_class: int = 10) -> list[Split]:
    data = load(DATA / "images" / "ants_bees")
    assert data.holdout is not None
    train = data.train
    splits = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        picked = np.sort([int(i) for label in train.classes for i in
                          rng.permutation([j for j, v in enumerate(train.labels) if v == label])[:per_class]])
        pool = train.subset(np.setdiff1d(np.arange(len(train)), picked))
        POOL_TRUTH[id(pool)] = list(pool.labels)
        pool.labels = [None] * len(pool)
        splits.append((f"{per_class}/class", train.subset(picked), pool, data.holdout, seed))
    return splits


def run_pool_sizes(name: str, splits: list[Split], backbone: str) -> dict[str, Any]:
    rows = []
    for label, train, pool, test, seed in splits:
        row: dict[str, Any] = {"split": label, "seed": seed, "n_labelled": len(train), "n_pool": len(pool),
                               "accuracy": pool_sizes(backbone, train, pool, test, seed)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    table: dict[str, dict[str, float]] = {}
    for column in rows[0]["accuracy"]:
        gain = [r["accuracy"][column] - r["accuracy"]["linear"] for r in rows]
        table[column] = {"mean": float(np.mean([r["accuracy"][column] for r in rows])), "gain": float(np.mean(gain)),
                         "gain_sd": float(np.std(gain, ddof=1)) if len(rows) > 1 else 0.0}
    return {"backbone": backbone, "runs": rows, "table": table, "load_average": os.getloadavg()}


def warm(train: Dataset, pool: Dataset) -> None:
    """A default fit on 3 labelled examples a class and 16 pool examples, on an empty feature cache: it loads every
    network the timed fits use, so that the first of them does not pay for loading them alone."""
    first = [i for c in sorted(set(map(str, train.labels))) for i in
             [j for j, label in enumerate(train.labels) if str(label) == c][:3]]
    with tempfile.TemporaryDirectory() as empty:
        handful.Classifier(random_state=0, verbose=0, cache_dir=empty).fit(train.subset(first),
                                                                            unlabelled=pool.subset(list(range(16))))


def run(name: str, splits: list[Split], with_auto: bool = True) -> dict[str, Any]:
    kind = name.split("-")[0]
    rows = []
    if COLD and with_auto and splits:  # load the networks untimed, so no timed fit pays for them alone
        warm(splits[0][1], splits[0][2])
    for label, train, pool, test, seed in splits:
        row: dict[str, Any] = {"split": label, "seed": seed, "n_labelled": len(train), "n_pool": len(pool)}
        if not COLD and not DEFAULT_ONLY:
            row["remedies"] = remedies(kind, BACKBONES[kind], train, pool, test, seed)
        if with_auto:
            row["labelled"] = auto(train, None, test, seed)
            row["pool"] = auto(train, pool, test, seed)
        rows.append(row)
        print(json.dumps(row), flush=True)
    table: dict[str, Any] = {}
    for column in ("labelled", "pool") if with_auto else ():
        accuracy = [r[column]["accuracy"] for r in rows]
        table[column] = {"mean": float(np.mean(accuracy)), "sd": float(np.std(accuracy, ddof=1)) if len(rows) > 1
                         else 0.0, "seconds": float(np.mean([r[column]["seconds"] for r in rows]))}
    if with_auto:
        table["time_ratio"] = table["pool"]["seconds"] / max(table["labelled"]["seconds"], 1e-9)
    for remedy in rows[0].get("remedies", {}):
        gain = [r["remedies"][remedy]["accuracy"] - r["remedies"]["linear"]["accuracy"] for r in rows]
        accuracy = [r["remedies"][remedy]["accuracy"] for r in rows]
        table[f"remedy {remedy}"] = {"mean": float(np.mean(accuracy)), "gain": float(np.mean(gain)),
                                     "gain_sd": float(np.std(gain, ddof=1)) if len(rows) > 1 else 0.0}
    return {"backbone": BACKBONES[kind], "ensemble_backbones": ENSEMBLE_BACKBONES[kind], "with_default": with_auto,
            "runs": rows, "table": table, "load_average": os.getloadavg()}


def _seeds(argv: list[str]) -> list[int]:
    if "--seeds" not in argv:
        return list(range(5))
    first, _, last = argv[argv.index("--seeds") + 1].partition("-")
    return list(range(int(first), int(last or first) + 1))


SETS: dict[str, Callable[[list[int]], list[Split]]] = {
    "sst2-8": lambda s: sst2(8, s), "sst2-64": lambda s: sst2(64, s), "digits": digits, "ants": ants}


def main(argv: list[str]) -> None:
    global COLD, DEFAULT_ONLY
    COLD, DEFAULT_ONLY = "--cold" in argv, "--default-only" in argv
    seeds = _seeds(argv)
    names = [a for a in argv if not a.startswith("--") and a in SETS] or list(SETS)
    RESULTS.mkdir(exist_ok=True)
    if "--pool-sizes" in argv:
        for name in names:
            backbone = argv[argv.index("--backbone") + 1] if "--backbone" in argv else BACKBONES[name.split("-")[0]]
            result = run_pool_sizes(name, SETS[name](seeds), backbone)
            (RESULTS / f"unlabelled_{name}_pool_sizes_{backbone}.json").write_text(json.dumps(result, indent=2))
            cells = ", ".join(f"{k} {v['mean']:.3f} ({v['gain']:+.3f} ± {v['gain_sd']:.3f})"
                              for k, v in result["table"].items())
            print(f"| {name} | {backbone} | {cells} |", flush=True)
        return
    for name in names:
        started = time.perf_counter()
        result = run(name, SETS[name](seeds), "--remedies-only" not in argv)
        result["benchmark_seconds"] = round(time.perf_counter() - started, 1)
        tag = ("_remedies" if "--remedies-only" in argv else "") + ("_cold" if COLD else "") + (
            "_default" if DEFAULT_ONLY else "") + (
            f"_seeds{seeds[0]}-{seeds[-1]}"
                                                                    if seeds != list(range(5)) else "")
        (RESULTS / f"unlabelled_{name}{tag}.json").write_text(json.dumps(result, indent=2))
        t = result["table"]
        remedies_cell = ", ".join(f"{k.removeprefix('remedy ')} {v['gain']:+.3f} ± {v['gain_sd']:.3f}"
                                  for k, v in t.items() if k.startswith("remedy ") and k != "remedy linear")
        default = (f"{t['labelled']['mean']:.3f} ± {t['labelled']['sd']:.3f} | {t['pool']['mean']:.3f} ± "
                   f"{t['pool']['sd']:.3f} | {t['time_ratio']:.2f}x" if "pool" in t else "- | - | -")
        probe = f"probe {t['remedy linear']['mean']:.3f}; " if "remedy linear" in t else ""
        print(f"| {name} | {default} | {probe}{remedies_cell} |", flush=True)


if __name__ == "__main__":
    main(arguments(__doc__))

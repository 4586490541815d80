"""Trust you can check: grouped evaluation, the leakage check, calibration, prediction sets and the
out-of-distribution flag, measured on real sets (issue 10).

Protocols (nothing tuned to these sets; the test splits only score):
  digits   spoken_digits: train on three speakers, test on the fourth, all four rotations. With groups (speaker
           from the file name, --groups '_(?P<group>[a-z]+)_\\d+\\.wav$'): does the grouped 95% interval hold the
           unseen speaker's accuracy; out-of-fold ECE after calibration; ECE on the unseen speaker before/after;
           90% set coverage and size on the unseen speaker; the MFCC baseline (mfcc-stats + linear, grouped) on
           the unseen speaker. Without groups: does the leakage check warn.
  ants     ants_bees train -> val: leakage check (should not warn), out-of-fold ECE, val ECE before/after, 90% set
           coverage on val; out-of-distribution AUROC of val photos against photos of another domain (scikit-learn's
           bundled digits, upscaled, and crops of its two sample photos) and the share of val photos flagged.
  sst2     64 sentences a class from SST-2 train (seeds), scored on the full test split (1,821): leakage check,
           ECE, 90% set coverage; out-of-distribution AUROC of test sentences against first sentences of numpy's
           docstrings (technical English shipped with a dependency).

Usage: HANDFUL_CACHE_DIR=... python benchmarks/trust.py [digits|ants|sst2 ...] [--preset fast|best] [--seeds N]
       [--backbone a,b]   (backbones instead of the preset's; the result file's name gets them)
       [--grouped-only]   (digits: skip the fit without groups that the leakage check needs)
Writes benchmarks/results/trust_<set>_<preset>.json and prints Markdown tables.
"""

from __future__ import annotations

import csv
import inspect
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _cli import arguments

import handful
from handful.backbones import cache as feature_cache
from handful.data import from_inputs
from handful.evaluation.ood import auroc

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
if not DATA.exists():
    DATA = Path("/work/shared/data")
RESULTS = Path(__file__).resolve().parent / "results"
SPEAKER = r"_(?P<group>[a-z]+)_\d+\.wav$"


def _load() -> str:
    return open("/proc/loadavg").read().split()[0]


BACKBONES: list[str] | None = None  # --backbone: instead of the preset's
GROUPED_ONLY = False  # --grouped-only: digits without the second fit without groups (the leakage check's)


def fit(preset: str, data: Any, labels: Any = None, groups: Any = None, seed: int = 0, **extra: Any
        ) -> tuple[handful.Classifier, float]:
    start = time.perf_counter()
    if BACKBONES and "backbone" not in extra:
        extra["backbone"] = BACKBONES
    clf = handful.Classifier(preset=preset, random_state=seed, verbose=0, **extra)
    clf.fit(data, labels, groups=groups) if labels is not None else clf.fit(data, groups=groups)
    return clf, time.perf_counter() - start


def held_out(clf: handful.Classifier, dataset: Any) -> dict[str, Any]:
    """Accuracy, ECE before/after calibration and 90% set coverage on labelled data the model never saw."""
    metrics = clf.evaluate(dataset)
    trust = metrics["trust"]
    return {"accuracy": metrics["accuracy"], "balanced_accuracy": metrics["balanced_accuracy"], "n": metrics["n"],
            "ece_before": trust["ece_before"], "ece_after": trust["ece"], "coverage": trust["set_coverage"],
            "set_size": trust["set_mean_size"]}


def trust_row(clf: handful.Classifier) -> dict[str, Any]:
    assert clf.trust_ is not None, "the chosen model has out-of-fold probabilities, so its trust layer is fitted"
    assert clf.protocol_ is not None and clf.cv_score_ is not None, "a fitted classifier describes its search"
    calibration = clf.trust_.summary["calibration"]
    sets = clf.trust_.summary["sets"]
    cv = clf.cv_score_
    return {"backbone": clf.backbone_, "learner": clf.learner_, "protocol": clf.protocol_["text"],
            "cv_mean": cv.mean, "cv_low": cv.low, "cv_high": cv.high, "method": calibration["method"],
            "oof_ece_before": calibration["ece_before"], "oof_ece_after": calibration["ece_after"],
            "oof_ece_perfect_high": calibration.get("ece_perfect_high"), "oof_by_group": calibration.get("by_group"),
            "oof_coverage": sets["oof_coverage"], "leakage": clf.leakage_}


def digits(preset: str, seeds: int) -> list[dict[str, Any]]:
    root = DATA / "audio" / "spoken_digits"
    files = sorted(root.glob("*/*.wav"))
    speakers = sorted({f.stem.split("_")[1] for f in files})
    rows = []
    for held in speakers:
        with tempfile.TemporaryDirectory() as folder:
            train = Path(folder) / "train"
            for f in files:  # links, so the files are read in place, under their own names
                if f.stem.split("_")[1] != held:
                    (train / f.parent.name).mkdir(parents=True, exist_ok=True)
                    (train / f.parent.name / f.name).symlink_to(f)
            test = [f for f in files if f.stem.split("_")[1] == held]
            unseen = from_inputs([str(f) for f in test], [f.parent.name for f in test], "audio")
            for seed in range(seeds):
                clf, seconds = fit(preset, train, groups=SPEAKER, seed=seed)
                row = {"speaker": held, "seed": seed, "seconds": seconds, "load": _load(), **trust_row(clf),
                       **{f"unseen_{k}": v for k, v in held_out(clf, unseen).items()}}
                row["interval_holds"] = bool(row["cv_low"] <= row["unseen_balanced_accuracy"] <= row["cv_high"])
                proba = clf.predict_proba(unseen)  # calibrated: is the new speaker off by what by_group says?
                row["unseen_gap"] = float(proba.max(axis=1).mean() - row["unseen_accuracy"])
                mfcc, _ = fit("fast", train, groups=SPEAKER, seed=seed, backbone="mfcc-stats", learners=["linear"])
                row["mfcc_unseen_accuracy"] = mfcc.evaluate(unseen)["accuracy"]
                if not GROUPED_ONLY:
                    plain, _ = fit(preset, train, seed=seed)  # no groups: does the leakage check warn?
                    assert plain.cv_score_ is not None, "a fitted classifier has its cross-validated score"
                    row["no_groups_cv_mean"] = plain.cv_score_.mean
                    row["no_groups_leakage"] = plain.leakage_
                rows.append(row)
                print(json.dumps({k: v for k, v in row.items() if "leakage" not in k}), flush=True)
    return rows


def other_photos(folder: Path, n_digits: int = 40, n_crops: int = 20) -> list[str]:
    """Photos of another domain from scikit-learn's bundled data: handwritten digits upscaled to 224 px, and crops
    of its two sample photos (a Chinese temple, a flower)."""
    from PIL import Image
    from sklearn.datasets import load_digits, load_sample_images

    paths = []
    for index, image in enumerate(load_digits().images[:n_digits]):
        pixels = (255 - image * 16).clip(0, 255).astype(np.uint8)
        path = folder / f"digit_{index}.png"
        Image.fromarray(pixels).resize((224, 224), Image.Resampling.NEAREST).convert("RGB").save(path)
        paths.append(str(path))
    rng = np.random.default_rng(0)
    for index in range(n_crops):
        photo = load_sample_images().images[index % 2]
        top, left = rng.integers(0, photo.shape[0] - 200), rng.integers(0, photo.shape[1] - 200)
        path = folder / f"sample_{index}.png"
        Image.fromarray(photo[top:top + 200, left:left + 200]).save(path)
        paths.append(str(path))
    return paths


def ood_scores(clf: handful.Classifier, inputs: Any) -> np.ndarray:
    dataset = clf._inputs(inputs)
    distances = clf._raw(dataset, distances=True)[2]
    assert distances is not None, "the classifier has no out-of-distribution detector"
    return distances


def ood_threshold(clf: handful.Classifier) -> float:
    assert clf.trust_ is not None and clf.trust_.ood is not None, "the classifier has no out-of-distribution detector"
    return clf.trust_.ood.threshold


def ants(preset: str, seeds: int) -> list[dict[str, Any]]:
    root = DATA / "images" / "ants_bees"
    val = handful.data.load(root / "val").train
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        others = other_photos(Path(folder))
        for seed in range(seeds):
            clf, seconds = fit(preset, root / "train", seed=seed)
            own, other = ood_scores(clf, val), ood_scores(clf, others)
            row = {"seed": seed, "seconds": seconds, "load": _load(), **trust_row(clf),
                   **{f"val_{k}": v for k, v in held_out(clf, val).items()},
                   "ood_auroc": auroc(own, other), "ood_flagged_own": float(np.mean(own > ood_threshold(clf))),
                   "ood_flagged_other": float(np.mean(other > ood_threshold(clf)))}
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k != "leakage"}), flush=True)
    return rows


def technical_sentences(n: int = 200) -> list[str]:
    """First sentences of numpy's public functions' docstrings: technical English from a dependency."""
    found = []
    for name in sorted(dir(np)):
        doc = inspect.getdoc(getattr(np, name, None)) or ""
        first = re.split(r"(?<=\.)\s", doc.strip().split("\n\n")[0].replace("\n", " "))[0].strip()
        if 30 <= len(first) <= 200 and first[0].isupper() and first not in found:
            found.append(first)
    return found[:n]


def sst2(preset: str, seeds: int, per_class: int = 64) -> list[dict[str, Any]]:
    read = lambda name: list(csv.DictReader((DATA / "text" / "sst2" / name).open(encoding="utf-8")))  # noqa: E731
    train, test = read("train.csv"), read("test.csv")
    test_set = from_inputs([r["text"] for r in test], [r["label"] for r in test], "text")
    others = technical_sentences()
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        pick = [int(i) for label in ("0", "1")
                for i in rng.choice([j for j, r in enumerate(train) if r["label"] == label], per_class, replace=False)]
        clf, seconds = fit(preset, [train[i]["text"] for i in pick], [train[i]["label"] for i in pick], seed=seed)
        own, other = ood_scores(clf, [r["text"] for r in test]), ood_scores(clf, others)
        row = {"seed": seed, "seconds": seconds, "load": _load(), **trust_row(clf),
               **{f"test_{k}": v for k, v in held_out(clf, test_set).items()},
               "ood_auroc": auroc(own, other), "ood_flagged_own": float(np.mean(own > ood_threshold(clf))),
               "ood_flagged_other": float(np.mean(other > ood_threshold(clf))), "n_other": len(others)}
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "leakage"}), flush=True)
    return rows


def main() -> None:
    args = arguments(__doc__)
    preset = args[args.index("--preset") + 1] if "--preset" in args else "best"
    seeds = int(args[args.index("--seeds") + 1]) if "--seeds" in args else 1
    wanted = [a for a in args if a in ("digits", "ants", "sst2")] or ["digits", "ants", "sst2"]
    global BACKBONES, GROUPED_ONLY
    GROUPED_ONLY = "--grouped-only" in args
    BACKBONES = args[args.index("--backbone") + 1].split(",") if "--backbone" in args else None
    if not feature_cache.default_cache_dir().exists():
        print("set HANDFUL_CACHE_DIR to a shared cache to reuse features", file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    for name in wanted:
        rows = {"digits": digits, "ants": ants, "sst2": sst2}[name](preset, seeds)
        path = RESULTS / f"trust_{name}_{preset}{'_' + '+'.join(BACKBONES) if BACKBONES else ''}.json"
        path.write_text(json.dumps(rows, indent=1, default=str) + "\n", encoding="utf-8")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()

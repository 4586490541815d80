"""Label noise found on ../shared/data.

Protocols:
  ants     the default preset (``handful.Classifier(random_state=0)``) on ants_bees/train: where does the known bad
           example ants/imageNotFound.gif (a "could not be found" placeholder) rank among all 245 training examples,
           and is it flagged?
  noise    SST-2: 100 training sentences per class drawn with seeds 0-4, 10 labels (5%) flipped at random; the
           default preset is fitted and its flagged set scored: precision, recall, and precision among the top 10.

What to label next (``handful suggest``) is measured by benchmarks/suggest.py.

Usage: HANDFUL_CACHE_DIR=/tmp/hcache python benchmarks/label_quality.py [ants|noise ...]  (all by default)
Writes benchmarks/results/label_quality.json (merging with what is there) and prints a Markdown table.
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

import handful
from handful.backbones.features import embed_all, parts_of
from handful.data import from_texts, load
from handful.data.dataset import Dataset
from handful.evaluation.noise import rank_label_issues

DATA = Path(os.environ.get("HANDFUL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results"
OUTPUT = RESULTS / "label_quality.json"
SEEDS = range(5)


def mean_sd(values: list[float]) -> dict[str, float]:
    return {"mean": round(float(np.mean(values)), 4), "sd": round(float(np.std(values, ddof=1)), 4)
            if len(values) > 1 else 0.0}


def sst2(split: str) -> tuple[list[str], list[str]]:
    rows = list(csv.DictReader((DATA / "text" / "sst2" / f"{split}.csv").open(encoding="utf-8")))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def full_ranking(clf: handful.Classifier, train: Dataset) -> list[Any]:
    """Every training example ranked by the same rule as ``label_issues_``, with the winner's features."""
    blocks = list(embed_all(parts_of(clf.backbone_), train.examples).values())
    y = np.searchsorted(clf.classes_.astype(str), np.asarray(train.labels, dtype=str))
    texts = [e.text for e in train.examples] if train.modality == "text" else None
    assert clf.oof_proba_ is not None, "a fitted classifier keeps its winner's out-of-fold probabilities"
    return rank_label_issues(clf.oof_proba_, y, [str(c) for c in clf.classes_], [e.source for e in train.examples],
                             texts, blocks)


def bench_ants() -> dict[str, Any]:
    train = load(DATA / "images" / "ants_bees" / "train").train
    started = time.perf_counter()
    clf = handful.Classifier(random_state=0, verbose=0).fit(train)
    seconds = time.perf_counter() - started
    ranked = full_ranking(clf, train)
    position = next(r for r, issue in enumerate(ranked, start=1) if issue.source.endswith("imageNotFound.gif"))
    issue = ranked[position - 1]
    listed = [e["source"] for e in clf.label_issues_["examples"]]
    return {
        "protocol": "default preset, random_state=0, on ants_bees/train (245 examples)",
        "chosen": f"{clf.backbone_} + {clf.learner_}",
        "gif_rank": position,
        "gif_flagged_as": issue.kind,
        "gif_outlier_z": issue.outlier_z,
        "gif_self_confidence": issue.self_confidence,
        "gif_rank_by_self_confidence_only": 1 + sum(i.self_confidence < issue.self_confidence for i in ranked),
        "n_flagged": clf.label_issues_["n_flagged"],
        "flagged": [f"{e['kind']}: {Path(e['source']).parent.name}/{Path(e['source']).name} -> {e['suggested']}"
                    for e in clf.label_issues_["examples"]],
        "gif_in_label_issues_at": listed.index(issue.source) + 1 if issue.source in listed else None,
        "n_duplicate_pairs": len(clf.label_issues_["duplicates"]),
        "fit_seconds": round(seconds, 1),
    }


def bench_noise() -> dict[str, Any]:
    texts, labels = sst2("train")
    runs = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        picked = [i for label in ("0", "1") for i in rng.permutation([j for j, v in enumerate(labels) if v == label])
                  [:100]]
        given = [labels[i] for i in picked]
        flipped = set(rng.choice(len(picked), 10, replace=False).tolist())
        noisy = [("1" if v == "0" else "0") if k in flipped else v for k, v in enumerate(given)]
        train = from_texts([texts[i] for i in picked], noisy)
        started = time.perf_counter()
        clf = handful.Classifier(random_state=seed, verbose=0).fit(train)
        seconds = time.perf_counter() - started
        ranked = full_ranking(clf, train)
        flagged = {issue.index for issue in ranked if issue.flagged}
        label_kind = {issue.index for issue in ranked if issue.kind == "label"}
        top10 = {issue.index for issue in ranked[:10]}
        hits = len(flagged & flipped)
        run: dict[str, Any] = {
            "seed": seed, "chosen": f"{clf.backbone_} + {clf.learner_}", "n_flagged": len(flagged),
            "n_outliers": len(flagged - label_kind), "true_flagged": hits,
            "precision": hits / len(flagged) if flagged else 0.0, "recall": hits / len(flipped),
            "precision_at_10": len(top10 & flipped) / 10,
            "recall_label_kind_only": len(label_kind & flipped) / len(flipped),
            "cv_accuracy": clf.cv_accuracy_.mean if clf.cv_accuracy_ else None, "fit_seconds": round(seconds, 1),
        }
        runs.append(run)
        print(json.dumps(run), flush=True)
    return {
        "protocol": "SST-2 train, 100 per class, 10 of 200 labels flipped at random, default preset; seeds 0-4",
        "runs": runs,
        **{key: mean_sd([r[key] for r in runs]) for key in ("precision", "recall", "precision_at_10", "n_flagged")},
    }


BENCHES = {"ants": bench_ants, "noise": bench_noise}


def table(results: dict[str, Any]) -> str:
    lines = ["| benchmark | measure | value |", "|---|---|---|"]
    if "ants" in results:
        a = results["ants"]
        lines.append(f"| ants_bees imageNotFound.gif | rank among 245 (flagged as) | {a['gif_rank']} "
                     f"({a['gif_flagged_as']}; by self-confidence alone: {a['gif_rank_by_self_confidence_only']}) |")
    if "noise" in results:
        n = results["noise"]
        for key in ("precision", "recall", "precision_at_10", "n_flagged"):
            lines.append(f"| SST-2 200, 10 flipped | {key} | {n[key]['mean']:.3f} ± {n[key]['sd']:.3f} |")
    return "\n".join(lines)


def main(names: list[str]) -> None:
    RESULTS.mkdir(exist_ok=True)
    results: dict[str, Any] = json.loads(OUTPUT.read_text()) if OUTPUT.exists() else {}
    for name in names or list(BENCHES):
        started = time.perf_counter()
        results[name] = BENCHES[name]()
        results[name]["benchmark_seconds"] = round(time.perf_counter() - started, 1)
        OUTPUT.write_text(json.dumps(results, indent=2))
    print(table(results), flush=True)


if __name__ == "__main__":
    main(arguments(__doc__))

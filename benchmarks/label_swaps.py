"""Planted label swaps: does ``handful check`` find them, and does a voice count as a duplicate?

Protocols (each seed draws its own subset and its own swaps; 5 seeds):
  ants     41 photos of ants_bees/train (20 ants, 21 bees); 3 bees are moved into ``ants``.
  sst2     200 SST-2 training sentences (100 per class); 10 labels (5%) flipped.
  digits   spoken digits, 20 clips per digit (5 per speaker) and one clip re-saved at 70% volume under another
           digit: near-duplicate pairs under two different labels. The planted copy must be found; any other pair
           is a false alarm (same speaker, different digit). The fast preset's findings, and the old rule (embedding
           only) against the new (content and embedding) on the chosen embedding and on resemblyzer's voice one.

Each run fits what ``handful check`` fits (the ``fast`` preset, ``random_state=seed``) and reads its findings
(``clf.label_issues_``): the flagged set is the decision (examples the check says to look at), the ranking the full
suspicion order. Measured: recall of the planted swaps in the top 10 of the ranking, recall and precision of the
flagged set, its size.

Usage: HANDFUL_CACHE_DIR=/work/cache/features nice -n 5 python benchmarks/label_swaps.py [ants|sst2|digits ...]
Writes benchmarks/results/label_swaps.json (merging with what is there) and prints a Markdown table.
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
from handful.backbones.features import embed, embed_all, parts_of
from handful.data import from_inputs, from_texts
from handful.data.dataset import Dataset
from handful.evaluation.noise import content_view, find_near_duplicates, rank_label_issues

DATA = Path(os.environ.get("HANDFUL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results"
OUTPUT = RESULTS / "label_swaps.json"
SEEDS = range(5)
TOP = 10


def mean_sd(values: list[float]) -> dict[str, float]:
    return {"mean": round(float(np.mean(values)), 4),
            "sd": round(float(np.std(values, ddof=1)), 4) if len(values) > 1 else 0.0}


def full_ranking(clf: handful.Classifier, train: Dataset) -> list[Any]:
    """Every example in suspicion order, by the rule of the code under test, with the chosen model's out-of-fold
    probabilities (the findings saved with the model keep only the top 50)."""
    blocks = list(embed_all(parts_of(clf.backbone_), train.examples).values())
    y = np.searchsorted(clf.classes_.astype(str), np.asarray(train.labels, dtype=str))
    assert clf.oof_proba_ is not None, "a fitted classifier keeps its winner's out-of-fold probabilities"
    return rank_label_issues(clf.oof_proba_, y, [str(c) for c in clf.classes_], [e.source for e in train.examples],
                             None, blocks)


def score(clf: handful.Classifier, train: Dataset, planted: set[int], seed: int, seconds: float) -> dict[str, Any]:
    ranked = full_ranking(clf, train)
    found = clf.label_issues_
    if "ranking" in found:  # the saved ranking is the same order
        assert [r["index"] for r in found["ranking"]] == [i.index for i in ranked[: len(found["ranking"])]]
    flagged = {i.index for i in ranked if i.flagged}
    top = {i.index for i in ranked[:TOP]}
    hits = len(flagged & planted)
    return {
        "seed": seed, "chosen": f"{clf.backbone_} + {clf.learner_}", "n_flagged": len(flagged),
        "recall_top10": len(top & planted) / len(planted), "recall_flagged": hits / len(planted),
        "precision_flagged": hits / len(flagged) if flagged else 0.0, "fit_seconds": round(seconds, 1),
    }


def fit(train: Any, seed: int) -> tuple[handful.Classifier, float]:
    started = time.perf_counter()
    clf = handful.Classifier(preset="fast", random_state=seed, verbose=0).fit(train)
    return clf, time.perf_counter() - started


def summary(protocol: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("recall_top10", "recall_flagged", "precision_flagged", "n_flagged")
    return {"protocol": protocol, "runs": runs, **{k: mean_sd([r[k] for r in runs]) for k in keys}}


def bench_ants() -> dict[str, Any]:
    root = DATA / "images" / "ants_bees" / "train"
    ants = sorted(str(p) for p in (root / "ants").iterdir() if p.suffix.lower() == ".jpg")
    bees = sorted(str(p) for p in (root / "bees").iterdir() if p.suffix.lower() == ".jpg")
    runs = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        paths = [ants[i] for i in rng.choice(len(ants), 20, replace=False)] + \
                [bees[i] for i in rng.choice(len(bees), 21, replace=False)]
        labels = ["ants"] * 20 + ["bees"] * 21
        moved = {20 + int(i) for i in rng.choice(21, 3, replace=False)}
        given = ["ants" if k in moved else v for k, v in enumerate(labels)]
        train = from_inputs(paths, given, "image")
        clf, seconds = fit(train, seed)
        runs.append(score(clf, train, moved, seed, seconds))
        print(json.dumps(runs[-1]), flush=True)
    return summary("41 ants_bees/train photos (20 ants, 21 bees), 3 bees moved into ants; fast preset; seeds 0-4",
                   runs)


def bench_sst2() -> dict[str, Any]:
    rows = list(csv.DictReader((DATA / "text" / "sst2" / "train.csv").open(encoding="utf-8")))
    texts, labels = [r["text"] for r in rows], [r["label"] for r in rows]
    runs = []
    for seed in SEEDS:
        rng = np.random.default_rng(seed)
        picked = [i for label in ("0", "1") for i in rng.permutation([j for j, v in enumerate(labels) if v == label])
                  [:100]]
        flipped = {int(i) for i in rng.choice(len(picked), 10, replace=False)}
        noisy = [("1" if labels[i] == "0" else "0") if k in flipped else labels[i] for k, i in enumerate(picked)]
        train = from_texts([texts[i] for i in picked], noisy)
        clf, seconds = fit(train, seed)
        runs.append(score(clf, train, flipped, seed, seconds))
        print(json.dumps(runs[-1]), flush=True)
    return summary("SST-2 train, 100 sentences per class, 10 of 200 labels (5%) flipped; fast preset; seeds 0-4",
                   runs)


def bench_digits() -> dict[str, Any]:
    """Cross-label near-duplicates on spoken digits, with one planted real duplicate (a clip re-saved at 70% volume
    under another digit) that must still be found. The fast preset's own findings, and both rules (embedding only,
    as before; content and embedding, now) on the chosen model's embedding and on resemblyzer's voice embedding."""
    import tempfile

    import soundfile

    root = DATA / "audio" / "spoken_digits"
    runs = []
    for seed in SEEDS[:2]:
        rng = np.random.default_rng(seed)
        paths, labels = [], []
        for digit in sorted(p.name for p in root.iterdir() if p.is_dir()):
            for speaker in ("george", "jackson", "lucas", "nicolas"):
                for i in rng.choice(50, 5, replace=False):
                    paths.append(str(root / digit / f"{digit}_{speaker}_{i}.wav"))
                    labels.append(digit)
        with tempfile.TemporaryDirectory() as folder:
            wave, rate = soundfile.read(paths[0], dtype="float32")
            copy = str(Path(folder) / f"copy_of_{Path(paths[0]).name}")
            soundfile.write(copy, 0.7 * wave, rate)
            train = from_inputs([*paths, copy], [*labels, "9"], "audio")
            started = time.perf_counter()
            clf = handful.Classifier(preset="fast", random_state=seed, verbose=0).fit(train)
            seconds = time.perf_counter() - started
            content = content_view(embed("mfcc-stats", train.examples), "standard")
            run: dict[str, Any] = {"seed": seed, "chosen": f"{clf.backbone_} + {clf.learner_}",
                                   "fit_seconds": round(seconds, 1)}
            found = [p for p in clf.label_issues_["duplicates"] if p["conflict"]]
            run["handful_check"] = {"false_pairs": sum(copy not in (p["first_source"], p["second_source"])
                                                       for p in found),
                                    "planted_found": any(copy in (p["first_source"], p["second_source"])
                                                         for p in found)}
            for name in (clf.backbone_, "resemblyzer"):
                blocks = list(embed_all(parts_of(name), train.examples).values())
                for rule, extra in (("embedding only", None), ("content and embedding", content)):
                    pairs = [p for p in find_near_duplicates(blocks, [str(v) for v in train.labels],
                                                             [e.source for e in train.examples],
                                                             limit=None, content=extra) if p.conflict]
                    planted = [p for p in pairs if copy in (p.first_source, p.second_source)]
                    run[f"{name}, {rule}"] = {"false_pairs": len(pairs) - len(planted), "planted_found": bool(planted)}
        runs.append(run)
        print(json.dumps(run), flush=True)
    keys = [k for k in runs[0] if isinstance(runs[0][k], dict)]
    return {"protocol": "spoken digits, 20 clips per digit (5 per speaker) + 1 clip re-saved at 70% volume under "
                        "another digit; fast preset; seeds 0-1", "runs": runs,
            "rules": {k: {"false_pairs": mean_sd([r[k]["false_pairs"] for r in runs]),
                          "planted_found": mean_sd([float(r[k]["planted_found"]) for r in runs])} for k in keys}}


BENCHES = {"ants": bench_ants, "sst2": bench_sst2, "digits": bench_digits}


def table(results: dict[str, Any]) -> str:
    lines = ["| set | recall in top 10 | recall of flagged | precision of flagged | flagged |", "|---|---|---|---|---|"]
    for name in ("ants", "sst2"):
        if name in results:
            r = results[name]
            lines.append(f"| {name} | " + " | ".join(f"{r[k]['mean']:.3f} ± {r[k]['sd']:.3f}" for k in
                         ("recall_top10", "recall_flagged", "precision_flagged", "n_flagged")) + " |")
    if "digits" in results:
        lines += ["", "| spoken digits: near-duplicates under two labels | false pairs | planted copy found |",
                  "|---|---|---|"]
        for rule, r in results["digits"]["rules"].items():
            lines.append(f"| {rule} | {r['false_pairs']['mean']:.1f} ± {r['false_pairs']['sd']:.1f} | "
                         f"{r['planted_found']['mean']:.0%} |")
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

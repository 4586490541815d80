"""Does `handful evaluate` tell data unlike the training data from data like it?

`evaluate` reports the share of its data flagged as unlike anything the model learned beside the 5% expected of data
like the training data, and warns ("this data differs") when the share is clearly more: three binomial errors above
the false alarms and at least twice them (``handful.evaluation.ood.more_unlike``, the unlabelled pool's rule). Here,
with the fast preset (the default backbone, linear and prototype heads), features from $HANDFUL_CACHE_DIR:

  like     held-out data drawn like the training data: ants_bees val/ for a model of train/ (seeds 0-2); the full
           SST-2 test split for 64 sentences a class (seeds 0-2). It should not warn.
  unlike   data of another domain given the model's labels: scikit-learn's digits and sample-photo crops as "ants"
           (trust.py's other_photos); the first sentences of numpy's docstrings as "1" (trust.py's technical
           sentences). It should warn.
  speaker  spoken digits of the fourth speaker for a model of the other three (4 rotations), trained without
           groups (the threshold is set on random folds, so a new voice is new: it should warn) and with groups
           (set on folds that hold out a speaker, so a new speaker is what the model was told to expect: it should
           warn only for a speaker unlike the others too).

Usage: HANDFUL_CACHE_DIR=... python benchmarks/drift.py [ants sst2 digits] [--seeds 3]
Writes benchmarks/results/drift.json and prints a Markdown table.
"""

from __future__ import annotations

import csv
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

import handful
from handful.data import from_inputs

sys.path.insert(0, str(Path(__file__).resolve().parent))
import trust  # noqa: E402  (the same data, other domains and fits as the trust benchmark)
from _cli import arguments  # noqa: E402  (the benchmarks' shared command line)

RESULTS = Path(__file__).resolve().parent / "results"


def told(clf: handful.Classifier, data: Any, kind: str, **row: Any) -> dict[str, Any]:
    metrics = clf.evaluate(data)
    found = metrics["trust"]
    assert found is not None and "unlike_share" in found, "the model has an out-of-distribution detector"
    assert clf.trust_ is not None and clf.trust_.ood is not None, "so it has a trust layer with a detector"
    result = {**row, "kind": kind, "n": metrics["n"], "reference": len(clf.trust_.ood.reference),
              "share": found["unlike_share"], "warns": found["unlike_more"], "load": trust._load()}
    print(json.dumps(result), flush=True)
    return result


def ants(seeds: int) -> list[dict[str, Any]]:
    root = trust.DATA / "images" / "ants_bees"
    val = handful.data.load(root / "val").train
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        others = trust.other_photos(Path(folder))
        unlike = from_inputs(others, ["ants"] * len(others), "image")
        for seed in range(seeds):
            clf, _ = trust.fit("fast", root / "train", seed=seed)
            rows += [told(clf, val, "like", set="ants_bees val/", seed=seed),
                     told(clf, unlike, "unlike", set="other photos as 'ants'", seed=seed)]
    return rows


def sst2(seeds: int, per_class: int = 64) -> list[dict[str, Any]]:
    read = lambda name: list(csv.DictReader((trust.DATA / "text" / "sst2" / name).open(encoding="utf-8")))  # noqa: E731
    train, test = read("train.csv"), read("test.csv")
    like = from_inputs([r["text"] for r in test], [r["label"] for r in test], "text")
    sentences = trust.technical_sentences()
    unlike = from_inputs(sentences, ["1"] * len(sentences), "text")
    rows = []
    for seed in range(seeds):
        rng = np.random.default_rng(seed)  # the trust benchmark's draw
        pick = [int(i) for label in ("0", "1")
                for i in rng.choice([j for j, r in enumerate(train) if r["label"] == label], per_class, replace=False)]
        clf, _ = trust.fit("fast", [train[i]["text"] for i in pick], [train[i]["label"] for i in pick], seed=seed)
        rows += [told(clf, like, "like", set="SST-2 test, 64 a class", seed=seed),
                 told(clf, unlike, "unlike", set="numpy docstrings as '1'", seed=seed)]
    return rows


def digits() -> list[dict[str, Any]]:
    files = sorted((trust.DATA / "audio" / "spoken_digits").glob("*/*.wav"))
    rows = []
    for held in sorted({f.stem.split("_")[1] for f in files}):
        with tempfile.TemporaryDirectory() as folder:
            train = Path(folder) / "train"
            for f in files:
                if f.stem.split("_")[1] != held:
                    (train / f.parent.name).mkdir(parents=True, exist_ok=True)
                    (train / f.parent.name / f.name).symlink_to(f)
            test = [f for f in files if f.stem.split("_")[1] == held]
            unseen = from_inputs([str(f) for f in test], [f.parent.name for f in test], "audio")
            for groups, how in ((None, "without groups"), (trust.SPEAKER, "with groups")):
                clf, _ = trust.fit("fast", train, groups=groups)
                rows.append(told(clf, unseen, f"new speaker, {how}", set=f"spoken digits, new speaker, {how}",
                                 speaker=held, backbone=clf.backbone_))
    return rows


def main() -> None:
    args = arguments(__doc__)
    seeds = int(args[args.index("--seeds") + 1]) if "--seeds" in args else 3
    wanted = [a for a in args if a in ("ants", "sst2", "digits")] or ["ants", "sst2", "digits"]
    rows = []
    for name in wanted:
        rows += ants(seeds) if name == "ants" else sst2(seeds) if name == "sst2" else digits()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "drift.json").write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")
    print("| data | kind | flagged share (each fit) | warns |\n|---|---|---|---|")
    for name in dict.fromkeys(r["set"] for r in rows):
        mine = [r for r in rows if r["set"] == name]
        shares = ", ".join(f"{r['share']:.3f}" for r in mine)
        print(f"| {name} (n={mine[0]['n']}) | {mine[0]['kind']} | {shares} | {sum(r['warns'] for r in mine)} of "
              f"{len(mine)} |")


if __name__ == "__main__":
    main()

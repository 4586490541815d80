"""First-run times with an empty feature cache, as a new user meets them, in one run on one machine.

  lite0     embedding the 245 ants_bees training photos once with EfficientNet-Lite0 (load the network, decode,
            forward): the yardstick the ants train is held to (at most 5x this, in the same run)
  ants      ``handful.Classifier()`` (the default preset) on ants_bees train/ with val/ held out
  sst2      the default preset on 16 SST-2 sentences (8 a class, seed 0), scored on the full test split
  demo      ``handful demo`` (the README's first command), as a user runs it
  digits    the default preset on 1,500 spoken-digit clips (three speakers), scored on the fourth (500 clips)
  update    ``handful train --name`` (the default preset) on 90% of ants_bees train/ (every tenth photo of each class
            left out), then ``handful update`` with the left-out 10%, both as the CLI runs them, in one cache: the
            update's seconds against the first train's (issue 11: at most 15%)
  update-digits  the same on the 1,500 clips of three speakers (every tenth clip of each digit left out): a set
            where the first train is long enough for the update's fixed costs (loading the networks) to matter less

Each runs in its own process with its own empty ``HANDFUL_CACHE_DIR``; the load average before and after is
recorded beside each figure, since a shared machine inflates every time.

Usage: ``python benchmarks/cold.py [lite0 ants sst2 demo digits] [--preset best]``
Writes ``benchmarks/results/cold.json`` (merged with earlier runs of other tasks) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("HANDFUL_SHARED_DATA", HERE.parents[1] / "shared" / "data"))
if not DATA.exists():
    DATA = Path("/work/shared/data")
RESULTS = HERE / "results"
TASKS = ("lite0", "ants", "sst2", "demo", "digits", "update", "update-digits")


def _cpu_of_children() -> float:
    """CPU seconds (user + system) of the finished child processes and theirs: on a shared machine this moves far
    less with the load than the wall time does."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    usage = max(resource.getrusage(who).ru_maxrss for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return round(usage / 1024, 1)


def one(task: str, preset: str) -> dict[str, Any]:
    """One cold task in this process (``HANDFUL_CACHE_DIR`` is already an empty folder)."""
    import handful

    if task == "lite0":
        from handful.backbones.features import embed
        from handful.data import load

        examples = load(DATA / "images" / "ants_bees" / "train").train.examples
        started, cpu = time.perf_counter(), time.process_time()
        embed("efficientnet-lite0", examples, cache_dir=False)
        return {"seconds": round(time.perf_counter() - started, 2), "cpu_seconds": round(time.process_time() - cpu, 2),
                "n": len(examples), "peak_mb": peak_mb()}
    if task == "demo":
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as folder:
            done = subprocess.run([sys.executable, "-m", "handful", "demo", "--folder", folder],
                                  capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(done.stderr[-2000:])
        line = next((x for x in done.stdout.splitlines() if "held-out digits" in x), "")
        return {"seconds": round(seconds, 2), "result": line.strip(), "peak_mb": peak_mb()}
    if task == "update":
        return first_train_and_update(preset, sorted((DATA / "images" / "ants_bees" / "train").glob("*/*")))
    if task == "update-digits":
        return first_train_and_update(preset, [p for p in sorted((DATA / "audio" / "spoken_digits").rglob("*.wav"))
                                               if p.stem.split("_")[1] != "nicolas"])
    clf = handful.Classifier(preset=preset, random_state=0, verbose=0)
    started, cpu = time.perf_counter(), time.process_time()
    extra: dict[str, Any] = {}
    if task == "ants":
        clf.fit(DATA / "images" / "ants_bees")
        extra["val_accuracy"] = clf.holdout_["accuracy"] if clf.holdout_ else None
    elif task == "sst2":
        sys.path.insert(0, str(HERE))
        from peers import sst2, sst2_sample

        clf.fit(*sst2_sample(8, 0))
        seconds = time.perf_counter() - started
        texts, labels = sst2("test")
        extra["test_accuracy"] = float(np.mean(clf.predict(texts) == np.asarray(labels, dtype=object)))
    elif task == "digits":
        root = DATA / "audio" / "spoken_digits"
        files = sorted(root.rglob("*.wav"))
        train = [p for p in files if p.stem.split("_")[1] != "nicolas"]
        test = [p for p in files if p.stem.split("_")[1] == "nicolas"]
        clf.fit(train, [p.parent.name for p in train])
        seconds = time.perf_counter() - started
        extra["unseen_speaker_accuracy"] = float(np.mean(clf.predict(test) == np.asarray(
            [p.parent.name for p in test], dtype=object)))
        extra["n"] = len(train)
    else:
        raise SystemExit(f"unknown task {task!r}")
    if task == "ants":
        seconds = time.perf_counter() - started
    top = {k: v for k, v in clf.timings_.items() if "/" not in k}
    return {"seconds": round(seconds, 2), "cpu_seconds_this_process": round(time.process_time() - cpu, 2),
            "peak_mb": peak_mb(), "chosen": f"{clf.backbone_} + {clf.learner_}"
            + (" (augmented)" if clf.augment_ else ""), "cv": clf.cv_score_.mean if clf.cv_score_ else None,
            "stages": top, **extra}


def first_train_and_update(preset: str, files: list[Path]) -> dict[str, Any]:
    """Seconds of a first ``handful train --name`` on 90% of ``files`` (class folders; every tenth file of each
    class left out) and of ``handful update`` with the other 10% (links to the files, so they are read in place)."""
    with tempfile.TemporaryDirectory() as folder:
        first, extra, root = Path(folder) / "first", Path(folder) / "extra", Path(folder) / "models"
        seen: dict[str, int] = {}
        for photo in files:
            index = seen[photo.parent.name] = seen.get(photo.parent.name, -1) + 1
            target = (extra if index % 10 == 9 else first) / photo.parent.name / photo.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(photo)
        seconds = {}
        for step, command in (("train", ["train", str(first), "--name", "ants", "--preset", preset]),
                              ("update", ["update", "ants", str(extra)])):
            started = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "handful", *command, "--root", str(root), "--quiet"],
                                  capture_output=True, text=True)
            seconds[step] = round(time.perf_counter() - started, 2)
            if done.returncode not in (0, 3):  # 3: registered, not promoted
                raise RuntimeError(done.stderr[-2000:])
        n_first = sum(1 for _ in first.glob("*/*"))
        n_extra = sum(1 for _ in extra.glob("*/*"))
    return {"seconds": seconds["train"], "update_seconds": seconds["update"], "n_first": n_first, "n_new": n_extra,
            "update_share": round(seconds["update"] / seconds["train"], 3), "peak_mb": peak_mb()}


def spawn(task: str, preset: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as cache:
        before = os.getloadavg()
        used = _cpu_of_children()
        started = time.perf_counter()
        done = subprocess.run([sys.executable, __file__, "one", task, preset], capture_output=True, text=True,
                              env={**os.environ, "HANDFUL_CACHE_DIR": cache, "HF_HUB_OFFLINE": "1"})
        after = os.getloadavg()
    record: dict[str, Any] = {"task": task, "preset": preset,
                              "process_seconds": round(time.perf_counter() - started, 1),
                              "process_cpu_seconds": round(_cpu_of_children() - used, 1),
                              "load_before": [round(v, 2) for v in before], "load_after": [round(v, 2) for v in after],
                              "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        record["error"] = (done.stderr or done.stdout)[-2000:]
    else:
        record.update(json.loads(lines[-1]))
    print(json.dumps({k: v for k, v in record.items() if k != "stages"}), flush=True)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tasks", nargs="*", default=["lite0", "ants", "sst2", "demo"])
    parser.add_argument("--preset", default="best")
    parser.add_argument("--tag", default="", help="a name for this run in the results file (e.g. before, after)")
    args = parser.parse_args()
    records = {task: spawn(task, args.preset) for task in args.tasks}
    out = RESULTS / "cold.json"
    RESULTS.mkdir(exist_ok=True)
    kept = json.loads(out.read_text()) if out.exists() else {}
    kept[args.tag or time.strftime("%Y%m%d-%H%M", time.gmtime())] = records
    out.write_text(json.dumps(kept, indent=2) + "\n")
    print("\n| task | seconds | load before -> after | result |\n|---|---|---|---|")
    for task, r in records.items():
        result = ", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in r.items()
                           if k in ("val_accuracy", "test_accuracy", "unseen_speaker_accuracy", "result", "chosen",
                                    "update_seconds", "update_share", "n_first", "n_new"))
        print(f"| {task} | {r.get('seconds', 'failed')} | {r['load_before'][0]} -> {r['load_after'][0]} | {result} |")
    if "lite0" in records and "ants" in records and "seconds" in records["lite0"] and "seconds" in records["ants"]:
        print(f"\nants train / Lite0 embedding: {records['ants']['seconds'] / records['lite0']['seconds']:.1f}x")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        print(json.dumps(one(sys.argv[2], sys.argv[3])))
    else:
        main()

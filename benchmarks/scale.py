"""Scaling out with Ray: training time with 1 and 2 Ray worker processes, and embedding throughput of a large pool.

Everything runs inside a network namespace that holds only loopback (``unshare --net``, as root): Ray binds every
interface and probes a public resolver, so nothing here may reach past 127.0.0.1; and in its own PID namespace, so
``ray stop`` sees only these heads and the kernel ends every process left when the run ends. For each worker
count a local Ray head is started with that many CPUs, used, and stopped.

* **train**: ``Classifier(preset="fast", learners=linear, prototypes, mlp, cosine)`` on the 245 ants/bees training
  photos with efficientnet-lite0 features already cached (embedding is not what is timed; the score cache is
  emptied before every run), through Ray and, for reference, with the local executor in this process. The
  leaderboards must be equal.
* **embed**: a pool of N files (random crops of the 398 ants/bees photos, written to a temporary folder outside
  the repository) embedded with efficientnet-lite0 in batches of 64 on the cluster's workers.

Run as root: ``python benchmarks/scale.py [--pool 5000] [--workers 1 2]``; writes ``benchmarks/results/scale.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = Path(os.environ.get("HANDFUL_SHARED_DATA", HERE.parents[1] / "shared" / "data")) / "images" / "ants_bees"
PORT = 26_479
LEARNERS = ["linear", "prototypes", "mlp", "cosine"]


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def write_pool(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` JPEGs: random crops (40-100% of a side) of the ants/bees photos, resized to 256 px on the long side."""
    import numpy as np
    from PIL import Image

    photos = sorted(DATA.rglob("*.jpg"))
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        with Image.open(photos[i % len(photos)]) as opened:
            image = opened.convert("RGB")
            w, h = image.size
            scale = rng.uniform(0.4, 1.0)
            cw, ch = max(16, int(w * scale)), max(16, int(h * scale))
            x, y = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
            crop = image.crop((x, y, x + cw, y + ch))
            crop.thumbnail((256, 256))
            path = folder / f"pool_{i:05d}.jpg"
            crop.save(path, quality=90)
            paths.append(path)
    return paths


def train(cache: Path, ray: str | None) -> dict[str, object]:
    from handful.classifier import Classifier

    shutil.rmtree(cache / "scores", ignore_errors=True)  # every run scores its candidates
    clf = Classifier(preset="fast", backbone="efficientnet-lite0", learners=LEARNERS, random_state=0, verbose=0,
                     cache_dir=cache, n_jobs=1, ray=ray)
    start = time.perf_counter()
    clf.fit(DATA / "train")
    seconds = time.perf_counter() - start
    return {"seconds": round(seconds, 2), "search_seconds": round(clf.timings_.get("search", float("nan")), 2),
            "winner": f"{clf.backbone_}+{clf.learner_}",
            "leaderboard": [{k: v for k, v in r.items() if k != "seconds"} for r in clf.leaderboard_]}


def inside(args: argparse.Namespace) -> None:
    """In the namespace: for each worker count, a head with that many CPUs; train and embed through it."""
    import ray as ray_module

    from handful.data import from_inputs
    from handful.selection.embedding import embed_on
    from handful.selection.executor import RayExecutor

    work = Path(args.work)
    cache = work / "cache"
    ray_bin = str(Path(sys.executable).with_name("ray"))
    files = sorted((work / "pool").glob("*.jpg"))
    examples = from_inputs(files, ["x"] * len(files), "image").examples
    results: dict[str, object] = {"local": train(cache, None), "load_local": load()}
    for workers in args.workers:
        temp = Path(tempfile.mkdtemp(prefix="hfray", dir="/tmp"))
        subprocess.run([ray_bin, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={PORT}",
                        f"--num-cpus={workers}", "--include-dashboard=false", "--disable-usage-stats",
                        "--object-store-memory=300000000", f"--temp-dir={temp}"], check=True, capture_output=True)
        try:
            address = f"127.0.0.1:{PORT}"
            run: dict[str, object] = {"workers": workers, "load_before": load()}
            run["train"] = train(cache, address)
            start = time.perf_counter()
            features = embed_on(RayExecutor(address), "efficientnet-lite0", examples)
            seconds = time.perf_counter() - start
            run["embed"] = {"files": len(examples), "seconds": round(seconds, 1),
                            "files_per_second": round(len(examples) / seconds, 1), "dim": int(features.shape[1])}
            run["load_after"] = load()
            results[f"ray_{workers}"] = run
            print(json.dumps({k: v for k, v in run.items() if k != "train"}), flush=True)
        finally:
            ray_module.shutdown()
            subprocess.run([ray_bin, "stop", "--force"], capture_output=True)
            shutil.rmtree(temp, ignore_errors=True)
    Path(args.out).write_text(json.dumps(results, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pool", type=int, default=5000, help="files in the embedding pool")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inside:
        inside(args)
        return
    from handful.backbones.features import embed
    from handful.data import load as load_data

    work = Path(tempfile.mkdtemp(prefix="handful-scale-"))
    try:
        started = time.perf_counter()
        write_pool(work / "pool", args.pool)
        print(f"pool of {args.pool} files written in {time.perf_counter() - started:.0f} s", flush=True)
        shared = Path(os.environ.get("HANDFUL_CACHE_DIR", "")) / "features"
        for name in ("efficientnet-lite0", "colour-thumbnail"):  # reuse what a shared cache already embedded
            for found in shared.glob(f"{name}-v*") if os.environ.get("HANDFUL_CACHE_DIR") else []:
                shutil.copytree(found, work / "cache" / "features" / found.name)
        train_set = load_data(DATA / "train").train
        embed("efficientnet-lite0", train_set.examples, work / "cache")  # training features, cached
        out = work / "scale.json"
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        command = (f"ip link set lo up && {sys.executable} {Path(__file__).resolve()} --inside --work {work} "
                   f"--out {out} --workers {' '.join(map(str, args.workers))}")
        subprocess.run(["unshare", "--net", "--pid", "--fork", "--mount-proc", "bash", "-c", command], env=env,
                       check=True)
        found = json.loads(out.read_text())
        runs = [found[f"ray_{w}"] for w in args.workers]
        same = all(r["train"]["leaderboard"] == found["local"]["leaderboard"] for r in runs)
        report = {
            "date": time.strftime("%Y-%m-%d"), "cpus": os.cpu_count(), "pool": args.pool, "learners": LEARNERS,
            "train_set": "ants_bees/train (245 photos), efficientnet-lite0 features cached",
            "leaderboards_equal": same,
            "local_in_process": {k: v for k, v in found["local"].items() if k != "leaderboard"},
            "load_local": found["load_local"],
            "ray": [{"workers": r["workers"], "train_seconds": r["train"]["seconds"],
                     "search_seconds": r["train"]["search_seconds"], "winner": r["train"]["winner"],
                     **{f"embed_{k}": v for k, v in r["embed"].items()},
                     "load_before": r["load_before"], "load_after": r["load_after"]} for r in runs],
        }
        (HERE / "results").mkdir(exist_ok=True)
        (HERE / "results" / "scale.json").write_text(json.dumps(report, indent=1) + "\n")
        print("| executor | train (s) | search (s) | embed files/s | load average |")
        print("|---|---|---|---|---|")
        local = report["local_in_process"]
        print(f"| local, this process | {local['seconds']} | {local['search_seconds']} | - | {report['load_local']} |")
        for r in report["ray"]:
            print(f"| Ray, {r['workers']} worker(s) | {r['train_seconds']} | {r['search_seconds']} | "
                  f"{r['embed_files_per_second']} ({r['embed_files']} files) | {r['load_before']} |")
        print(f"leaderboards equal: {same}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

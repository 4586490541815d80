"""Load on a real ``handful serve``: 16 concurrent clients against real models, one scenario at a time.

Trains (or reuses) two models on ../shared/data: the default preset on ants_bees/train (what ``handful train``
gives a user: EfficientNet-Lite2 there) and MiniLM on 64 SST-2 sentences per class, then starts ``python -m
handful serve`` on 127.0.0.1 as a subprocess and runs, per scenario, ``--clients`` asyncio clients (httpx) that
send requests back to back for ``--seconds``:

  image     one ants_bees/val photo per request (multipart)
  text      one SST-2 test sentence per request (JSON)
  batch8    eight photos per request

The clients set TCP_NODELAY, as curl and browsers do. Reports requests/s, items/s, p50/p99 latency and failed
requests (any non-200 answer or transport error), with the
load average before and after (the machine may be shared: timings are contended then).

Usage: HANDFUL_CACHE_DIR=/tmp/hcache python benchmarks/serve_load.py [--seconds 60] [--clients 16] [--models DIR]
Writes benchmarks/results/serve_load.json (or --out) and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import handful

DATA = Path(os.environ.get("HANDFUL_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
RESULTS = Path(__file__).resolve().parent / "results"
SCENARIOS = ("image", "text", "batch8")


def train_models(root: Path) -> Path:
    """``root/photos`` (the default preset on ants/bees) and ``root/reviews`` (MiniLM, SST-2 64 per class), trained
    if missing."""
    if not (root / "photos" / "manifest.json").is_file():
        handful.Classifier(random_state=0, verbose=0).fit(DATA / "images" / "ants_bees" / "train").save(root / "photos")
    if not (root / "reviews" / "manifest.json").is_file():
        with (DATA / "text" / "sst2" / "train.csv").open(encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        picked = [r for label in ("0", "1") for r in random.Random(0).sample(
            [r for r in rows if r["label"] == label], 64)]
        clf = handful.Classifier(preset="fast", backbone="minilm-l6", random_state=0, verbose=0, cv_folds=3,
                                 cv_repeats=1)
        clf.fit([r["text"] for r in picked], [r["label"] for r in picked]).save(root / "reviews")
    return root


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving(models: Path, log_path: Path) -> Iterator[str]:
    """``python -m handful serve MODELS`` on a free port; yields its URL once /healthz answers; always stopped."""
    port = free_port()
    env = {**os.environ, "HANDFUL_MAX_BATCH": "32"}
    with log_path.open("w") as log:
        process = subprocess.Popen([sys.executable, "-m", "handful", "serve", str(models), "--port", str(port),
                                    "--quiet"], stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                if process.poll() is not None:
                    raise RuntimeError(f"the server stopped: {log_path.read_text()[-2000:]}")
                try:
                    if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError("the server did not answer /healthz within 120 s")
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def request_for(scenario: str, photos: list[tuple[str, bytes]], texts: list[str], i: int) -> dict[str, Any]:
    """The httpx keyword arguments of request ``i`` of ``scenario`` (inputs rotate so no two in a row match)."""
    if scenario == "text":
        return {"json": {"texts": [texts[i % len(texts)]], "top_k": 2}}
    count = 8 if scenario == "batch8" else 1
    chosen = [photos[(i * count + k) % len(photos)] for k in range(count)]
    return {"files": [("files", (name, data, "image/jpeg")) for name, data in chosen], "data": {"top_k": "2"}}


async def run_scenario(url: str, scenario: str, clients: int, seconds: float, photos: list[tuple[str, bytes]],
                       texts: list[str]) -> dict[str, Any]:
    model = "reviews" if scenario == "text" else "photos"
    items = 8 if scenario == "batch8" else 1
    latencies: list[float] = []
    failures: dict[str, int] = {}
    counter = iter(range(10**9))

    async def client(session: httpx.AsyncClient, stop: float) -> None:
        while time.perf_counter() < stop:
            kwargs = request_for(scenario, photos, texts, next(counter))
            started = time.perf_counter()
            try:
                response = await session.post(f"{url}/v1/models/{model}:predict", **kwargs)
                ok = response.status_code == 200 and len(response.json()["predictions"]) == items
                reason = "" if ok else f"HTTP {response.status_code}"
            except httpx.HTTPError as error:
                ok, reason = False, type(error).__name__
            if ok:
                latencies.append(time.perf_counter() - started)
            else:
                failures[reason] = failures.get(reason, 0) + 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    # As curl and browsers do: without TCP_NODELAY the client's request body waits for the server's delayed ACK of
    # its headers (Nagle), which added ~40 ms to every request here, one client or sixteen.
    transport = httpx.AsyncHTTPTransport(limits=limits, socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
    async with httpx.AsyncClient(timeout=120, transport=transport) as session:
        await session.post(f"{url}/v1/models/{model}:predict", **request_for(scenario, photos, texts, 0))  # warm up
        started = time.perf_counter()
        await asyncio.gather(*(client(session, started + seconds) for _ in range(clients)))
        elapsed = time.perf_counter() - started
    ms = np.array(latencies) * 1000 if latencies else np.array([np.nan])
    return {"scenario": scenario, "clients": clients, "seconds": round(elapsed, 1), "requests": len(latencies),
            "failed": sum(failures.values()), "failures": failures,
            "requests_per_s": round(len(latencies) / elapsed, 2),
            "items_per_s": round(len(latencies) * items / elapsed, 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1)}


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| scenario | clients | requests/s | items/s | p50 ms | p99 ms | failed / requests |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['clients']} | {r['requests_per_s']} | {r['items_per_s']} | "
                     f"{r['p50_ms']:.0f} | {r['p99_ms']:.0f} | {r['failed']} / {r['requests'] + r['failed']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each scenario runs")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients")
    parser.add_argument("--models", type=Path, help="a folder of saved models named photos and reviews "
                                                    "(trained there when missing; a temporary folder by default)")
    parser.add_argument("--scenarios", nargs="+", choices=SCENARIOS, default=list(SCENARIOS))
    parser.add_argument("--out", type=Path, default=RESULTS / "serve_load.json")
    args = parser.parse_args(argv)

    photos = [(p.name, p.read_bytes()) for p in sorted((DATA / "images" / "ants_bees" / "val").glob("*/*.jpg"))]
    with (DATA / "text" / "sst2" / "test.csv").open(encoding="utf-8") as handle:
        texts = [row["text"] for row in csv.DictReader(handle)][:500]
    with tempfile.TemporaryDirectory(prefix="handful-load-") as scratch:
        models = train_models(args.models or Path(scratch) / "models")
        load_before = os.getloadavg()
        with serving(models, Path(scratch) / "server.log") as url:
            rows = [asyncio.run(run_scenario(url, s, args.clients, args.seconds, photos, texts))
                    for s in args.scenarios]
        load_after = os.getloadavg()
    result = {"when": time.strftime("%Y-%m-%d %H:%M"), "cpu_count": os.cpu_count(),
              "load_average_before": [round(x, 2) for x in load_before],
              "load_average_after": [round(x, 2) for x in load_after],
              "models": {"photos": "the default preset on ants_bees/train", "reviews": "minilm-l6 on SST-2 64/class"},
              "scenarios": rows}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(table(rows))
    print(f"load average (1, 5, 15 min) before {result['load_average_before']}, after {result['load_average_after']} "
          f"on {os.cpu_count()} CPUs")
    return result


if __name__ == "__main__":
    main()

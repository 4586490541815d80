"""The model registry across real processes: parallel `handful train --name`, a train killed with SIGKILL, and a
real `handful serve ROOT` on 127.0.0.1 picking up promotions made by other processes. Tiny backbones, so these need
no shared data; they are slow only because each process starts Python and torch."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import handful
from handful.artifacts.store import DATABASE, INCOMING, Registry
from tests.conftest import write_images
from tests.integration.test_serve_real import serving

pytestmark = pytest.mark.slow

TRAIN = ["--backbone", "tiny-image", "--preset", "fast", "-q"]


def handful_cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "handful", *args]


def intact(root: Path) -> Registry:
    with sqlite3.connect(root / DATABASE) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    return Registry(root)


def test_parallel_trains_of_one_name_get_distinct_versions(tmp_path: Path) -> None:
    data = write_images(tmp_path / "photos", per_class=5)
    root = tmp_path / "models"
    processes = [subprocess.Popen(handful_cli("train", str(data), "--name", "colours", "--root", str(root), *TRAIN),
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(3)]
    for process in processes:
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, output.decode()
    registry = intact(root)
    versions = registry.versions("colours")
    assert [v.version for v in versions] == [1, 2, 3]
    assert [v.status for v in versions].count("production") == 1 and registry.get("colours").version == 1
    assert len({v.fingerprint for v in versions}) == 1  # the same data, three versions
    for version in versions:
        assert handful.load(version.path).predict([str(data / "red" / "red_0.png")])[0] == "red"
    assert sorted(p.name for p in (root / "colours").iterdir()) == ["v1", "v2", "v3"]


def test_a_train_killed_midway_leaves_the_previous_version_serving(tmp_path: Path) -> None:
    root = tmp_path / "models"
    first = write_images(tmp_path / "first", per_class=4)
    clf = handful.Classifier(preset="fast", backbone="tiny-image", random_state=0, verbose=0).fit(first)
    Registry(root, create=True).add("colours", clf.save)

    cache = tmp_path / "fresh-cache"  # so the killed run must embed, and its first shard shows it is under way
    more = write_images(tmp_path / "more", per_class=25, seed=3)
    process = subprocess.Popen(handful_cli("train", str(more), "--name", "colours", "--root", str(root), *TRAIN),
                               env={**os.environ, "HANDFUL_CACHE_DIR": str(cache)},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list(cache.glob("features/*/*.safetensors")):
        assert process.poll() is None, "the train ended before it could be killed"
        assert time.monotonic() < deadline, "the train did not start embedding within 120 s"
        time.sleep(0.05)
    assert process.poll() is None, "the train ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL

    registry = intact(root)
    assert [(v.version, v.status) for v in registry.versions()] == [(1, "production")]
    served = handful.load(registry.get("colours").path)
    assert served.predict([str(first / "blue" / "blue_0.png")])[0] == "blue"
    code = subprocess.run(handful_cli("train", str(first), "--name", "colours", "--root", str(root), *TRAIN),
                          capture_output=True, timeout=300)
    assert code.returncode == 0, code.stdout.decode() + code.stderr.decode()
    assert [v.version for v in intact(root).versions()] == [1, 2]
    assert not any((root / INCOMING).iterdir())  # whatever the killed run staged is gone


@pytest.fixture
def registry_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "models"
    data = write_images(tmp_path / "photos", per_class=4)
    registry = Registry(root, create=True)
    for seed in (0, 1):
        clf = handful.Classifier(preset="fast", backbone="tiny-image", random_state=seed, verbose=0).fit(data)
        registry.add("colours", clf.save)
    with serving(root, tmp_path / "server.log") as url:
        yield url, root


def served_version(url: str, wanted: str, within: float = 30.0) -> str:
    """Poll the model card until it shows ``wanted`` (or time runs out); returns the last version seen."""
    deadline = time.monotonic() + within
    while True:
        version = httpx.get(f"{url}/v1/models/colours", timeout=10).json()["version"]
        if version == wanted or time.monotonic() > deadline:
            return str(version)
        time.sleep(0.2)


def test_real_server_serves_what_another_process_promotes(registry_server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = registry_server
    assert served_version(url, "v1", within=0) == "v1"
    promote = subprocess.run(handful_cli("models", "promote", "colours", "v2", "--root", str(root)),
                             capture_output=True, timeout=120)
    assert promote.returncode == 0, promote.stderr.decode()
    assert served_version(url, "v2") == "v2"
    photo = write_images(tmp_path / "probe", per_class=1) / "red" / "red_0.png"
    response = httpx.post(f"{url}/v1/models/colours:predict",
                          files=[("files", (photo.name, photo.read_bytes(), "image/png"))], timeout=60)
    assert response.status_code == 200 and response.json()["predictions"][0]["label"] == "red"
    rollback = subprocess.run(handful_cli("models", "rollback", "colours", "--root", str(root)),
                              capture_output=True, timeout=120)
    assert rollback.returncode == 0, rollback.stderr.decode()
    assert served_version(url, "v1") == "v1"

"""Class 5: a save or a registration stopped at any step leaves the old model or the new one, complete, and the
next run cleans what the stop left. Proven by fault injection (a process killed at every step in turn), not timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import handful
from handful.artifacts import Registry, read_model, write_model
from handful.backbones.cache import FeatureCache
from tests.hostile.conftest import snapshot

SRC = str(Path(handful.__file__).resolve().parents[1])
SAVE_STEPS = ["locked", "recovered", "staging-created", "weights-written", "manifest-written", "synced"]
EXCHANGE_STEPS = SAVE_STEPS + ["exchanged", "old-removed"]
RENAME_STEPS = SAVE_STEPS + ["retired", "renamed", "old-removed"]
REGISTRY_STEPS = ["weights-written", "registry:staged", "registry:locked", "registry:renamed", "registry:recorded",
                  "registry:committed"]
KILLED = 86

SAVE = """
import os, sys
import numpy as np
from handful.artifacts import folder, safety
step, path, which, exchange = sys.argv[1:]
folder.EXCHANGE = exchange == "1"
safety.STEP_HOOK = lambda name: os._exit(86) if name == step else None
folder.write_model(path, {"which": which}, {"w": np.full((3, 2), len(which), np.float32)})
"""

REGISTER = """
import os, sys
import numpy as np
from handful.artifacts import Registry, folder, safety
step, root, which = sys.argv[1:]
safety.STEP_HOOK = lambda name: os._exit(86) if name == step else None
Registry(root).add("photos", lambda p: folder.write_model(p, {"which": which, "classes": ["a", "b"]},
                                                          {"w": np.full((3, 2), len(which), np.float32)}))
"""


def run(script: str, *args: str) -> int:
    env = {**os.environ, "PYTHONPATH": SRC}
    return subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=120).returncode


def which(folder: Path) -> str:
    manifest, tensors = read_model(folder)  # verifies the checksum: a complete model or an error
    assert tensors["w"].shape == (3, 2) and float(tensors["w"][0, 0]) == len(manifest["which"])
    return str(manifest["which"])


def crash_save(tmp_path: Path, step: str, exchange: bool) -> None:
    work = tmp_path / f"{step}-{int(exchange)}"
    work.mkdir()
    (work / "notes.txt").write_text("the user's")
    target = work / "model"
    write_model(target, {"which": "old"}, {"w": np.full((3, 2), 3, np.float32)})
    assert run(SAVE, step, str(target), "new!", "1" if exchange else "0") == KILLED, f"never reached {step}"
    assert which(target) in ("old", "new!")  # the path holds the old model or the new one, complete
    write_model(target, {"which": "newest"}, {"w": np.full((3, 2), 6, np.float32)})  # the next run...
    assert which(target) == "newest"
    assert sorted(p.name for p in work.iterdir()) == ["model", "notes.txt"]  # ...cleaned what the stop left
    assert (work / "notes.txt").read_text() == "the user's"


def test_save_stopped_between_the_two_renames_leaves_the_old_model(tmp_path: Path) -> None:
    crash_save(tmp_path, "retired", exchange=False)


@pytest.mark.slow
@pytest.mark.parametrize("exchange,steps", [(True, EXCHANGE_STEPS), (False, RENAME_STEPS)])
def test_save_stopped_at_every_step(tmp_path: Path, exchange: bool, steps: list[str]) -> None:
    for step in steps:
        crash_save(tmp_path, step, exchange)


@pytest.mark.slow
def test_first_save_stopped_at_every_step_leaves_no_model_or_a_complete_one(tmp_path: Path) -> None:
    for step in SAVE_STEPS + ["renamed"]:
        target = tmp_path / step / "model"
        assert run(SAVE, step, str(target), "new!", "1") == KILLED
        assert not target.exists() or which(target) == "new!"
        write_model(target, {"which": "newest"}, {"w": np.full((3, 2), 6, np.float32)})
        assert sorted(p.name for p in target.parent.iterdir()) == ["model"]


@pytest.mark.slow
def test_registration_stopped_at_every_step(tmp_path: Path) -> None:
    for step in REGISTRY_STEPS:
        root = tmp_path / step.replace(":", "-")
        registry = Registry(root, create=True)
        registry.add("photos", lambda p: write_model(p, {"which": "old", "classes": ["a", "b"]},
                                                     {"w": np.full((3, 2), 3, np.float32)}))
        assert run(REGISTER, step, str(root), "new!") == KILLED, f"never reached {step}"
        versions = Registry(root).versions("photos")
        assert [which(v.path) for v in versions] in (["old"], ["old", "new!"])
        assert which(Registry(root).get("photos").path) == "old"  # the promoted one is still served
        Registry(root).add("photos", lambda p: write_model(p, {"which": "newest", "classes": ["a", "b"]},
                                                           {"w": np.full((3, 2), 6, np.float32)}))
        assert Registry(root).orphans() == []
        assert not any((root / ".incoming").iterdir())


def test_two_writers_to_one_output_both_finish_and_one_model_stands(tmp_path: Path) -> None:
    target = tmp_path / "model"
    loop = SAVE.replace("folder.write_model(path", "[folder.write_model(path") + "for _ in range(15)]"
    env = {**os.environ, "PYTHONPATH": SRC}
    writers = [subprocess.Popen([sys.executable, "-c", loop, "never", str(target), name, "1"], env=env,
                                stderr=subprocess.PIPE, text=True) for name in ("first", "second!")]
    errors = [w.communicate(timeout=120)[1] for w in writers]
    assert [w.returncode for w in writers] == [0, 0], errors
    assert which(target) in ("first", "second!")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_feature_cache_shard_with_changed_bytes_is_detected_and_recomputed(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path, "tiny")
    features = np.arange(12, dtype=np.float32).reshape(3, 4)
    cache.put(["a", "b", "c"], features)
    shard = next((tmp_path / "features" / "tiny").glob("*.safetensors"))
    raw = bytearray(shard.read_bytes())
    raw[-5] ^= 0xFF  # a byte of the data; the header (names, shapes, offsets, checksums) is intact
    shard.write_bytes(bytes(raw))
    assert FeatureCache(tmp_path, "tiny").get(["a", "b", "c"]) == {}  # nothing wrong is fed
    assert not shard.exists()
    fresh = FeatureCache(tmp_path, "tiny")
    fresh.put(["a", "b", "c"], features)
    found = FeatureCache(tmp_path, "tiny").get(["a", "b", "c"])
    assert np.array_equal(np.stack([found[k] for k in "abc"]), features)


def test_temporary_cache_shards_of_crashed_writers_are_removed(tmp_path: Path) -> None:
    folder = tmp_path / "features" / "tiny"
    folder.mkdir(parents=True)
    stale, fresh = folder / ".dead.tmp", folder / ".writing.tmp"
    stale.write_bytes(b"half a shard")
    fresh.write_bytes(b"being written")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    user = tmp_path / "features" / "notes.txt"
    user.write_text("not a shard")
    before = snapshot(tmp_path / "features")
    FeatureCache(tmp_path, "tiny").get(["x"])
    assert not stale.exists() and fresh.exists() and user.read_text() == "not a shard"
    assert {k: v for k, v in before.items() if k != "tiny/.dead.tmp"} == snapshot(tmp_path / "features")

"""A real Ray cluster: a local head with two CPUs, trained through, gives the leaderboard the local executor gives.

Ray binds every interface and probes a public resolver to find its own address, so the head, its workers and the
training run inside a network namespace that holds only loopback (``unshare -n``, then ``ip link set lo up``):
nothing listens on or sends to any address but 127.0.0.1. They also run in their own PID namespace, so ``ray stop``
sees only this head's processes, and when the script ends, however it ends, the kernel ends every one of them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
PORT = 26_379
UNSHARE = ["unshare", "--net", "--pid", "--fork", "--mount-proc"]  # loopback only; this head's processes only


def loopback_only_namespace() -> str | None:
    """Why a loopback-only network namespace cannot be made here, or None when it can."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "needs unshare and ip (util-linux, iproute2)"
    try:
        done = subprocess.run([*UNSHARE, "ip", "link", "set", "lo", "up"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"unshare -n failed: {error}"
    if done.returncode != 0:
        return f"unshare is not permitted here (needs root or CAP_SYS_ADMIN): {done.stderr.decode().strip()}"
    return None


def cluster_script(python: str, folder: Path, per_class: int, out: Path, temp: Path) -> str:
    """Start a head on 127.0.0.1, train through it, and stop it whatever happens (the trap runs on every exit)."""
    ray = str(Path(python).with_name("ray"))
    return f"""
set -u
ip link set lo up
trap '"{ray}" stop --force >/dev/null 2>&1' EXIT
"{ray}" start --head --node-ip-address=127.0.0.1 --port {PORT} --num-cpus 2 --include-dashboard=false \
    --disable-usage-stats --object-store-memory 200000000 --temp-dir {temp} || exit 3
ss -Htlnu | awk '{{print $5}}' > {out}.listening
timeout 1200 "{python}" {HERE / 'ray_train.py'} 127.0.0.1:{PORT} {folder} {per_class} {out}
"""


def test_a_ray_cluster_gives_the_local_leaderboard(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason='Ray is not installed (pip install "handful[ray]")')
    reason = loopback_only_namespace()
    if reason is not None:
        pytest.skip(reason)
    given = os.environ.get("HANDFUL_SHARED_DATA")  # a work tree beside the checkout finds the data this way
    folder = Path(given, "images", "ants_bees", "train") if given else shared("images", "ants_bees", "train")
    out = tmp_path / "leaderboards.json"
    source = str(Path(__file__).resolve().parents[2] / "src")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join([source, str(HERE.parents[1])] + [os.environ.get("PYTHONPATH", "")])}
    temp = Path("/tmp") / f"handful-ray-{os.getpid()}"  # short: Ray's socket paths must fit in 107 bytes
    try:
        done = subprocess.run([*UNSHARE, "bash", "-c", cluster_script(sys.executable, folder, 10, out, temp)],
                              env=env, capture_output=True, text=True, timeout=1500)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = json.loads(out.read_text())
    listening = {line.rsplit(":", 1)[0].strip("[]") for line in (tmp_path / "leaderboards.json.listening")
                 .read_text().split()}
    assert listening and listening <= {"127.0.0.1", "::ffff:127.0.0.1"}, listening
    assert found["ray_connected"] and found["ray_cpus"] == 2 and found["n"] == 20
    assert found["ray"] == found["local"] and len(found["local"]) >= 3
    assert found["winner"][0] == found["winner"][1] and found["same_probabilities"]

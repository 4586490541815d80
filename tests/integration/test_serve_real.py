"""A real ``handful serve`` subprocess on 127.0.0.1: a real photo predicted over HTTP, the page drawn by Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import handful
from tests.conftest import shared, write_images

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """Train a small model, start ``python -m handful serve`` on it, and stop the server whatever happens."""
    model = handful.Classifier(preset="fast", backbone="tiny-image", random_state=0, verbose=0, cache_dir=False,
                               cv_folds=2, cv_repeats=1).fit(write_images(tmp_path / "photos")).save(
        tmp_path / "models" / "colours")
    port = free_port()
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen([sys.executable, "-m", "handful", "serve", str(model), "--port", str(port), "--quiet"],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /healthz within 60 s"
            time.sleep(0.3)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_real_photo_over_http(server: str) -> None:
    photo = sorted(shared("images", "ants_bees", "val", "ants").glob("*.jpg"))[0]
    response = httpx.post(f"{server}/v1/models/colours:predict",
                          files=[("files", (photo.name, photo.read_bytes(), "image/jpeg"))], timeout=60)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "colours" and len(body["predictions"]) == 1
    prediction = body["predictions"][0]
    assert prediction["input"] == photo.name and prediction["label"] in ("red", "blue")
    assert abs(sum(t["probability"] for t in prediction["top"]) - 1) < 1e-5
    broken = httpx.post(f"{server}/v1/models/colours:predict", files=[("files", ("x.jpg", b"junk", "image/jpeg"))])
    assert broken.status_code == 415 and "x.jpg" in broken.json()["error"]
    assert httpx.get(f"{server}/healthz").json()["status"] == "ok"  # still up after the bad upload
    assert httpx.get(f"{server}/openapi.json").status_code == 200


def test_page_renders_in_headless_chromium(server: str, tmp_path: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("CI must have chromium: scripts/setup.sh dev installs it (apt-get install -y chromium)")
        pytest.skip("chromium is not installed (scripts/setup.sh dev installs it as root: apt-get install chromium)")
    screenshot = tmp_path / "page.png"
    subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}",
         f"--screenshot={screenshot}", "--window-size=1200,900", "--virtual-time-budget=5000", f"{server}/"],
        check=True, capture_output=True, timeout=120,
    )
    if os.environ.get("HANDFUL_KEEP_SCREENSHOT"):
        shutil.copy(screenshot, os.environ["HANDFUL_KEEP_SCREENSHOT"])
    with Image.open(screenshot) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3)
    colours, counts = np.unique(pixels // 8, axis=0, return_counts=True)
    assert len(colours) > 20, "the page looks blank"
    assert (counts > 200).sum() >= 4, "fewer than four colours cover a visible area"

"""A real ``handful serve`` subprocess on 127.0.0.1: a real photo predicted over HTTP, the page drawn by Chromium."""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import handful
from tests.conftest import shared, write_images, write_tones
from tests.integration.chromium import Chromium

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving_process(model: Path, log_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """Start ``python -m handful serve MODEL`` on a free port, yield its URL and process, and stop it whatever
    happens."""
    port = free_port()
    log = log_path.open("w")
    process = subprocess.Popen([sys.executable, "-m", "handful", "serve", str(model), "--port", str(port), "--quiet"],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log_path.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer /healthz within 60 s"
            time.sleep(0.3)
        yield url, process
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def serving(model: Path, log_path: Path) -> Iterator[str]:
    """Start ``python -m handful serve MODEL`` on a free port, yield its URL, and stop it whatever happens."""
    with serving_process(model, log_path) as (url, _):
        yield url


QUICK = {"preset": "fast", "random_state": 0, "verbose": 0, "cache_dir": False, "cv_folds": 2, "cv_repeats": 1}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A small image model trained here, served by a real ``handful serve`` subprocess."""
    model = handful.Classifier(backbone="tiny-image", **QUICK).fit(write_images(tmp_path / "photos")).save(
        tmp_path / "models" / "colours")
    with serving(model, tmp_path / "server.log") as url:
        yield url


@pytest.fixture
def audio_server(tmp_path: Path) -> Iterator[str]:
    """A small audio model (low vs high tones) served the same way."""
    model = handful.Classifier(backbone="tiny-audio", **QUICK).fit(write_tones(tmp_path / "tones", per_class=5)).save(
        tmp_path / "models" / "tones")
    with serving(model, tmp_path / "server.log") as url:
        yield url


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


def test_microphone_recording_is_predicted_in_chromium(audio_server: str, tmp_path: Path) -> None:
    """Record with Chromium's fake microphone (a beep), Stop: the page encodes a WAV, posts it, shows predictions."""
    import base64

    import soundfile

    fake_mic = ("--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                "--autoplay-policy=no-user-gesture-required")
    with Chromium(tmp_path / "profile", *fake_mic) as browser:
        browser.open(f"{audio_server}/")
        assert browser.wait_for("$('model').value && !$('mic-box').hidden && $('record').textContent") == "Record"
        browser.js("$('record').click()", gesture=True)
        browser.wait_for("$('record').textContent === 'Stop'")
        time.sleep(1.5)
        browser.js("$('record').click()", gesture=True)
        shown = browser.wait_for("[...document.querySelectorAll('#results h3, #results .error')]"
                                 ".map((e) => e.textContent).join('|')")
        assert shown in ("recording.wav → high", "recording.wav → low"), shown
        bars = browser.js("document.querySelectorAll('#results .bar').length")
        assert bars == 2  # both classes, with their probabilities
        clip = browser.js("chosen[0].arrayBuffer().then((b) => { let s = ''; new Uint8Array(b).forEach("
                          "(x) => { s += String.fromCharCode(x); }); return btoa(s); })")
    samples, rate = soundfile.read(io.BytesIO(base64.b64decode(clip)), dtype="float32")
    assert rate >= 8000 and samples.ndim == 1 and 0.5 < len(samples) / rate < 5  # the clip the page sent
    assert np.abs(samples).max() > 0.01  # the fake microphone's beep, not silence


def test_page_shows_the_dropped_photo_and_names_a_bad_file_in_words(server: str, tmp_path: Path) -> None:
    """Issue 13, part 6: the photo beside its prediction, a bad file of the batch named in words (the good one still
    answered), the card saying what its score measures, and links to the report and to /docs."""
    import base64

    photo = base64.b64encode((tmp_path / "photos" / "red" / "red_0.png").read_bytes()).decode("ascii")
    with Chromium(tmp_path / "profile") as browser:
        browser.open(f"{server}/")
        card = browser.wait_for("document.querySelector('#card dl') && $('card').textContent")
        assert "balanced accuracy (cross-validation)" in card or "accuracy (held-out set)" in card
        links = browser.js("[...document.querySelectorAll('#card a')].map((a) => a.getAttribute('href')).join(' ')")
        assert "/v1/models/colours/report" in links and "/docs" in links
        browser.js(f"pick([new File([Uint8Array.from(atob('{photo}'), (c) => c.charCodeAt(0))], 'red.png', "
                   "{type: 'image/png'}), new File(['not a picture'], 'broken.png', {type: 'image/png'})]); "
                   "predict()")
        shown = browser.wait_for("document.querySelector('#results h3') && [...document.querySelectorAll("
                                 "'#results h3, #results .error')].map((e) => e.textContent).join('|')")
        assert shown.startswith("red.png → red|broken.png: not read (") and "{" not in shown, shown
        width = browser.wait_for("document.querySelector('#results img.preview')?.naturalWidth")
        assert width == 48  # the dropped photo itself, decoded by the browser
    report = httpx.get(f"{server}/v1/models/colours/report", timeout=60)
    assert report.status_code == 200 and 'id="summary"' in report.text

"""Class 4 (memory amplification through the server) and the server's small things (class 6).

Fast tests pin the per-request limits and the messages in-process. The slow test runs a real ``handful serve`` on
127.0.0.1 with 16 clients for 60 s (HANDFUL_HOSTILE_SECONDS) mixing valid requests with hostile ones (small PNGs of
25 million pixels, minutes of 96-384 kHz audio in small FLAC files, malformed bodies) and measures the server's
resident memory from /proc: no 5xx, no failed valid request, growth under 300 MB, back near the start after.
"""

from __future__ import annotations

import io
import json
import os
import random
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient
from PIL import Image

import handful
from handful.serve import create_app
from handful.serve.app import key_matches
from handful.serve.settings import Settings
from tests.conftest import write_images, write_tones
from tests.integration.test_serve_real import serving_process

OK = ("valid", "heavy")  # requests that must be answered 200: valid ones, and heavy ones within the limits
QUICK = {"preset": "fast", "random_state": 0, "verbose": 0, "cache_dir": False, "cv_folds": 2, "cv_repeats": 1}


def png(width: int, height: int, mode: str = "L") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 0).save(buffer, "PNG")
    return buffer.getvalue()


def flac(seconds: float, rate: int, channels: int = 1) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros((int(seconds * rate), channels), np.float32), rate, format="FLAC")
    return buffer.getvalue()


def small_png(seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (40, 48, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def tone(seconds: float = 0.5, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(buffer, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="WAV")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    data = tmp_path_factory.mktemp("data")
    handful.Classifier(backbone="tiny-image", **QUICK).fit(write_images(data / "images", per_class=4)).save(
        root / "photos")
    handful.Classifier(backbone="tiny-audio", **QUICK).fit(write_tones(data / "clips", per_class=4)).save(
        root / "clips")
    return root


def files(*named: tuple[str, bytes]) -> list[tuple[str, tuple[str, bytes]]]:
    return [("files", (name, data)) for name, data in named]


def test_many_small_huge_pixel_pngs_are_refused_per_request_before_decoding(models: Path) -> None:
    settings = Settings(max_image_pixels=25_000_000, max_request_pixels=50_000_000)
    with TestClient(create_app(models, settings)) as client:
        big = png(5000, 5000)  # 25 million pixels in ~24 KB
        response = client.post("/v1/models/photos:predict", files=files(*[(f"{i}.png", big) for i in range(3)]))
        assert response.status_code == 413
        assert response.json()["error"] == ("the 3 files hold 75,000,000 pixels together, over the per-request limit "
                                            "of 50,000,000; send fewer or smaller files per request")
        two = client.post("/v1/models/photos:predict", files=files(("a.png", big), ("b.png", big)))
        assert two.status_code == 200, two.text  # within the budget: decoded (shrunk) and answered


def test_long_high_rate_audio_is_refused_by_samples_before_decoding(models: Path) -> None:
    with TestClient(create_app(models, Settings(max_request_samples=20_000_000))) as client:
        clips = files(("a.flac", flac(100, 96_000, 2)), ("b.flac", flac(10, 96_000)))
        response = client.post("/v1/models/clips:predict", files=clips)
        assert response.status_code == 413
        assert response.json()["error"].startswith("the 2 files hold 20,160,000 samples together, over the "
                                                   "per-request limit of 20,000,000")
        ok = client.post("/v1/models/clips:predict", files=files(("t.wav", tone()), ("b.flac", flac(10, 96_000))))
        assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("key", ["clé-secrète", "ключ", "鍵🔑", "plain-ascii"])
def test_non_ascii_api_key_works_as_utf8_bytes(models: Path, key: str) -> None:
    with TestClient(create_app(models, Settings(api_key=key))) as client:
        assert client.get("/v1/models", headers={"X-API-Key": key.encode("utf-8")}).status_code == 200
        assert client.get("/v1/models", headers={"X-API-Key": (key + "x").encode("utf-8")}).status_code == 401
        assert client.get("/v1/models").status_code == 401
    if all(ord(c) < 256 for c in key):  # Python's requests sends str headers as latin-1: that works too
        assert key_matches(key.encode("latin-1").decode("latin-1"), key)
    assert not key_matches(key.encode("utf-8").decode("latin-1")[:-1], key)


def test_huge_jpeg_decodes_at_a_fraction_of_its_size() -> None:
    from handful.data.decode import decode_image

    buffer = io.BytesIO()
    Image.new("RGB", (6000, 4000), (200, 30, 30)).save(buffer, "JPEG")
    image = decode_image(buffer.getvalue(), short_side=512)
    assert image.size == (768, 512) and image.getpixel((10, 10))[0] > 150


# ------------------------------------------------------------------------------------------------ the real server
def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def hostile_requests() -> list[tuple[str, str, dict]]:
    big = png(5000, 5000)
    rgb = png(4000, 3000, "RGB")
    return [
        ("photos", "pixels", {"files": files(*[(f"{i}.png", big) for i in range(8)])}),  # 200 Mpx: refused
        ("photos", "heavy", {"files": files(("a.png", big), ("b.png", rgb))}),  # 37 Mpx: decoded, shrunk
        ("photos", "pixels", {"files": files(("huge.png", png(7000, 7000)))}),  # over the per-file limit
        ("clips", "audio", {"files": files(("a.flac", flac(100, 384_000)))}),  # 38 M samples: refused
        ("clips", "heavy", {"files": files(("b.flac", flac(60, 192_000)), ("c.flac", flac(20, 96_000, 2)))}),
        ("photos", "malformed", {"content": b"--x\r\nnot really multipart" * 1000,
                                 "headers": {"content-type": "multipart/form-data; boundary=x"}}),
        ("photos", "malformed", {"content": os.urandom(200_000),
                                 "headers": {"content-type": "multipart/form-data; boundary=----abc"}}),
        ("clips", "malformed", {"json": {"texts": ["not audio"]}}),
        ("photos", "malformed", {"files": files(("trunc.png", big[: len(big) // 3]))}),
    ]


def valid_requests() -> list[tuple[str, str, dict]]:
    return [("photos", "valid", {"files": files(("a.png", small_png(1)), ("b.png", small_png(2)))}),
            ("clips", "valid", {"files": files(("t.wav", tone()))})]


@pytest.fixture
def server(models: Path, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen]]:
    with serving_process(models, tmp_path / "server.log") as served:
        yield served


@pytest.mark.slow
def test_sixteen_clients_mixing_hostile_and_valid_requests(server: tuple[str, subprocess.Popen],
                                                           tmp_path: Path) -> None:
    url, process = server
    seconds = float(os.environ.get("HANDFUL_HOSTILE_SECONDS", "60"))
    hostile, valid = hostile_requests(), valid_requests()
    with httpx.Client(base_url=url, timeout=120) as warm:  # every code path once: its imports are not growth
        for model, kind, request in valid * 3 + hostile:
            assert (warm.post(f"/v1/models/{model}:predict", **request).status_code == 200) is (kind in OK)
    time.sleep(1)
    start_rss = rss_mb(process.pid)
    samples: list[float] = []
    results: list[tuple[str, int, float]] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(index: int) -> None:
        rng = random.Random(index)
        with httpx.Client(base_url=url, timeout=120) as http:
            while time.monotonic() < stop:
                model, kind, request = rng.choice(valid) if rng.random() < 0.5 else rng.choice(hostile)
                began = time.perf_counter()
                status = http.post(f"/v1/models/{model}:predict", **request).status_code
                with lock:
                    results.append((kind, status, time.perf_counter() - began))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        samples.append(rss_mb(process.pid))
        time.sleep(0.25)
    time.sleep(3)
    end_rss = rss_mb(process.pid)
    valid_ms = sorted(1000 * s for kind, _, s in results if kind == "valid")
    summary = {
        "seconds": seconds, "clients": 16, "requests": len(results),
        "valid": len(valid_ms), "hostile": len(results) - len(valid_ms),
        "statuses": {str(code): sum(1 for _, c, _ in results if c == code)
                     for code in sorted({c for _, c, _ in results})},
        "valid_p50_ms": round(statistics.median(valid_ms), 1),
        "valid_p99_ms": round(valid_ms[min(len(valid_ms) - 1, int(0.99 * len(valid_ms)))], 1),
        "rss_start_mb": round(start_rss, 1), "rss_peak_mb": round(max(samples), 1), "rss_end_mb": round(end_rss, 1),
        "load_average": os.getloadavg(),
    }
    out = os.environ.get("HANDFUL_HOSTILE_OUT")
    if out:
        Path(out).write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary))
    assert all(code < 500 for _, code, _ in results), summary
    assert all(code == 200 for kind, code, _ in results if kind in OK), summary
    assert all(code == 413 for kind, code, _ in results if kind in ("pixels", "audio")), summary
    assert all(400 <= code < 500 for kind, code, _ in results if kind == "malformed"), summary
    assert summary["valid"] > 16 and summary["hostile"] > 16, summary
    assert max(samples) - start_rss < 300, summary
    assert end_rss - start_rss < 100, summary

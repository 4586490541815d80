"""Hostile and broken requests against the HTTP service: each gets a JSON error with its status, none a 5xx.

Models trained here on the tiny test backbones: 'photos' (image), 'reviews' (text), 'clips' (audio).
"""

from __future__ import annotations

import io
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient
from PIL import Image

import handful
from handful.serve import Settings, create_app
from handful.serve.app import find_models
from tests.conftest import NEGATIVE, POSITIVE, write_images, write_tones
from tests.unit.test_serve import assert_error, png

QUICK = {"preset": "fast", "random_state": 0, "verbose": 0, "cache_dir": False, "cv_folds": 2, "cv_repeats": 1}
LIMITS = Settings(max_upload_mb=1, max_batch=3, max_text_chars=200, max_image_pixels=100_000, max_audio_seconds=2)


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``base/models`` holds the three served models; ``base/secret`` is a model outside it that must stay unseen."""
    base = tmp_path_factory.mktemp("serve-inputs")
    models = base / "models"
    handful.Classifier(backbone="tiny-image", **QUICK).fit(write_images(base / "images", per_class=6)).save(
        models / "photos")
    texts, labels = POSITIVE + NEGATIVE, ["pos"] * len(POSITIVE) + ["neg"] * len(NEGATIVE)
    handful.Classifier(backbone="tiny-text", **QUICK).fit(texts, labels).save(models / "reviews")
    handful.Classifier(backbone="tiny-audio", **QUICK).fit(write_tones(base / "tones", per_class=5)).save(
        models / "clips")
    handful.Classifier(backbone="tiny-text", **QUICK).fit(texts, labels).save(base / "secret")
    return models


@pytest.fixture(scope="module")
def client(root: Path) -> Iterator[TestClient]:
    with TestClient(create_app(find_models(root), LIMITS)) as c:
        yield c


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(buffer, "JPEG")
    return buffer.getvalue()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares ``width`` x ``height`` but whose pixel data is a few bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(
        b"IEND", b"")


def wav(seconds: float, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(buffer, (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, format="WAV",
                    subtype="PCM_16")
    return buffer.getvalue()


def upload(client: TestClient, model: str, *files: tuple[str, bytes]):
    return client.post(f"/v1/models/{model}:predict", files=[("files", (n, d, "application/octet-stream"))
                                                             for n, d in files])


def test_malformed_images_are_415_and_named(client: TestClient) -> None:
    good = jpeg()
    broken = {"truncated.jpg": good[: len(good) // 2], "junk.png": b"\x89PNG\r\n\x1a\n" + b"junk" * 50,
              "zero.png": b""}
    body = assert_error(upload(client, "photos", *broken.items()), 415,
                        "'truncated.jpg', 'junk.png', 'zero.png'")
    assert [d["file"] for d in body["detail"]] == list(broken)
    assert "empty" in body["detail"][2]["reason"]
    assert upload(client, "photos", ("ok.jpg", good)).status_code == 200  # the server is still up


def test_image_pixel_limit_is_413_and_named(client: TestClient) -> None:
    body = assert_error(upload(client, "photos", ("wide.png", png_header(1000, 1000))), 413,
                        "'wide.png' over the pixel limit")
    assert "100,000-pixel limit" in body["detail"][0]["reason"]
    bomb = assert_error(upload(client, "photos", ("bomb.png", png_header(100_000, 100_000))), 413, "'bomb.png'")
    assert "decompression bomb" in bomb["detail"][0]["reason"]
    # A readable file over the limit beside an unreadable one: the unreadable one decides (415), both named.
    mixed = assert_error(upload(client, "photos", ("wide.png", png_header(1000, 1000)), ("bad.png", b"xx")), 415,
                         "'wide.png', 'bad.png'")
    assert "pixel limit" in mixed["detail"][0]["reason"]
    assert upload(client, "photos", ("small.png", png())).status_code == 200


def test_malformed_wavs_are_415_and_named(client: TestClient) -> None:
    good = wav(0.5)
    silent = wav(0.0)
    huge = good[:4] + struct.pack("<I", 0xFFFFFFF0) + good[8:40] + struct.pack("<I", 0xFFFFFFF0) + good[44:]
    body = assert_error(upload(client, "clips", ("header.wav", b"RIFF\x10\0\0\0WAVEjunkjunkjunk"),
                               ("silent.wav", silent)), 415, "'header.wav', 'silent.wav'")
    assert "not a readable audio file" in body["detail"][0]["reason"]
    assert "no samples" in body["detail"][1]["reason"]
    # A header that declares 4 GB of samples over half a second of them: read as what is really there.
    response = upload(client, "clips", ("huge.wav", huge), ("fine.wav", good))
    assert response.status_code == 200, response.text
    assert [p["input"] for p in response.json()["predictions"]] == ["huge.wav", "fine.wav"]


def test_audio_duration_limit_is_413_and_named(client: TestClient) -> None:
    body = assert_error(upload(client, "clips", ("long.wav", wav(3.0)), ("short.wav", wav(0.5))), 413,
                        "'long.wav' over the duration limit")
    assert body["detail"] == [{"file": "long.wav", "reason": body["detail"][0]["reason"]}]
    assert "over the 2 s limit" in body["detail"][0]["reason"]
    assert upload(client, "clips", ("short.wav", wav(1.5))).status_code == 200


@pytest.mark.parametrize(("body", "status", "fragment"), [
    (b"{not json", 422, "JSON body is not valid"),
    (b"", 422, "JSON body is not valid"),
    (b'["a list"]', 422, "JSON body is not valid"),
    (b'{"texts": "not a list"}', 422, "JSON body is not valid"),
    (b'{"texts": [1, 2]}', 422, "JSON body is not valid"),
    (b'{"texts": [null]}', 422, "JSON body is not valid"),
    (b'{"texts": []}', 422, "JSON body is not valid"),
    (b'{"texts": ["a"], "top_k": 0}', 422, "JSON body is not valid"),
    (b'{"texts": ["a"], "top_k": "three"}', 422, "JSON body is not valid"),
    (b'{"texts": ["a"], "extra": 1}', 422, "JSON body is not valid"),
    (b'{"texts": ["a", "b", "c", "d"]}', 413, "over the batch limit of 3"),
    (b'{"texts": ["' + b"x" * 201 + b'"]}', 422, "over the limit of 200"),
    (b'{"texts": ["\\u0000"]}', 200, ""),
])
def test_malformed_json(client: TestClient, body: bytes, status: int, fragment: str) -> None:
    response = client.post("/v1/models/reviews:predict", content=body, headers={"Content-Type": "application/json"})
    if status == 200:
        assert response.status_code == 200, response.text
    else:
        assert_error(response, status, fragment)


def test_oversize_uploads_are_413(client: TestClient) -> None:
    assert_error(upload(client, "photos", ("big.png", b"\0" * (1024 * 1024 + 1))), 413, "over the 1 MB limit")
    declared = client.post("/v1/models/clips:predict", content=b"x",
                           headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": "99999999"})
    assert_error(declared, 413, "over the 1 MB limit")
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("name", ["..%2F..%2Fsecret", "..%2Fsecret", "a%2Fb", "a/b", "%00", "a%00b", "..",
                                  "%2E%2E%2Fsecret", "..%5Csecret", "secret", "x" * 300, "a" * 5000, "%2Fetc%2Fpasswd",
                                  "~root", "con:predict"])
def test_path_like_model_names_never_reach_a_folder(client: TestClient, name: str) -> None:
    """'secret' is a real model beside the served folder: no spelling of a path may reach it."""
    for response in (client.get(f"/v1/models/{name}"),
                     client.post(f"/v1/models/{name}:predict", json={"texts": ["a lovely film"]})):
        assert response.status_code in (404, 405, 422), (name, response.status_code, response.text)
        assert set(response.json()) == {"error", "detail"}


def test_docs_are_served_offline(client: TestClient) -> None:
    import re

    for page in ("/docs", "/redoc"):
        response = client.get(page)
        assert response.status_code == 200 and "text/html" in response.headers["content-type"]
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", response.text)
        assert urls, page
        for url in urls:
            assert not re.match(r"(?i)(https?:)?//", url), f"{page} loads {url} from outside this server"
            assert client.get(url).status_code == 200, url
    schema = client.get("/openapi.json").json()
    assert schema["openapi"].startswith("3.")
    body = schema["paths"]["/v1/models/{name}:predict"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "multipart/form-data"}

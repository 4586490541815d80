"""The HTTP service through FastAPI's TestClient, with models trained here on the tiny test backbones."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

import handful
from handful.serve import Settings, create_app
from handful.serve.app import find_models
from tests.conftest import NEGATIVE, POSITIVE, write_images


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of two models: 'photos' (image) and 'reviews' (text)."""
    base = tmp_path_factory.mktemp("serve")
    images = write_images(base / "data", per_class=6)
    quick = {"preset": "fast", "random_state": 0, "verbose": 0, "cache_dir": False, "cv_folds": 2, "cv_repeats": 1}
    handful.Classifier(backbone="tiny-image", **quick).fit(images).save(base / "models" / "photos")
    texts, labels = POSITIVE + NEGATIVE, ["pos"] * len(POSITIVE) + ["neg"] * len(NEGATIVE)
    handful.Classifier(backbone="tiny-text", **quick).fit(texts, labels).save(base / "models" / "reviews")
    (base / "models" / "not a model").mkdir()
    return base / "models"


@pytest.fixture(scope="module")
def models(root: Path) -> dict:
    return find_models(root)


@pytest.fixture
def client(models: dict) -> Iterator[TestClient]:
    with TestClient(create_app(models, Settings(max_upload_mb=1, max_batch=3, max_text_chars=200))) as c:
        yield c


def png(colour: tuple[int, int, int] = (200, 40, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 48), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def assert_error(response, status: int, fragment: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "detail"} and fragment in body["error"]
    return body


def test_healthz_and_page(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok", "models": 2}
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/v1/models" in page.text and "http" not in page.text.split("<script>")[0].lower().replace(
        "http-equiv", "")  # no external assets
    assert "/v1/models/{name}:predict" in client.get("/openapi.json").json()["paths"]


def test_list_and_card(client: TestClient) -> None:
    listed = {m["name"]: m for m in client.get("/v1/models").json()["models"]}
    assert set(listed) == {"photos", "reviews"}  # the folder without a manifest is not a model
    assert listed["photos"]["modality"] == "image" and listed["photos"]["classes"] == ["blue", "red"]
    assert listed["reviews"]["accuracy"]["source"] == "cross-validation"
    card = client.get("/v1/models/photos").json()
    assert card["n_examples"] == 12 and card["backbone"] == "tiny-image" and "tiny-image" in card["licence"]
    score = card["metrics"]["cv_balanced_accuracy"]
    assert score["low"] <= score["mean"] <= score["high"]
    assert card["protocol"]["text"].startswith("stratified 2-fold, 1 repeat")
    assert card["trust"]["sets"]["level"] == 0.9 and card["trust"]["ood"]["false_alarm"] == 0.05


def test_predict_files_sniffs_content(client: TestClient) -> None:
    files = [("files", ("warm.jpg", png((200, 40, 30)), "image/jpeg")),  # a PNG under a .jpg name
             ("files", ("cool", png((30, 60, 210)), "application/octet-stream"))]
    response = client.post("/v1/models/photos:predict", files=files, data={"top_k": "1"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == "photos" and [p["input"] for p in body["predictions"]] == ["warm.jpg", "cool"]
    for prediction in body["predictions"]:
        assert len(prediction["top"]) == 1 and prediction["top"][0]["label"] == prediction["label"]
        assert 0.0 <= prediction["top"][0]["probability"] <= 1.0


def test_predict_texts(client: TestClient) -> None:
    response = client.post("/v1/models/reviews:predict", json={"texts": ["a lovely film", "awful"], "top_k": 5})
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["input"] for p in predictions] == ["a lovely film", "awful"]
    assert all(len(p["top"]) == 2 for p in predictions)  # top_k is capped by the number of classes
    assert all(abs(sum(t["probability"] for t in p["top"]) - 1) < 1e-5 for p in predictions)


def test_api_key(models: dict) -> None:
    with TestClient(create_app(models, Settings(api_key="s3cret"))) as client:
        assert_error(client.get("/v1/models"), 401, "API key")
        assert_error(client.get("/v1/models", headers={"X-API-Key": "wrong"}), 401, "API key")
        assert client.get("/v1/models", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert client.get("/healthz").status_code == 200


def test_unknown_and_path_like_names(client: TestClient) -> None:
    body = assert_error(client.get("/v1/models/nope"), 404, "no model named 'nope'")
    assert body["detail"] == {"models": ["photos", "reviews"]}
    assert_error(client.post("/v1/models/nope:predict", json={"texts": ["x"]}), 404, "no model")
    assert_error(client.get("/v1/models/..."), 422, "invalid model name")
    assert_error(client.get("/v1/models/%2E%2E"), 422, "invalid model name")
    assert_error(client.get("/v1/models/a%20b"), 422, "invalid model name")
    for path in ("/v1/models/..%2F..%2Fetc", "/v1/models/../../etc/passwd"):
        assert client.get(path).status_code in (404, 422)


def test_oversize_upload(client: TestClient) -> None:
    big = ("files", ("big.png", b"\0" * (2 * 1024 * 1024), "image/png"))
    assert_error(client.post("/v1/models/photos:predict", files=[big]), 413, "over the 1 MB limit")
    chunked = client.post("/v1/models/reviews:predict", content=iter([b" " * 400_000] * 4),  # no Content-Length
                          headers={"Content-Type": "application/json"})
    assert_error(chunked, 413, "over the 1 MB limit")


def test_corrupt_and_empty_files_are_named(client: TestClient) -> None:
    files = [("files", ("good.png", png(), "image/png")), ("files", ("broken.png", b"not an image", "image/png")),
             ("files", ("empty.png", b"", "image/png"))]
    response = client.post("/v1/models/photos:predict", files=files)  # the good one answered, the bad ones named
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["input"] for p in body["predictions"]] == ["good.png"]
    assert [e["input"] for e in body["errors"]] == ["broken.png", "empty.png"]
    only_bad = client.post("/v1/models/photos:predict", files=files[1:])
    body = assert_error(only_bad, 415, "'broken.png', 'empty.png'")
    assert [d["file"] for d in body["detail"]] == ["broken.png", "empty.png"]


def test_malformed_json_and_wrong_kind(client: TestClient) -> None:
    url = "/v1/models/reviews:predict"
    bad = client.post(url, content=b"{not json", headers={"Content-Type": "application/json"})
    assert_error(bad, 422, "JSON body is not valid")
    assert_error(client.post(url, json={"text": ["typo in the key"]}), 422, "JSON body is not valid")
    assert_error(client.post(url, json={"texts": ["fine", "   "]}), 422, "text 1 is empty")
    assert_error(client.post(url, json={"texts": ["x" * 201]}), 422, "over the limit of 200")
    assert_error(client.post(url, files=[("files", ("a.png", png(), "image/png"))]), 415, "takes text")
    assert_error(client.post("/v1/models/photos:predict", json={"texts": ["x"]}), 415, "takes image")
    assert_error(client.post("/v1/models/photos:predict", data={"top_k": "1"}), 415, "takes image")  # urlencoded
    wrong_field = client.post("/v1/models/photos:predict", files=[("image", ("a.png", png(), "image/png"))])
    assert_error(wrong_field, 422, "no files")
    top_k = client.post("/v1/models/photos:predict", files=[("files", ("a.png", png(), "image/png"))],
                        data={"top_k": "zero"})
    assert_error(top_k, 422, "top_k")


def test_batch_limit(client: TestClient) -> None:
    assert_error(client.post("/v1/models/reviews:predict", json={"texts": ["a", "b", "c", "d"]}), 413, "batch limit")
    files = [("files", (f"{i}.png", png(), "image/png")) for i in range(4)]
    assert_error(client.post("/v1/models/photos:predict", files=files), 413, "batch limit")


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANDFUL_MAX_BATCH", "7")
    monkeypatch.setenv("HANDFUL_API_KEY", "k")
    settings = Settings()
    assert settings.max_batch == 7 and settings.api_key is not None and settings.api_key.get_secret_value() == "k"


def test_nothing_to_serve(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds no model"):
        find_models(tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        find_models(tmp_path / "missing")


def test_blank_api_key_means_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from handful.serve import Settings

    monkeypatch.setenv("HANDFUL_API_KEY", "  ")
    assert Settings().api_key is None
    monkeypatch.setenv("HANDFUL_API_KEY", "s3cret")
    key = Settings().api_key
    assert key is not None and key.get_secret_value() == "s3cret"



def test_waiting_requests_share_one_network_call_and_a_bad_one_fails_alone() -> None:
    import threading
    import time

    import numpy as np

    from handful.serve.served import Batcher

    def run(texts: list[str]) -> tuple[dict[str, object], Batcher]:
        started = threading.Event()

        def predict(inputs: list[str]) -> np.ndarray:
            if "bad" in inputs:
                raise ValueError("cannot read 'bad'" if len(inputs) == 2 else "a batch with 'bad' in it")
            if not started.is_set():  # the first call holds the network until the others have queued
                started.set()
                deadline = time.monotonic() + 10
                while len(batcher._queue) < len(texts) - 1 and time.monotonic() < deadline:
                    time.sleep(0.01)
            return np.array([[float(len(x))] for x in inputs])

        batcher = Batcher(predict, threading.Lock())
        answers: dict[str, object] = {}

        def ask(text: str) -> None:
            try:
                answers[text] = batcher([text, text + "!"]).ravel().tolist()
            except ValueError as error:
                answers[text] = str(error)

        first = threading.Thread(target=ask, args=(texts[0],))
        first.start()
        started.wait(10)
        others = [threading.Thread(target=ask, args=(t,)) for t in texts[1:]]
        for thread in others:
            thread.start()
        for thread in [first, *others]:
            thread.join(20)
        return answers, batcher

    answers, batcher = run(["a", "bb", "ccc", "dddd"])
    assert answers == {"a": [1.0, 2.0], "bb": [2.0, 3.0], "ccc": [3.0, 4.0], "dddd": [4.0, 5.0]}
    assert batcher.batches == 2  # "a" alone, then the three that waited meanwhile in one call
    answers, batcher = run(["a", "bb", "bad"])
    assert answers == {"a": [1.0, 2.0], "bb": [2.0, 3.0], "bad": "cannot read 'bad'"}


def test_every_models_batches_run_on_one_inference_thread() -> None:
    """torch keeps a worker pool per calling thread; two pools taking turns slowed both models by a third."""
    import threading

    import numpy as np

    from handful.serve.served import Batcher

    def where(inputs: list[str]) -> np.ndarray:
        return np.array([[float(threading.get_ident())] for _ in inputs])

    photos, texts = Batcher(where, threading.Lock()), Batcher(where, threading.Lock())
    ran = {float(b([x])[0, 0]) for b in (photos, texts) for x in ("a", "b")}
    callers: list[float] = []
    asker = threading.Thread(target=lambda: callers.append(float(texts(["c"])[0, 0])))
    asker.start()
    asker.join(10)
    assert len(ran | set(callers)) == 1 and threading.get_ident() not in ran


def test_predictions_carry_the_set_and_the_unlike_flag(client: TestClient) -> None:
    response = client.post("/v1/models/reviews:predict", json={"texts": ["a lovely film"]})
    assert response.status_code == 200, response.text
    prediction = response.json()["predictions"][0]
    assert prediction["set"][0] == prediction["label"] and prediction["set_level"] == 0.9
    assert set(prediction["ood"]) == {"score", "flag", "text"}
    schema = client.get("/openapi.json").json()["components"]["schemas"]
    assert {"set", "set_level", "set_text", "ood"} <= set(schema["Prediction"]["properties"])
    assert set(schema["Unlike"]["properties"]) == {"score", "flag", "text"}


def test_the_listener_makes_asyncio_turn_nagle_off_on_every_connection() -> None:
    """A kept-alive connection answered each request after the first ~40 ms late while Nagle's algorithm was on
    (asyncio only turns it off on sockets whose protocol says TCP)."""
    import asyncio
    import socket

    from handful.cli.deploy import listen

    listener = listen("127.0.0.1", 0)
    port = listener.getsockname()[1]
    with pytest.raises(OSError):  # the port is taken while the first listener lives
        listen("127.0.0.1", port).close()
    seen: list[int] = []

    async def main() -> None:
        def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listener)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    assert seen and seen[0] != 0


def test_a_served_model_has_its_weights_loaded_before_the_first_request(root: Path) -> None:
    from handful.backbones.features import encoder
    from handful.serve.served import load_served

    encoder.cache_clear()  # as in a fresh server process: no backbone loaded yet
    assert encoder("tiny-text")._inner is None
    load_served("reviews", root / "reviews")
    assert encoder("tiny-text")._inner is not None

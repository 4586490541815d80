"""The page and the API as a newcomer meets them (issue 13, part 6): 405 for a wrong method, no object reprs in
errors, a batch with one bad file answered for the good ones, the report linked, a busy port said plainly."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import handful
from handful.cli import app
from handful.serve import Settings, create_app
from handful.serve.app import find_models
from tests.conftest import write_images


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("serve")
    images = write_images(base / "data", per_class=6)
    quick = {"preset": "fast", "random_state": 0, "verbose": 0, "cache_dir": False, "cv_folds": 2, "cv_repeats": 1}
    handful.Classifier(backbone="tiny-image", **quick).fit(images).save(base / "models" / "photos")
    return base / "models", images


@pytest.fixture
def client(photos: tuple[Path, Path]) -> Iterator[TestClient]:
    with TestClient(create_app(find_models(photos[0]), Settings())) as c:
        yield c


def test_a_wrong_method_gets_405(client: TestClient) -> None:
    response = client.get("/v1/models/photos:predict")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert "send POST to predict" in response.json()["error"]


def test_a_batch_with_one_bad_file_answers_the_good_ones_and_names_the_bad(client: TestClient,
                                                                            photos: tuple[Path, Path]) -> None:
    good = (photos[1] / "red" / "red_0.png").read_bytes()
    response = client.post("/v1/models/photos:predict", files=[
        ("files", ("red.png", good, "image/png")), ("files", ("broken.png", b"not a picture", "image/png"))])
    assert response.status_code == 200, response.text
    body = response.json()
    assert [p["input"] for p in body["predictions"]] == ["red.png"] and body["predictions"][0]["label"] == "red"
    assert [e["input"] for e in body["errors"]] == ["broken.png"]
    assert "object at 0x" not in response.text


def test_error_details_never_hold_an_object_repr(client: TestClient) -> None:
    response = client.post("/v1/models/photos:predict", files=[("files", ("broken.png", b"nope", "image/png"))])
    assert response.status_code == 415 and "broken.png" in response.text
    assert "object at 0x" not in response.text and "BytesIO" not in response.text


def test_the_report_is_served_and_linked_from_the_page(client: TestClient) -> None:
    response = client.get("/v1/models/photos/report")
    assert response.status_code == 200 and 'id="summary"' in response.text
    page = client.get("/").text
    assert "/report" in page and 'href: "/docs"' in page and "balanced accuracy (cross-validation)" in page


def test_serve_says_the_port_is_busy_without_announcing_it_serves(photos: tuple[Path, Path]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", str(photos[0] / "photos"), "--port", str(port)])
    assert result.exit_code == 1
    assert "cannot listen on 127.0.0.1" in result.output and "Serving on" not in result.output

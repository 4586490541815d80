"""Class 3: a model folder is data from anyone. A damaged or hostile one is refused with a clear ModelFileError by
the library, the CLI and the server (never a traceback, never HTTP 500), and nothing is written outside the model
folder and the cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file
from typer.testing import CliRunner

import handful
from handful.artifacts import ModelFileError, file_sha256
from handful.cli import app
from handful.serve import create_app
from tests.conftest import write_images
from tests.hostile.conftest import snapshot

QUICK = {"preset": "fast", "random_state": 0, "verbose": 0, "cache_dir": False, "cv_folds": 2, "cv_repeats": 1}


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = write_images(tmp_path_factory.mktemp("data") / "photos", per_class=4)
    return handful.Classifier(backbone="tiny-image", **QUICK).fit(data).save(tmp_path_factory.mktemp("m") / "model")


def altered(saved: Path, tmp_path: Path, manifest: Callable[[dict], Any] | None = None,
            tensors: Callable[[dict], dict] | None = None, raw: bytes | None = None) -> Path:
    """A copy of the saved model with its manifest and/or weights changed, checksums made to match (as an
    attacker would), so only the schema and tensor checks stand in the way."""
    folder = tmp_path / "received"
    folder.mkdir(exist_ok=True)
    weights = load_file(str(saved / "head.safetensors"))
    if tensors is not None:
        weights = tensors(weights)
    save_file(weights, str(folder / "head.safetensors"))
    content = json.loads((saved / "manifest.json").read_text())
    content["files"]["head.safetensors"]["sha256"] = file_sha256(folder / "head.safetensors")
    if manifest is not None:
        content = manifest(content) or content
    (folder / "manifest.json").write_bytes(raw if raw is not None else json.dumps(content).encode())
    return folder


def scale_head(weights: dict) -> dict:
    name = max(weights, key=lambda k: weights[k].size)
    return {**weights, name: np.full_like(weights[name], np.nan)}


def drop_a_class(weights: dict) -> dict:
    """Cut the class axis (the one of length 2, the number of classes) of every tensor that has one."""
    def cut(values: np.ndarray) -> np.ndarray:
        axes = [i for i, n in enumerate(values.shape) if n == 2]
        return np.take(values, [0], axis=axes[0]) if axes else values
    return {k: cut(v) for k, v in weights.items()}


CASES: dict[str, tuple[dict, str]] = {
    "nan weights": ({"tensors": scale_head}, "NaN or infinite weights"),
    "head narrower than the class list": ({"tensors": drop_a_class}, "cannot be loaded|do not match its class list"),
    "more classes than the head": ({"manifest": lambda m: m.update(classes=["blue", "red", "green"])},
                                   "do not match its class list"),
    "repeated class": ({"manifest": lambda m: m.update(classes=["red", "red"])}, "classes must be unique"),
    "classes not a list": ({"manifest": lambda m: m.update(classes="red")}, "classes must be a list"),
    "no backbone parts": ({"manifest": lambda m: m["backbone"].update(parts=[])}, "backbone.parts must be"),
    "unknown modality": ({"manifest": lambda m: m.update(modality="video")}, "modality must be one of"),
    "deep nesting": ({"raw": b'{"format": "handful-model", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"},
                     "nested 100,001 levels deep|nested 100001 levels deep"),
    "not json": ({"raw": b"\xff\xfe garbage"}, "is damaged"),
    "object weights": ({"tensors": lambda w: {**w, "extra": np.zeros(3, np.complex64)}}, "not a number type"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_model_folders_are_refused_clearly_everywhere(saved: Path, tmp_path: Path, case: str) -> None:
    change, message = CASES[case]
    folder = altered(saved, tmp_path, **change)
    before = snapshot(tmp_path)
    with pytest.raises(ModelFileError, match=message):
        handful.load(folder)
    result = CliRunner().invoke(app, ["predict", str(folder), str(saved / "manifest.json")])
    assert result.exit_code != 0 and not isinstance(result.exception, RecursionError | KeyError | TypeError)
    assert "Traceback" not in result.output
    with pytest.raises((ModelFileError, ValueError), match=message):
        create_app(folder)  # the server refuses to start on it, saying why
    assert snapshot(tmp_path) == before


def test_a_model_file_does_not_choose_where_this_machine_writes(saved: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    folder = altered(saved, tmp_path, manifest=lambda m: m["params"].update(
        cache_dir=str(elsewhere), augment=str(tmp_path / "evil.toml")))
    clf = handful.load(folder)
    assert clf.cache_dir is None and clf.augment is None
    clf.predict(sorted((saved.parent.parent).rglob("*.png"))[:1] or [str(write_images(tmp_path / "p", 1) /
                                                                         "red" / "red_0.png")])
    assert not elsewhere.exists()


def test_a_served_folder_of_models_skips_nothing_silently_and_never_500s(saved: Path, tmp_path: Path) -> None:
    models = tmp_path / "models"
    good = models / "good"
    good.mkdir(parents=True)
    for name in ("manifest.json", "head.safetensors"):
        (good / name).write_bytes((saved / name).read_bytes())
    with TestClient(create_app(models)) as client:
        image = next(saved.parent.parent.rglob("*.png"), None)
        if image is None:
            image = write_images(tmp_path / "p", 1) / "red" / "red_0.png"
        response = client.post("/v1/models/good:predict", files=[("files", ("x.png", image.read_bytes()))])
        assert response.status_code == 200


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(["classes", "modality", "backbone", "backbone.parts", "learner", "learner.params",
                             "params", "config", "config.backbones", "metrics", "leaderboard", "data",
                             "data.n_examples", "data.class_counts", "data.sources", "data.unlabelled_sources",
                             "files"]),
       value=st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=5), st.lists(st.integers(),
                       max_size=3), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_any_field_of_the_wrong_shape_is_a_clear_error(saved: Path, tmp_path_factory: pytest.TempPathFactory,
                                                        path: str, value: Any) -> None:
    def change(manifest: dict) -> None:
        *parents, last = path.split(".")
        target = manifest
        for key in parents:
            target = target[key]
        target[last] = value

    folder = altered(saved, tmp_path_factory.mktemp("h"), manifest=change)
    try:
        clf = handful.load(folder)
    except ModelFileError as error:
        assert str(folder) in str(error)
        return
    assert len(clf.classes_) >= 2  # the change was harmless (e.g. an empty leaderboard): the model still works


def test_unreadable_model_files_are_a_clear_error(saved: Path, tmp_path: Path, unreadable) -> None:  # type: ignore[no-untyped-def]
    folder = altered(saved, tmp_path)
    unreadable(folder / "manifest.json")
    with pytest.raises(ModelFileError, match=r"manifest.json cannot be read \(Permission denied\)"):
        handful.load(folder)


def test_a_registry_row_altered_while_serving_never_gives_a_500(saved: Path, tmp_path: Path) -> None:
    import sqlite3

    from handful.artifacts import Registry
    from handful.serve.live import RegistryModels

    root = tmp_path / "registry"
    registry = Registry(root, create=True)
    registry.add("photos", lambda p: handful.load(saved).save(p))
    models = RegistryModels(root, interval=0.0)
    with sqlite3.connect(root / "registry.db") as db:
        db.execute("UPDATE versions SET path = '../../etc' WHERE name = 'photos'")
    with TestClient(create_app(models)) as client:
        listed = client.get("/v1/models")
        assert listed.status_code == 200 and [m["name"] for m in listed.json()["models"]] == ["photos"]
    with pytest.raises(ValueError, match="not at its own folder in the registry"):
        RegistryModels(root)  # a fresh server refuses to start on it, saying why

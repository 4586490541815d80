"""Class 1: handful never deletes or replaces what it did not write, and refuses a bad output before training."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import handful
from handful.artifacts import ModelFileError, Registry, write_model
from handful.artifacts.safety import OutputPathError, check_output
from handful.cli import app
from tests.conftest import write_images
from tests.hostile.conftest import snapshot

runner = CliRunner()
TRAIN = ["--backbone", "tiny-image", "--preset", "fast", "--quiet"]


def test_train_into_a_folder_with_an_unrelated_manifest_refuses_before_training(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "webapp"
    photos = write_images(work / "photos", per_class=4)
    (work / "manifest.json").write_text(json.dumps({"name": "My web app", "start_url": "/"}))
    (work / "index.html").write_text("<html></html>")
    before = snapshot(work)
    monkeypatch.chdir(work)
    fitted: list[object] = []
    monkeypatch.setattr(handful.Classifier, "fit", lambda self, *a, **k: fitted.append(self) or self)
    result = runner.invoke(app, ["train", "photos", "-o", ".", *TRAIN])
    assert result.exit_code == 2 and fitted == []  # refused before training
    assert f"{work} is a folder handful did not write (it holds index.html, manifest.json, photos/)" in \
        " ".join(result.output.split())
    assert snapshot(work) == before
    assert photos.is_dir()


@pytest.mark.parametrize("where", ["data", "inside", "file", "unwritable", "nonempty"])
def test_bad_output_paths_are_refused_by_name(tmp_path: Path, where: str) -> None:
    photos = write_images(tmp_path / "photos", per_class=3)
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "thesis.tex").write_text("mine too")
    target = {"data": photos, "inside": photos / "red" / "model", "file": tmp_path / "notes.txt",
              "unwritable": Path("/proc/1/handful-model"), "nonempty": tmp_path / "other"}[where]
    expected = {"data": "is inside the training data", "inside": "is inside the training data",
                "file": "is a file; handful saves a model as a folder", "unwritable": "cannot be written",
                "nonempty": "is a folder handful did not write (it holds thesis.tex)"}[where]
    pattern = re.escape(expected)
    before = snapshot(tmp_path)
    with pytest.raises(OutputPathError, match=pattern):
        check_output(target, photos)
    result = runner.invoke(app, ["train", str(photos), "-o", str(target), *TRAIN])
    assert result.exit_code == 2 and expected in " ".join(result.output.split())
    if where != "data" and where != "inside":  # the library refuses too (it does not know the data folder)
        with pytest.raises(OutputPathError, match=pattern):
            write_model(target, {}, {"w": np.zeros(2, np.float32)})
    assert snapshot(tmp_path) == before


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(st.sampled_from(["manifest.json", "head.safetensors", "notes.txt", "sub/", ".hidden",
                                       "model.safetensors"]), min_size=1, max_size=4, unique=True),
       marker=st.sampled_from(["handful-model", "web-app", None]))
def test_only_a_folder_handful_wrote_is_ever_replaced(tmp_path_factory: pytest.TempPathFactory, names: list[str],
                                                      marker: str | None) -> None:
    folder = tmp_path_factory.mktemp("out") / "model"
    folder.mkdir()
    for name in names:
        if name.endswith("/"):
            (folder / name).mkdir()
            (folder / name / "x").write_text("x")
        elif name == "manifest.json":
            (folder / name).write_text(json.dumps({"format": marker} if marker else {"name": "app"}))
        else:
            (folder / name).write_bytes(b"user bytes")
    ours = set(names) <= {"manifest.json", "head.safetensors"} and "manifest.json" in names and \
        marker == "handful-model"
    before = snapshot(folder)
    if ours:
        write_model(folder, {"which": "new"}, {"w": np.zeros(2, np.float32)})
        assert sorted(p.name for p in folder.iterdir()) == ["head.safetensors", "manifest.json"]
    else:
        with pytest.raises(OutputPathError, match="is a folder handful did not write"):
            write_model(folder, {"which": "new"}, {"w": np.zeros(2, np.float32)})
        assert snapshot(folder) == before
    assert [p.name for p in folder.parent.iterdir()] == ["model"]  # no lock, staging or retired folder left


def test_registry_root_and_name_folders_it_did_not_write_are_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".trash").mkdir()
    (home / ".trash" / "letter.txt").write_text("a user's trash")
    (home / "photos.txt").write_text("mine")
    before = snapshot(home)
    with pytest.raises(ValueError, match="is a folder that is not a handful model registry and not empty"):
        Registry(home, create=True)
    assert snapshot(home) == before
    root = tmp_path / "models"
    registry = Registry(root, create=True)
    (root / "photos").mkdir()
    (root / "photos" / "precious.jpg").write_bytes(b"mine")
    (root / ".trash").mkdir()
    (root / ".trash" / "keep-me.txt").write_text("not the registry's")
    (root / ".incoming").mkdir()
    (root / ".incoming" / "notes").write_text("not the registry's either")
    before = {k: v for k, v in snapshot(root).items() if not k.startswith("registry.db")}
    saved = write_model(tmp_path / "m", {"classes": ["a", "b"]}, {"w": np.zeros(2, np.float32)})
    copy = lambda p: write_model(p, *_read(saved))  # noqa: E731
    with pytest.raises(ValueError, match=r"photos holds files the registry did not write \(precious.jpg\)"):
        registry.add("photos", copy)
    registry.add("other", copy)
    after = snapshot(root)
    assert {k: v for k, v in after.items() if k in before} == before  # every file it did not write is untouched


def test_registry_rows_pointing_outside_the_root_are_refused(tmp_path: Path) -> None:
    root = tmp_path / "models"
    registry = Registry(root, create=True)
    saved = write_model(tmp_path / "m", {"classes": ["a", "b"]}, {"w": np.zeros(2, np.float32)})
    registry.add("photos", lambda p: write_model(p, *_read(saved)))
    outside = tmp_path / "elsewhere"
    for path in ("../elsewhere", str(outside), "photos/../../elsewhere", "other/v1"):
        with sqlite3.connect(root / "registry.db") as db:
            db.execute("UPDATE versions SET path = ? WHERE name = 'photos'", (path,))
        with pytest.raises(ModelFileError, match="not at its own folder in the registry; the database was altered"):
            registry.get("photos")
    assert not outside.exists()


def _read(folder: Path) -> tuple[dict, dict]:
    from handful.artifacts import read_model

    manifest, tensors = read_model(folder)
    return {k: v for k, v in manifest.items() if k not in ("format", "format_version", "files")}, tensors


def test_library_save_refuses_the_data_it_was_fitted_on(tmp_path: Path) -> None:
    photos = write_images(tmp_path / "photos", per_class=3)
    clf = handful.Classifier(backbone="tiny-image", preset="fast", verbose=0, cache_dir=False, cv_folds=2,
                             cv_repeats=1).fit(photos)
    before = snapshot(tmp_path)
    with pytest.raises(OutputPathError, match="is inside the training data"):
        clf.save(photos / "model")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["report", "check", "suggest"])
def test_a_file_output_replaces_only_a_file_of_its_kind_that_handful_wrote(tmp_path: Path, command: str) -> None:
    photos = write_images(tmp_path / "photos", per_class=6)
    new = write_images(tmp_path / "new", per_class=3, seed=5) / "red"  # suggest leaves out photos it learned from
    model = tmp_path / "model"
    assert runner.invoke(app, ["train", str(photos), "-o", str(model), *TRAIN]).exit_code == 0
    (tmp_path / "labels.csv").write_text("rank,kind\nmine,mine\n")  # the user's own table, a header like ours
    (tmp_path / "index.html").write_text("<!DOCTYPE html>\n<html><title>my page</title></html>")
    theirs = tmp_path / ("index.html" if command == "report" else "labels.csv")
    arguments = {"report": ["report", str(model)], "check": ["check", str(photos), "--backbone", "tiny-image"],
                 "suggest": ["suggest", str(model), str(new), "-n", "2"]}[command]
    before = snapshot(tmp_path)
    refused = runner.invoke(app, [*arguments, "-o", str(theirs)])
    assert refused.exit_code == 1
    assert f"{theirs} exists and is not a " in refused.output and "handful never replaces a file it did not write" \
        in " ".join(refused.output.split())
    assert snapshot(tmp_path) == before
    ours = tmp_path / "out" / ("report.html" if command == "report" else "found.csv")
    for _ in range(2):  # a new path, then the same path again: it replaces its own file whole
        done = runner.invoke(app, [*arguments, "-o", str(ours)])
        assert done.exit_code == 0, done.output
        assert sorted(p.name for p in ours.parent.iterdir()) == [ours.name]  # no staging file left
    if command == "report":
        assert ours.read_text().startswith("<!DOCTYPE html>")
        with pytest.raises(OutputPathError, match="is a folder; give the path of the file to write"):
            handful.load(model).report_.save(tmp_path)
    else:
        assert ours.read_text().splitlines()[0].startswith("rank,")
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith("out/")} == before

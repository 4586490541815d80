"""One CLI grammar (issue 13, part 3): --version and -h, whole backbone names without the internal ones, a named
default, -q everywhere (third-party progress bars too), and a text model that reads the files it is given."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from handful._version import __version__
from handful.cli import app
from handful.cli.output import QUIET_ENVIRONMENT, setup
from tests.conftest import NEGATIVE, POSITIVE, write_csv, write_images

runner = CliRunner()


def test_version_and_short_help() -> None:
    for flag in ("--version", "-V"):
        result = runner.invoke(app, [flag])
        assert result.exit_code == 0 and result.output.strip() == f"handful {__version__}"
    assert runner.invoke(app, ["-h"]).exit_code == 0 and "Commands" in runner.invoke(app, ["-h"]).output
    result = runner.invoke(app, ["train", "-h"])
    assert result.exit_code == 0 and "--preset" in result.output


def test_backbones_table_shows_whole_names_and_no_internal_ones() -> None:
    result = runner.invoke(app, ["backbones"], terminal_width=80)
    assert result.exit_code == 0, result.output
    names = [line.split("│")[1].strip() for line in result.output.splitlines() if line.startswith("│")]
    assert {"mfcc-stats", "efficientnet-lite0", "colour-thumbnail"} <= set(names)
    assert not any(n.startswith("tiny-") or ":trunk" in n or "…" in n for n in names)
    about = " ".join(line.split("│")[2].strip() for line in result.output.splitlines() if line.startswith("│"))
    assert "Colour histogram + 8x8 thumbnail: the classical baseline every image model must beat" in about


def test_suggest_names_its_default_method() -> None:
    result = runner.invoke(app, ["suggest", "--help"], terminal_width=200)
    assert "Default: cluster" in result.output


def test_quiet_silences_third_party_progress_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in QUIET_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    setup(quiet=True)
    assert os.environ["TQDM_DISABLE"] == "1" and os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"


def test_models_commands_take_quiet(tmp_path: Path) -> None:
    root = str(tmp_path / "models")
    result = runner.invoke(app, ["train", str(write_images(tmp_path / "photos", per_class=6)), "--name", "colours",
                                 "--root", root, "--backbone", "tiny-image", "--preset", "fast", "-q"])
    assert result.exit_code == 0, result.output
    for command in (["list"], ["show", "colours"], ["promote", "colours", "1"], ["rollback", "colours"]):
        result = runner.invoke(app, ["models", *command, "--root", root, "-q"])
        assert result.stdout == "", (command, result.output)
    result = runner.invoke(app, ["models", "show", "nothing", "--root", root, "-q"])
    assert result.exit_code == 1 and result.stdout == ""


@pytest.fixture(scope="module")
def text_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("text")
    result = runner.invoke(app, ["train", str(write_csv(folder / "reviews.csv")), "-o", str(folder / "model"),
                                 "--backbone", "tiny-text", "--preset", "fast", "-q"])
    assert result.exit_code == 0, result.output
    return folder / "model"


def test_a_text_model_reads_the_txt_files_it_is_given(text_model: Path, tmp_path: Path) -> None:
    lines = tmp_path / "two.txt"
    lines.write_text(f"{POSITIVE[0]}\n{NEGATIVE[0]}\n", encoding="utf-8")
    result = runner.invoke(app, ["predict", str(text_model), str(lines), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert [r["input"] for r in json.loads(result.stdout)] == [POSITIVE[0], NEGATIVE[0]]


def test_a_text_model_given_a_photo_says_it_is_a_text_model(text_model: Path, tmp_path: Path) -> None:
    photo = write_images(tmp_path / "photos", per_class=1) / "red" / "red_0.png"
    result = runner.invoke(app, ["predict", str(text_model), str(photo)])
    assert result.exit_code == 1
    assert "is a photo, but this is a text model" in result.output


def test_the_search_bar_says_which_candidate_was_scored_and_the_time_left(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    from handful import Classifier

    Classifier(preset="fast", backbone="tiny-image", random_state=0, verbose=1, cache_dir=False).fit(
        write_images(tmp_path / "photos", per_class=6))
    err = capsys.readouterr().err
    assert "Scoring candidates" in err and "left" in err and "last: " in err


def test_internal_backbone_names_stay_out_of_messages(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", str(write_images(tmp_path / "photos", per_class=4)), "--backbone",
                                 "efficientnet-lite", "-q"])
    assert result.exit_code != 0 and "Did you mean 'efficientnet-lite" in result.output
    assert "tiny-" not in result.output and ":trunk" not in result.output


def test_train_name_beside_plain_model_folders_refuses_first_and_leaves_nothing(tmp_path: Path) -> None:
    """Part 4: ./models holding plain model folders (the README's layout) is refused before any training, no
    registry.db is left behind, and serving the folder finds the same models as before."""
    from handful.serve.app import find_models

    photos = write_images(tmp_path / "photos", per_class=6)
    models = tmp_path / "models"
    result = runner.invoke(app, ["train", str(photos), "-o", str(models / "plain"), "--backbone", "tiny-image",
                                 "--preset", "fast", "-q"])
    assert result.exit_code == 0, result.output
    before = sorted(p.name for p in models.iterdir())
    result = runner.invoke(app, ["train", str(photos), "--name", "new", "--root", str(models), "--backbone",
                                 "tiny-image", "--preset", "fast", "-q"])
    assert result.exit_code != 0 and "not a handful model registry and not empty" in result.output
    assert sorted(p.name for p in models.iterdir()) == before == ["plain"]
    assert list(find_models(models)) == ["plain"]

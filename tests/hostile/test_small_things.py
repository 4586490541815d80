"""Class 6: messages stay readable (10,000 classes, an 80-column terminal); the API key is tested beside the server."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import handful
from handful.cli import app
from handful.cli.output import console
from tests.conftest import write_images
from tests.hostile.conftest import snapshot


def test_ten_thousand_classes_give_a_short_message() -> None:
    texts = [f"text number {i}" for i in range(10_000)]
    labels = [f"class-{i:05d}-" + "x" * 200 for i in range(10_000)]
    with pytest.raises(ValueError) as raised:
        handful.Classifier(backbone="tiny-text", preset="fast", verbose=0).fit(texts, labels)
    message = str(raised.value)
    assert len(message) < 600, len(message)
    assert message.startswith("too few examples for cross-validation in classes 'class-00000-xxx")
    assert "…' (1), " in message and "and 9,995 more: every class needs at least" in message


def test_check_shows_whole_paths_relative_to_the_data_folder_in_80_columns(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path / "a-rather-long-folder-name" / "working" / "shared" / "data" / "images-for-the-check"
    photos = write_images(deep, per_class=8)
    rng = np.random.default_rng(3)
    for i in range(2):  # red squares filed as blue, under long names in a sub-folder
        name = photos / "blue" / "from-the-old-camera" / f"a-suspiciously-red-photo-number-{i}.png"
        name.parent.mkdir(exist_ok=True)
        red = np.clip(np.array((200, 40, 30)) + rng.normal(0, 25, (40, 48, 3)), 0, 255).astype(np.uint8)
        Image.fromarray(red).save(name)
    before = snapshot(photos)
    monkeypatch.setattr(console, "_width", 80)
    result = CliRunner().invoke(app, ["check", str(photos), "--backbone", "tiny-image", "--top", "40"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80
    # The "example" column, read down the table: every flagged file's path relative to the data folder, whole.
    cells = "".join(line.split("│")[2].strip() for line in lines if line.count("│") >= 7)
    flagged = [f"blue/from-the-old-camera/a-suspiciously-red-photo-number-{i}.png" for i in range(2)]
    assert all(path in cells for path in flagged), cells
    assert str(tmp_path) not in result.output and "…" not in cells
    assert snapshot(photos) == before
    shutil.rmtree(deep)


def test_registry_lists_are_short(tmp_path: Path) -> None:
    from handful._lists import listed

    assert listed([f"v{i}" for i in range(1, 10_001)], 10) == "v1, v2, v3, v4, v5, v6, v7, v8, v9, v10 and 9,990 more"
    assert re.fullmatch(r"'x{58}…", listed([repr("x" * 500)]))

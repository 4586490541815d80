"""What `suggest` chooses among: given the data it was trained from (class folders or a labelled table), only the
unlabelled part, never examples that are labelled already."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from handful.data.inputs import suggestion_inputs
from tests.conftest import NEGATIVE, POSITIVE, write_images


def test_a_training_folder_gives_only_its_unlabelled_folder(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=4)
    (folder / "unlabelled").mkdir()
    for path in sorted(write_images(tmp_path / "more", per_class=2, seed=3).glob("*/*.png")):
        shutil.copy(path, folder / "unlabelled" / f"{path.parent.name}_{path.name}")
    pool = suggestion_inputs(folder, "image", ["blue", "red"])
    assert sorted(Path(e.source).parent.name for e in pool.examples) == ["unlabelled"] * 4
    flat = suggestion_inputs(folder / "unlabelled", "image", ["blue", "red"])  # a folder of inputs: all of them
    assert len(flat) == 4
    other = suggestion_inputs(folder, "image", ["cat", "dog"])  # sub-folders that are not the model's classes
    assert len(other) == 12


def test_a_training_folder_with_nothing_unlabelled_is_a_clear_error(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=3)
    with pytest.raises(ValueError, match=r"holds labelled examples of the model's classes and nothing unlabelled"):
        suggestion_inputs(folder, "image", ["blue", "red"])


def test_a_labelled_table_gives_only_its_rows_without_a_label(tmp_path: Path) -> None:
    table = tmp_path / "reviews.csv"
    rows = [f'"{t}",pos' for t in POSITIVE] + [f'"{t}",neg' for t in NEGATIVE] + ['"a film I have not rated",']
    table.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    assert [e.text for e in suggestion_inputs(table, "text", ["neg", "pos"]).examples] == ["a film I have not rated"]
    texts = tmp_path / "texts.csv"  # a table of texts alone: every row is a candidate
    texts.write_text("text\n" + "\n".join(f'"{t}"' for t in POSITIVE) + "\n", encoding="utf-8")
    assert len(suggestion_inputs(texts, "text", ["neg", "pos"])) == len(POSITIVE)


def test_inputs_the_model_learned_from_are_never_suggested(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    import handful

    folder = write_images(tmp_path / "photos", per_class=6)
    clf = handful.Classifier(preset="fast", backbone="tiny-image", random_state=0, verbose=0).fit(folder)
    pool = tmp_path / "all_my_photos"  # a folder of every photo: two of them labelled already
    pool.mkdir()
    for path in [folder / "red" / "red_0.png", folder / "blue" / "blue_3.png",
                 *sorted(write_images(tmp_path / "new", per_class=2, seed=7).glob("*/*.png"))]:
        shutil.copy(path, pool / f"{path.parent.parent.name}_{path.name}")
    with caplog.at_level(logging.WARNING):
        suggested = clf.suggest(pool, n=10)
    assert sorted(Path(s["input"]).name for s in suggested) == [
        "new_blue_0.png", "new_blue_1.png", "new_red_0.png", "new_red_1.png"]
    given = sorted(str(p) for p in pool.iterdir())  # the order a folder is read in
    assert all(given[s["index"]] == s["input"] for s in suggested)  # index: the place among the inputs given
    assert "2 of the 6 inputs are examples the model learned from, labelled already: left out" in caplog.text
    with pytest.raises(ValueError, match=r"all 2 inputs are examples the model learned from"):
        clf.suggest([str(folder / "red" / "red_1.png"), str(folder / "blue" / "blue_1.png")])

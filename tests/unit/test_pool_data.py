"""The unlabelled pool in every input form: a folder beside the class folders, table rows without a label, a path
or list given to fit; validated, kept apart from labelled examples, capped with the seed, and never fatal."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from handful.data import from_texts, load, summarise
from handful.data.pool import gather
from tests.conftest import NEGATIVE, POSITIVE, write_images, write_tones


def test_an_unlabelled_folder_beside_the_class_folders_is_the_pool_not_a_class(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=4)
    spare = write_images(tmp_path / "spare", per_class=3, seed=1)
    (folder / "unlabelled").mkdir()
    for path in sorted(spare.rglob("*.png")):
        shutil.copy(path, folder / "unlabelled" / f"{path.parent.name}_{path.name}")
    (folder / "unlabelled" / "broken.png").write_bytes(b"not an image")
    loaded = load(folder)
    assert loaded.train.classes == ["blue", "red"] and len(loaded.train) == 8
    assert loaded.unlabelled is not None and len(loaded.unlabelled) == 6
    assert [p.where for p in loaded.unlabelled.problems] == [str(folder / "unlabelled" / "broken.png")]


def test_the_american_spelling_works_in_a_train_val_layout(tmp_path: Path) -> None:
    write_images(tmp_path / "data" / "train", per_class=4)
    write_images(tmp_path / "data" / "val", per_class=2, seed=2)
    write_images(tmp_path / "data" / "unlabeled", per_class=2, seed=3)  # sub-folders of the pool are no labels
    loaded = load(tmp_path / "data")
    assert loaded.holdout is not None and len(loaded.holdout) == 4
    assert loaded.unlabelled is not None and len(loaded.unlabelled) == 4


def test_table_rows_without_a_label_are_the_pool(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    rows = [f'"{t}",pos' for t in POSITIVE] + [f'"{t}",neg' for t in NEGATIVE] + ['"an odd little film",',
                                                                                  '"not sure what to think",NaN']
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    loaded = load(path)
    assert len(loaded.train) == 16 and None not in loaded.train.labels
    assert loaded.unlabelled is not None
    assert [e.text for e in loaded.unlabelled.examples] == ["an odd little film", "not sure what to think"]
    assert all("joins the unlabelled pool" in p.message for p in loaded.train.problems)


def test_a_tables_many_unlabelled_rows_are_one_line_to_read(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                                             ) -> None:
    path = tmp_path / "reviews.csv"
    rows = [f'"{t}",pos' for t in POSITIVE] + [f'"{t}",neg' for t in NEGATIVE] + [f'"spare review {i}",'
                                                                                  for i in range(40)]
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        loaded = load(path)
    assert loaded.unlabelled is not None and len(loaded.unlabelled) == 40
    assert len(loaded.train.problems) == 40  # each row is still named in the report and by `handful check`
    lines = summarise(loaded.train.problems)
    assert lines == [f"{path}, lines 18, 19, 20 and 37 more: the label is empty, so the row counts as unlabelled "
                     "and is left out of training (it joins the unlabelled pool); give it a label to train on it "
                     "(kept)"]
    assert [r.getMessage() for r in caplog.records if "unlabelled" in r.getMessage()] == lines


def test_pool_leaves_out_labelled_examples_and_duplicates() -> None:
    labelled = from_texts(["good", "bad"], ["pos", "neg"])
    pool, record = gather(None, ["fine", "good", "fine", "awful"], labelled)
    assert pool is not None and [e.text for e in pool.examples] == ["fine", "awful"]
    assert any("also labelled examples" in m for m in record.messages)


def test_a_pool_over_the_cap_is_subsampled_with_the_seed_and_says_so() -> None:
    labelled = from_texts(["good", "bad"], ["pos", "neg"])
    texts = [f"review number {i}" for i in range(50)]
    first, record = gather(None, texts, labelled, cap=10, seed=4)
    again, _ = gather(None, texts, labelled, cap=10, seed=4)
    other, _ = gather(None, texts, labelled, cap=10, seed=5)
    assert first is not None and again is not None and other is not None
    assert len(first) == 10 and [e.text for e in first.examples] == [e.text for e in again.examples]
    assert [e.text for e in first.examples] != [e.text for e in other.examples]
    assert record.usable == 50 and record.used == 10
    assert "a random 10 of them" in record.messages[0] and "unlabelled_cap" in record.messages[0]


def test_unless_set_the_cap_grows_with_the_labelled_set_and_says_why() -> None:
    texts = [f"review number {i}" for i in range(2500)]
    few = from_texts([f"labelled {i}" for i in range(16)], ["pos", "neg"] * 8)
    many = from_texts([f"labelled {i}" for i in range(200)], ["pos", "neg"] * 100)
    lots = from_texts([f"labelled {i}" for i in range(600)], ["pos", "neg"] * 300)
    used = {}
    for name, labelled in (("few", few), ("many", many), ("lots", lots)):
        pool, record = gather(None, texts, labelled, seed=0)
        assert pool is not None and record.cap == len(pool) == record.used
        used[name] = len(pool)
        assert "4 for each of the" in record.messages[0] and "--unlabelled-cap" in record.messages[0]
    assert used == {"few": 500, "many": 800, "lots": 2000}  # at least 500, 4 a labelled example, at most 2,000
    pool, record = gather(None, texts, few, cap=2500, seed=0)  # a cap the user sets wins
    assert pool is not None and len(pool) == 2500 and not record.messages


def test_an_empty_pool_folder_is_reported_and_training_goes_on(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=4)
    (folder / "unlabelled").mkdir()
    loaded = load(folder)
    assert loaded.unlabelled is None
    assert any("unlabelled pool cannot be used" in p.message and "holds no files" in p.message
               for p in loaded.train.problems)


def test_a_corrupt_pool_is_reported_and_training_goes_on(tmp_path: Path) -> None:
    labelled = load(write_images(tmp_path / "photos", per_class=4)).train
    bad = tmp_path / "pool"
    bad.mkdir()
    for i in range(3):
        (bad / f"{i}.jpg").write_bytes(b"\xff\xd8 truncated")
    pool, record = gather(None, bad, labelled)
    assert pool is None and len(record.problems) == 3
    assert "has no usable input" in record.messages[0] and "training goes on without it" in record.messages[0]


def test_a_pool_of_the_wrong_modality_is_reported_and_training_goes_on(tmp_path: Path) -> None:
    labelled = load(write_images(tmp_path / "photos", per_class=4)).train
    clips = write_tones(tmp_path / "clips", per_class=2)
    pool, record = gather(None, clips, labelled)
    assert pool is None and "is not a supported image type" in record.problems[0]
    assert "training goes on without it" in record.messages[0]
    pool, record = gather(None, tmp_path / "missing", labelled)
    assert pool is None and "does not exist" in record.messages[0]

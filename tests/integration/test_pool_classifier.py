"""The Classifier with an unlabelled pool: pool candidates on the leaderboard with their gain, saved and served like
any model, and a pool that cannot be used never stops training."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import handful
from handful import Classifier
from tests.conftest import NEGATIVE, POSITIVE

POOL = ["a lovely, gentle film", "what a waste of two hours", "charming and sweet", "clumsy and tedious",
        "an utter joy", "painfully slow and dull", "warm, witty and wise", "a boring, lifeless script"]
LEARNERS = ["linear", "self-training", "label-spreading", "vae-examples", "ensemble"]


def tiny_text(**kwargs: object) -> Classifier:
    options = {"preset": "fast", "backbone": "tiny-text", "learners": LEARNERS, "random_state": 0, "verbose": 0,
               "cv_repeats": 1}
    return Classifier(**{**options, **kwargs})  # type: ignore[arg-type]


def test_pool_candidates_compete_with_their_gain_and_the_model_saves_and_loads(tmp_path: Path) -> None:
    texts, labels = POSITIVE + NEGATIVE, ["pos"] * 8 + ["neg"] * 8
    clf = tiny_text().fit(texts, labels, unlabelled=POOL)
    assert clf.unlabelled_ is not None and clf.unlabelled_["used"] == len(POOL)
    rows = {row["learner"]: row for row in clf.leaderboard_}
    assert {"self-training", "label-spreading", "vae-examples"} <= set(rows)
    assert all("gain_over_labelled_only" in rows[name] for name in ("self-training", "label-spreading"))
    assert "gain_over_labelled_only" not in rows["linear"]
    path = clf.save(tmp_path / "model")
    assert json.loads((path / "manifest.json").read_text())["unlabelled"]["used"] == len(POOL)
    loaded = handful.load(path)
    assert np.array_equal(loaded.predict_proba(POOL), clf.predict_proba(POOL))
    assert f"<b>Unlabelled inputs</b>: {len(POOL)} used" in loaded.report_.html()


def test_without_a_pool_no_pool_candidate_runs() -> None:
    clf = tiny_text().fit(POSITIVE + NEGATIVE, ["pos"] * 8 + ["neg"] * 8)
    assert {row["learner"] for row in clf.leaderboard_} <= {"linear", "ensemble"}
    assert clf.unlabelled_ is not None and clf.unlabelled_["used"] == 0


def test_a_pool_that_cannot_be_read_is_reported_and_training_goes_on(tmp_path: Path) -> None:
    clf = tiny_text().fit(POSITIVE + NEGATIVE, ["pos"] * 8 + ["neg"] * 8, unlabelled=tmp_path / "missing.csv")
    assert clf.unlabelled_ is not None and clf.unlabelled_["used"] == 0
    assert "does not exist" in clf.unlabelled_["messages"][0]
    assert "training goes on without it" in clf.unlabelled_["messages"][0]


def test_table_rows_without_a_label_are_the_pool(tmp_path: Path) -> None:
    path = tmp_path / "reviews.csv"
    rows = [f'"{t}",pos' for t in POSITIVE] + [f'"{t}",neg' for t in NEGATIVE] + [f'"{t}",' for t in POOL]
    path.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    clf = tiny_text(learners=["linear", "self-training"]).fit(path)
    assert clf.n_examples_ == 16 and clf.unlabelled_ is not None and clf.unlabelled_["used"] == len(POOL)


def test_cli_train_takes_an_unlabelled_table_and_says_what_it_used(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from handful.cli import app
    from tests.conftest import write_csv

    data = write_csv(tmp_path / "reviews.csv")
    pool = tmp_path / "more.txt"
    pool.write_text("\n".join(POOL) + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["train", str(data), "-o", str(tmp_path / "model"), "--backbone", "tiny-text",
                                      "--preset", "fast", "--learner", "linear", "--learner", "self-training",
                                      "--unlabelled", str(pool), "--unlabelled-cap", "5"])
    assert result.exit_code == 0, result.output
    assert "Unlabelled pool: 5 input(s) used" in result.output
    assert "a random 5 of them" in result.output


def test_a_pool_whose_options_the_search_skipped_is_not_called_used(tmp_path: Path) -> None:
    """Separable photos: the cheap heads score 1.0, so no costlier option (the pool's with them, as the pool is
    larger than the labelled set) can be told better; the card, the CLI and the report say the pool was read and
    why nothing learnt from it."""
    import shutil

    from typer.testing import CliRunner

    from handful.cli import app
    from tests.conftest import write_images

    folder = write_images(tmp_path / "photos", per_class=20)
    (folder / "unlabelled").mkdir()
    for i, path in enumerate(sorted(write_images(tmp_path / "more", per_class=21, seed=5).glob("*/*.png"))):
        shutil.copy(path, folder / "unlabelled" / f"{i}.png")
    result = CliRunner().invoke(app, ["train", str(folder), "-o", str(tmp_path / "model"), "--backbone", "tiny-image",
                                      "--augment", "off"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "Unlabelled pool: 42 input(s) read" in said and "no option that learns from it was tried" in said
    assert "already scores 1.000" in said
    loaded = handful.load(tmp_path / "model")
    assert loaded.unlabelled_ is not None and loaded.unlabelled_["gains"] == []
    assert "already scores 1.000" in loaded.unlabelled_["untried"]
    page = loaded.report_.html()
    assert "<b>Unlabelled inputs</b>: 42 read" in page and "No semi-supervised option was tried" in page


MEASUREMENTS = [f"{i * 7919 % 10007} {i * 104729 % 1009} kg / m3 at {i % 60} s" for i in range(8)]


def test_a_pool_unlike_the_labelled_examples_is_said_to_be_so(tmp_path: Path) -> None:
    """Cross-validation scores labelled examples only: a pool of another domain gets a warning, saved and reported;
    a pool like the labelled examples does not (real MiniLM)."""
    texts, labels = POSITIVE + NEGATIVE, ["pos"] * 8 + ["neg"] * 8
    alike = tiny_text(backbone="minilm-l6", learners=["linear", "self-training"]).fit(texts, labels, unlabelled=POOL)
    other = tiny_text(backbone="minilm-l6", learners=["linear", "self-training"]).fit(texts, labels,
                                                                                      unlabelled=MEASUREMENTS)
    assert alike.unlabelled_ is not None and other.unlabelled_ is not None
    assert alike.unlabelled_["unlike"]["share"] <= 0.125 and not alike.unlabelled_["unlike"]["warning"]
    assert not any("unlike every labelled example" in m for m in alike.unlabelled_["messages"])
    unlike = other.unlabelled_["unlike"]
    assert unlike["backbone"] == "minilm-l6" and unlike["n"] == len(MEASUREMENTS) and unlike["share"] > 0.5
    assert unlike["warning"] in other.unlabelled_["messages"] and "handful suggest" in unlike["warning"]
    loaded = handful.load(other.save(tmp_path / "model"))
    assert loaded.unlabelled_ is not None and loaded.unlabelled_["unlike"] == unlike
    assert "unlike every labelled example" in loaded.report_.html()


def test_co_training_reads_two_real_backbones_and_serves_on_one(tmp_path: Path) -> None:
    texts, labels = POSITIVE + NEGATIVE, ["pos"] * 8 + ["neg"] * 8
    clf = tiny_text(backbone=["minilm-l6", "e5-small"], learners=["linear", "co-training"]).fit(
        texts, labels, unlabelled=POOL)
    trained = [row for row in clf.leaderboard_ if row["learner"] == "co-training" and row["status"] == "ok"]
    assert [row["backbone"] for row in trained] in (["minilm-l6+e5-small"], ["e5-small+minilm-l6"])  # the leader's
    assert "gain_over_labelled_only" in trained[0]
    path = tmp_path / "model"
    clf = tiny_text(backbone=["minilm-l6", "e5-small"], learners=["co-training"]).fit(texts, labels, unlabelled=POOL)
    assert clf.learner_ == "co-training" and sum(clf.head_.pseudo_counts) > 0  # type: ignore[attr-defined]
    loaded = handful.load(clf.save(path))
    assert np.array_equal(loaded.predict_proba(POOL), clf.predict_proba(POOL))

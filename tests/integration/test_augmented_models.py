"""Whole fits with augmented candidates: on the leaderboard under `best`, reproducible, recorded on the card, and
the final model fitted on the views when one wins. Moved from tests/unit/test_augment.py: each fits classifiers
(issue 11: tests/unit under 60 s of CPU)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import handful
from handful import augment as aug
from handful import selection
from tests.conftest import write_images


def test_best_preset_puts_an_augmented_candidate_on_the_leaderboard(tmp_path: Path) -> None:
    photos = write_images(tmp_path / "photos")
    heads = ["linear", "prototypes"]  # the preset stays "best", which decides the augmentation
    clf = handful.Classifier(backbone="tiny-image", learners=heads, random_state=0, verbose=0).fit(photos)
    augmented = [r for r in clf.leaderboard_ if r["augment"]]
    assert augmented and all(r["status"] == "ok" and r["backbone"] == "tiny-image" for r in augmented)
    assert {r["learner"] for r in augmented} <= {"linear", *clf.config_.learners}
    assert clf.augmentation_["tried"] and clf.augmentation_["transforms"] == list(aug.TRANSFORMS["image"])
    assert len(clf.augmentation_["gains"]) == len(augmented)
    fast = handful.Classifier(preset="fast", backbone="tiny-image", learners=heads, random_state=0, verbose=0)
    fast.fit(photos)
    assert not any(r["augment"] for r in fast.leaderboard_) and fast.augmentation_ is None


def test_an_augmented_model_is_reproducible_and_its_card_says_what_was_used(tmp_path: Path) -> None:
    photos = write_images(tmp_path / "photos")
    settings = dict(backbone="tiny-image", learners="linear", augment="medium,no-flip,views=2", random_state=3,
                    verbose=0, cache_dir=False)
    first = handful.Classifier(**settings).fit(photos)  # type: ignore[arg-type]
    second = handful.Classifier(**settings).fit(photos)  # type: ignore[arg-type]
    files = sorted(str(p) for p in photos.rglob("*.png"))
    np.testing.assert_array_equal(first.predict_proba(files), second.predict_proba(files))
    scores = [(r["learner"], r["augment"], r["balanced_accuracy"]) for r in first.leaderboard_]
    assert scores == [(r["learner"], r["augment"], r["balanced_accuracy"]) for r in second.leaderboard_]
    record = first.augmentation_
    assert record["strength"] == "medium" and record["views"] == 2 and "flip" not in record["transforms"]
    assert record["disabled"] == ["flip"]
    saved = first.save(tmp_path / "model")
    manifest = json.loads((saved / "manifest.json").read_text())
    assert manifest["augmentation"] == record and manifest["config"]["augment"]["disabled"] == ["flip"]
    loaded = handful.load(saved)
    np.testing.assert_array_equal(loaded.predict_proba(files), first.predict_proba(files))
    html = loaded.report_.html()
    assert "Augmentation" in html and "crop, rotate, colour, blur, noise, cutout" in html
    assert "Switched off: flip" in html


def test_the_final_model_is_fit_on_views_when_an_augmented_candidate_wins(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    photos = write_images(tmp_path / "photos")
    original_best = selection.best

    def prefer_augmented(results: list[selection.Result], y: np.ndarray, share: float = 0.2) -> selection.Result:
        augmented = [r for r in results if r.candidate.augment and r.status == "ok"]
        return augmented[0] if augmented else original_best(results, y, share)

    monkeypatch.setattr(selection, "best", prefer_augmented)
    fitted_rows: list[int] = []
    original_with_views = selection.with_views

    def spy(features: Any, y: np.ndarray, rows: np.ndarray, views: Any) -> Any:
        out = original_with_views(features, y, rows, views)
        fitted_rows.append(len(out[1]))
        return out

    monkeypatch.setattr(selection.folds, "with_views", spy)
    clf = handful.Classifier(backbone="tiny-image", learners="linear", augment="light,views=3", random_state=0,
                             verbose=0).fit(photos)
    assert clf.augment_ and clf.augmentation_["used"]
    assert fitted_rows[-1] == 16 * (1 + 3)  # 16 photos and 3 views of each

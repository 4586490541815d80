"""Whole fits of the Classifier's contract that take seconds each: the same seed gives the same model, costly heads
run on the winning backbone only, and a search on the same data reuses its scores. Moved from
tests/unit/test_classifier.py (issue 11: tests/unit under 60 s of CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.unit.test_classifier import tiny


def test_same_random_state_same_predictions(image_folder: Path) -> None:
    inputs = sorted(image_folder.rglob("*.png"))
    first = tiny("image", learners=["mlp"]).fit(image_folder).predict_proba(inputs)
    second = tiny("image", learners=["mlp"]).fit(image_folder).predict_proba(inputs)
    assert np.array_equal(first, second)


def test_costly_heads_only_on_the_backbone_whose_cheap_heads_won(image_folder: Path) -> None:
    clf = tiny("image", backbone=["tiny-image", "colour-thumbnail"], learners=["linear", "mlp"]).fit(image_folder)
    mlp = {r["backbone"]: r for r in clf.leaderboard_ if r["learner"] == "mlp"}
    assert sorted(r["status"] for r in mlp.values()) == ["ok", "skipped"]
    skipped = next(r for r in mlp.values() if r["status"] == "skipped")
    assert skipped["message"].startswith("costly heads are tried on the best backbone only")


def test_same_search_on_same_data_reuses_scores(
    tmp_path: Path, image_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from handful import selection

    calls: list[tuple[str, str]] = []  # racing candidates are scored a few folds at a time: one call per group
    real = selection.fold_probabilities

    def counting(jobs: list[selection.FoldJob], *args: object, **kwargs: object) -> list[list[np.ndarray]]:
        calls.extend((job.candidate.backbone, job.candidate.learner) for job in jobs if job.candidate.kind != "curve")
        return real(jobs, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(selection.search, "fold_probabilities", counting)
    first = tiny("image", learners=["linear", "mlp"], cache_dir=tmp_path / "c").fit(image_folder)
    computed = len(calls)
    second = tiny("image", learners=["linear", "mlp"], cache_dir=tmp_path / "c").fit(image_folder)
    assert len(set(calls)) == 3 and len(calls) == computed  # nothing recomputed
    assert [r["balanced_accuracy"] for r in second.leaderboard_] == [r["balanced_accuracy"] for r in first.leaderboard_]
    inputs = sorted(image_folder.rglob("*.png"))
    assert np.array_equal(second.predict_proba(inputs), first.predict_proba(inputs))
    tiny("image", learners=["linear", "mlp"], cache_dir=tmp_path / "c", random_state=1).fit(image_folder)
    assert len(set(calls[computed:])) == 3  # another seed means other folds: everything is scored again

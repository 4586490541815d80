"""Ensembles: greedy selection with replacement, nested scoring, and an ensemble model saved, loaded and served."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import handful
from handful import Classifier, selection
from handful.learners.base import FitContext, Learner, as_context
from handful.learners.ensemble import EnsembleHead, Member, greedy_weights
from handful.selection import ensembles
from tests.conftest import write_images


def test_greedy_selection_keeps_the_better_model_only_when_mixing_does_not_help() -> None:
    y = np.array([0, 1, 0, 1])
    sure = np.array([[0.9, 0.1], [0.1, 0.9], [0.9, 0.1], [0.1, 0.9]])
    unsure = np.full((4, 2), 0.5)
    assert greedy_weights([unsure, sure], y).tolist() == [0.0, 1.0]


def test_greedy_selection_mixes_models_that_err_on_different_rows() -> None:
    y = np.array([0, 1, 0, 1])
    first = np.array([[0.95, 0.05], [0.05, 0.95], [0.05, 0.95], [0.05, 0.95]])  # wrong on row 2
    second = np.array([[0.95, 0.05], [0.95, 0.05], [0.95, 0.05], [0.05, 0.95]])  # wrong on row 1
    weights = greedy_weights([first, second], y)
    assert weights[0] == pytest.approx(0.52) and weights[1] == pytest.approx(0.48)


def _result(name: str, proba: np.ndarray, folds: selection.Folds) -> selection.Result:
    result = selection.Result(selection.Candidate(name, "linear", "l2", "test"), oof_proba=proba)
    result.fold_proba = [proba[test] for _, test in folds]
    result.balanced = [0.5] * len(folds)
    return result


def test_ensemble_weights_of_each_fold_never_see_that_folds_test_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    y = np.tile([0, 1], 10)
    folds = selection.make_folds(y, 5, 2, seed=0)
    rows = np.arange(len(y)) / 100.0  # each row's identity, readable back from its probabilities
    first = np.column_stack([0.3 + rows, 0.7 - rows])
    second = np.column_stack([0.6 + rows, 0.4 - rows])
    seen: list[set[int]] = []
    real = ensembles.greedy_weights

    def instrumented(probas: list[np.ndarray], labels: np.ndarray) -> np.ndarray:
        seen.append({int(round((p - 0.3) * 100)) for p in probas[0][:, 0]})
        return real(probas, labels)

    monkeypatch.setattr(ensembles, "greedy_weights", instrumented)
    combined = selection.ensemble([_result("a", first, folds), _result("b", second, folds)], y, 2, folds)
    assert combined is not None and combined.candidate.learner == "ensemble"
    assert len(seen) == 1 + len(folds)  # all rows once (the kept weights), then each fold's training rows
    for used, (train, test) in zip(seen[1:], folds, strict=True):
        assert used == set(train.tolist()) and not used & set(test.tolist())
    assert len(combined.balanced) == len(folds)


def test_ensemble_head_refuses_features_of_the_wrong_width() -> None:
    head = EnsembleHead(members=[Member("tiny-image", "linear", "l2", 0.5), Member("tiny-text", "linear", "l2", 0.5)])
    with pytest.raises(ValueError, match="expects .* feature columns"):
        head.fit(np.zeros((4, 3)), np.array([0, 1, 0, 1]), 2, 0)


def test_ensemble_of_two_backbones_saves_loads_and_predicts_identically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = write_images(tmp_path / "photos", per_class=10)
    for i in range(3):  # a few swapped labels, so the two feature sets disagree and mixing them helps
        shutil.move(folder / "red" / f"red_{i}.png", folder / "blue" / f"red_{i}.png")
        shutil.move(folder / "blue" / f"blue_{i}.png", folder / "red" / f"blue_{i}.png")
    real = selection.best

    def ensemble_first(results: list[selection.Result], y: np.ndarray, share: float = 0.2) -> selection.Result:
        combined = [r for r in results if r.candidate.members]  # this test is about serving the ensemble
        return combined[0] if combined else real(results, y, share)

    monkeypatch.setattr(selection, "best", ensemble_first)
    clf = Classifier(preset="fast", backbone=["tiny-image", "tiny-image+colour-thumbnail"],
                     learners=["linear", "prototypes", "ensemble"], random_state=0, verbose=0, cv_repeats=1,
                     cache_dir=False).fit(folder)
    assert clf.learner_ == "ensemble" and clf.backbone_ == "tiny-image+colour-thumbnail"
    inputs = sorted(folder.rglob("*.png"))
    path = clf.save(tmp_path / "model")
    manifest = json.loads((path / "manifest.json").read_text())
    members = manifest["learner"]["params"]["members"]
    assert {m["backbone"] for m in members} == {"tiny-image", "tiny-image+colour-thumbnail"}
    assert all(m["params"]["n_classes"] == 2 for m in members)  # each member carries its own head
    loaded = handful.load(path)
    assert np.array_equal(loaded.predict_proba(inputs), clf.predict_proba(inputs))


def test_an_ensemble_refit_embeds_the_pool_only_on_the_backbones_of_members_that_learn_from_it() -> None:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 12)
    image = rng.normal(size=(24, 32)) + y[:, None]  # tiny-image: 32 columns
    thumb = rng.normal(size=(24, 128)) + y[:, None]  # colour-thumbnail: 128
    members = (Member("tiny-image", "linear", "l2", 0.5), Member("colour-thumbnail", "self-training", "standard", 0.5))
    candidate = selection.Candidate("tiny-image+colour-thumbnail", "ensemble", "standard", "ensemble", members=members)
    pools = {"tiny-image": rng.normal(size=(40, 32)), "colour-thumbnail": rng.normal(size=(40, 128)) + 0.5}
    asked: list[str] = []

    def unlabelled_for(name: str) -> np.ndarray:
        asked.append(name)
        return pools[name]

    pool = selection.refit_pool(candidate, unlabelled_for)
    assert asked == ["colour-thumbnail"] and set(pool) == {"colour-thumbnail"}
    seen: dict[str, object] = {}
    real = handful.learners.make_learner

    def watching(name: str, scaling: str = "standard") -> Learner:  # notes the pool each member is fitted with
        learner = real(name, scaling)
        fit = learner.fit

        def noted(x: Any, labels: np.ndarray, n_classes: int, context: FitContext | int = 0) -> Learner:
            seen[name] = as_context(context).unlabelled
            return fit(x, labels, n_classes, context)

        learner.fit = noted  # type: ignore[method-assign,assignment]
        return learner

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(handful.learners, "make_learner", watching)
        EnsembleHead("standard", members).fit(np.hstack([image, thumb]), y, 2, FitContext(0, unlabelled=pool))
    assert seen["linear"] is None and seen["self-training"] is pools["colour-thumbnail"]
    assert selection.refit_pool(selection.Candidate("tiny-image", "linear", "l2", "test"), unlabelled_for) is None


def test_with_a_pool_the_ensemble_of_labelled_only_heads_stays_a_candidate_beside_the_one_of_all() -> None:
    y = np.tile([0, 1], 10)
    folds = selection.make_folds(y, 5, 1, seed=0)

    def wrong_on(rows: range) -> np.ndarray:  # confident, and right but for ``rows``
        proba = np.where(np.eye(2)[y] == 1, 0.9, 0.1)
        proba[list(rows)] = proba[list(rows)][:, ::-1]
        return proba

    plain = [_result("a", wrong_on(range(0, 4)), folds), _result("b", wrong_on(range(4, 8)), folds)]
    pooled = _result("c", wrong_on(range(8, 10)), folds)
    pooled.candidate = selection.Candidate("a", "self-training", "l2", "test")  # a pool head on a's backbone
    assert len(selection.ensemble_candidates(plain, y, 2, folds)) == 1  # no pool: one ensemble, as before
    found = selection.ensemble_candidates([*plain, pooled], y, 2, folds)
    learners = [sorted(m.learner for m in r.candidate.members) for r in found]
    assert learners == [["linear", "linear", "self-training"], ["linear", "linear"]]
    assert found[0].candidate.backbone == found[1].candidate.backbone == "a+b"  # one name, told apart by members
    gains = [{"backbone": "a+b", "learner": "ensemble", "augment": "", "gain": 0.01}]
    rows = selection.leaderboard(found, gains)
    shown = {tuple(sorted(m["learner"] for m in r["members"])): r.get("gain_over_labelled_only") for r in rows}
    assert shown == {("linear", "linear", "self-training"): 0.01, ("linear", "linear"): None}


def test_an_ensemble_adapts_its_aligning_member_on_that_members_columns_and_keeps_it_on_save() -> None:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 15)
    image, thumb = rng.normal(size=(30, 32)) + y[:, None], rng.normal(size=(30, 128)) + y[:, None]
    members = (Member("tiny-image", "linear", "l2", 0.5), Member("colour-thumbnail", "align", "standard", 0.5))
    pool = {"colour-thumbnail": rng.normal(size=(40, 128)) + 3.0}  # a new domain: every column moved by 3
    ensemble = EnsembleHead("standard", members).fit(np.hstack([image, thumb]), y, 2, FitContext(0, unlabelled=pool))
    aligned = ensemble.heads[1]
    assert np.allclose(aligned.target, pool["colour-thumbnail"].mean(axis=0))  # type: ignore[attr-defined]
    params, tensors = ensemble.state()
    restored = EnsembleHead.from_state(params, tensors)
    target = rng.normal(size=(12, 160)) - 2.0
    assert np.allclose(restored.predict_proba(target), ensemble.predict_proba(target))  # the pool's centre was saved
    ensemble.adapt(target)  # as cross-validation does with a fold's test rows
    assert np.allclose(aligned.target, target[:, 32:].mean(axis=0))  # type: ignore[attr-defined]

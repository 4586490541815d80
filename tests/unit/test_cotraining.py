"""Co-training: pseudo-labels only where every backbone's model agrees, balanced over the classes; the model kept
reads the first backbone's columns alone; saved state; the planner's fused candidates; no pool row in a fold's test."""

from __future__ import annotations

import re

import numpy as np
import pytest

from handful.backbones.tiny import TINY_DIM
from handful.learners import FitContext, learner_from_state, make_learner
from handful.learners.cotrain import agreed

BACKBONE = "tiny-text+tiny-audio"  # two backbones of TINY_DIM columns each


def two_views(n: int, seed: int, shares: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)) -> tuple[np.ndarray, np.ndarray]:
    """Three classes seen through two views: each view its own fixed class centres plus its own noise."""
    centres = np.random.default_rng(7).normal(0, 1.0, (2, 3, TINY_DIM))
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=shares)
    views = [centres[v][y] + rng.normal(0, 1.2, (n, TINY_DIM)) + 3.0 for v in range(2)]
    return np.hstack(views), y


def test_pseudo_labels_are_rows_every_view_agrees_on_and_balanced() -> None:
    one = np.array([[0.9, 0.1], [0.8, 0.2], [0.6, 0.4], [0.4, 0.6], [0.1, 0.9]])
    two = np.array([[0.6, 0.4], [0.3, 0.7], [0.7, 0.3], [0.45, 0.55], [0.2, 0.8]])
    chosen, labels = agreed([one, two], per_class=5)  # row 1: the views disagree; class 0 has 2 agreed rows
    assert sorted(zip(chosen.tolist(), labels.tolist(), strict=True)) == [(0, 0), (2, 0), (3, 1), (4, 1)]
    chosen, labels = agreed([one, two], per_class=1)  # the most probable agreed row of each class
    assert sorted(zip(chosen.tolist(), labels.tolist(), strict=True)) == [(0, 0), (4, 1)]
    assert len(agreed([one[:2], two[:2] * 0 + [1.0, 0.0]], per_class=5)[0]) == 0  # no agreed row of class 1


def test_co_training_learns_keeps_the_first_view_and_round_trips() -> None:
    x, y = two_views(24, 0)
    pool, _ = two_views(300, 1, shares=(0.8, 0.1, 0.1))  # the first class would swallow the pool
    test, y_test = two_views(150, 2)
    context = FitContext(seed=3, unlabelled=pool, backbone=BACKBONE)
    head = make_learner("co-training", "standard").fit(x, y, 3, context)
    counts = head.params()["pseudo_counts"]
    assert counts[0] == counts[1] == counts[2] > 0
    proba = head.predict_proba(test)
    assert np.array_equal(proba, make_learner("co-training", "standard").fit(x, y, 3, context).predict_proba(test))
    assert np.mean(proba.argmax(axis=1) == y_test) > 0.8
    other = test.copy()
    other[:, TINY_DIM:] = np.random.default_rng(5).normal(0, 9.0, (len(test), TINY_DIM))
    assert np.array_equal(head.predict_proba(other), proba)  # served on the first backbone's columns alone
    params, tensors = head.state()
    assert np.allclose(learner_from_state("co-training", params, tensors).predict_proba(test), proba)


def test_co_training_without_its_backbones_is_refused() -> None:
    x, y = two_views(24, 0)
    with pytest.raises(ValueError, match="co-training needs to know its backbones"):
        make_learner("co-training", "standard").fit(x, y, 3, FitContext(seed=0))
    with pytest.raises(ValueError, match=re.escape(f"co-training on tiny-text expects {TINY_DIM} feature columns")):
        make_learner("co-training", "standard").fit(x, y, 3, FitContext(seed=0, backbone="tiny-text"))


def test_no_pool_row_in_a_validation_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    from handful import selection
    from handful.learners import cotrain
    from handful.selection import folds as fold_loop

    x, y = two_views(30, 0)
    pool, _ = two_views(120, 1)
    folds = selection.make_folds(y, 3, 1, seed=0)
    current: dict[str, np.ndarray] = {}
    trained: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (fold's train rows, its test rows, one view)
    real_fold, real_fit = fold_loop.fit_predict, cotrain.LinearHead.fit

    def fold(job: fold_loop.FoldJob, split: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
        current["train"], current["test"] = split[0], split[1]
        return real_fold(job, split)

    def fit(self: cotrain.LinearHead, features: np.ndarray, *args: object, **kwargs: object) -> cotrain.LinearHead:
        trained.append((current["train"], current["test"], np.asarray(features)))
        return real_fit(self, features, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fold_loop, "fit_predict", fold)
    monkeypatch.setattr(cotrain.LinearHead, "fit", fit)
    candidate = selection.Candidate(BACKBONE, "co-training", "standard", "fused")
    result = selection.cross_validate(candidate, x, y, 3, folds, seed=0, unlabelled=pool)
    assert result.status == "ok" and len(result.balanced) == len(folds)
    made, views = 0, (x[:, :TINY_DIM], x[:, TINY_DIM:])
    for train, test, matrix in trained:
        view = next(v for v in views if np.allclose(matrix[: len(train)], v[train]))  # labelled rows come first
        made += len(matrix) - len(train)  # then pseudo-labelled pool rows
        distance = np.linalg.norm(matrix[:, None, :] - view[test][None, :, :], axis=2)
        assert distance.min() > 1e-6  # no test row is trained on, as itself or as a pseudo-labelled copy
    assert made > 0 and len(trained) == len(folds) * (2 * 3 + 1)  # 3 rounds of two views, then the one kept


def test_the_planner_puts_each_backbone_first_once_and_only_with_a_pool() -> None:
    from handful import config
    from handful.selection import plan

    def planned(backbones: list[str], learners: list[str], with_pool: bool) -> list[tuple[str, str]]:
        cfg = config.resolve("fast", "text", backbones, learners, 5, None, None, 0, 40)
        return [(c.backbone, c.learner) for c in plan.candidates(cfg, with_pool=with_pool)]

    found = planned(["minilm-l6", "e5-small"], ["linear", "co-training"], True)
    assert [c for c in found if c[1] == "co-training"] == [("minilm-l6+e5-small", "co-training"),
                                                           ("e5-small+minilm-l6", "co-training")]
    assert all(c[1] != "co-training" for c in planned(["minilm-l6", "e5-small"], ["linear", "co-training"], False))
    with pytest.raises(ValueError, match="co-training reads two or more backbones side by side, and one was given"):
        planned(["minilm-l6"], ["co-training"], True)

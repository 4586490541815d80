"""Learners that use the unlabelled pool: balance of pseudo-labels, generated rows' shape and scale, determinism,
and their saved state."""

from __future__ import annotations

import numpy as np
import pytest

from handful.learners import FitContext, learner_from_state, make_learner
from handful.learners.selftrain import balanced_confident
from handful.learners.synthetic import GeneratedExamples

POOL_LEARNERS = ["self-training", "label-spreading", "autoencoder", "vae", "vae-examples"]


def blobs(n: int, seed: int, shares: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian clusters in 24 dimensions, centres fixed, the class shares given."""
    centres = np.random.default_rng(7).normal(0, 1.0, (3, 24))
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=shares)
    return centres[y] + rng.normal(0, 0.7, (n, 24)) + 3.0, y


@pytest.mark.parametrize("name", POOL_LEARNERS)
def test_pool_learners_repeat_with_the_seed_and_round_trip(name: str) -> None:
    x, y = blobs(24, 0)
    pool, _ = blobs(150, 1)
    test, y_test = blobs(90, 2)
    context = FitContext(seed=3, unlabelled=pool)
    head = make_learner(name, "l2").fit(x, y, 3, context)
    again = make_learner(name, "l2").fit(x, y, 3, context)
    proba = head.predict_proba(test)
    assert np.array_equal(proba, again.predict_proba(test))
    assert np.mean(proba.argmax(axis=1) == y_test) > 0.8
    params, tensors = head.state()
    assert np.allclose(learner_from_state(name, params, tensors).predict_proba(test), proba)


def test_pseudo_labels_are_class_balanced_when_the_pool_is_not() -> None:
    x, y = blobs(30, 0)
    pool, _ = blobs(300, 1, shares=(0.8, 0.1, 0.1))  # the first class would swallow the pool
    head = make_learner("self-training", "l2").fit(x, y, 3, FitContext(seed=0, unlabelled=pool))
    counts = head.params()["pseudo_counts"]
    assert counts[0] == counts[1] == counts[2] > 0


def test_each_class_has_its_own_confidence_threshold() -> None:
    proba = np.array([[0.95, 0.05], [0.9, 0.1], [0.85, 0.15], [0.4, 0.6], [0.3, 0.7], [0.45, 0.55]])
    chosen, labels = balanced_confident(proba, per_class=10)
    # class 0's rows are surer than class 1's; each class keeps its rows at or above its own median confidence
    assert sorted(chosen.tolist()) == [0, 1, 3, 4] and labels.tolist().count(0) == labels.tolist().count(1) == 2


def test_no_pseudo_label_when_the_pool_never_shows_a_class() -> None:
    proba = np.array([[0.9, 0.1], [0.8, 0.2]])
    chosen, _ = balanced_confident(proba, per_class=5)
    assert len(chosen) == 0


def test_generated_rows_have_the_embeddings_shape_and_scale() -> None:
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.5, 5.0, 16)
    x = rng.normal(10.0, 1.0, (40, 16)) * scale  # an embedding far from zero, each column its own scale
    y = np.repeat([0, 1], [30, 10])  # class 1 is small
    head = GeneratedExamples(scaling="standard", minimum=32)
    labelled = head.scaler.fit(x).transform(x)
    generated, labels = head.generate(labelled, y, 2, None, seed=0)
    assert generated.shape == (24, 16)  # class 0 up to 32 (2 more), class 1 up to 32 (22 more)
    assert np.bincount(labels).tolist() == [2, 22]
    real_spread, made_spread = labelled.std(axis=0).mean(), generated.std(axis=0).mean()
    assert 0.3 < made_spread / real_spread < 2.0
    assert np.abs(generated.mean(axis=0) - labelled[y == 1].mean(axis=0)).mean() < 1.0


def test_unit_length_embeddings_give_unit_length_rows() -> None:
    x, y = blobs(20, 0)
    head = GeneratedExamples(scaling="l2", minimum=16)
    labelled = head.scaler.fit(x).transform(x)
    generated, _ = head.generate(labelled, y, 3, None, seed=1)
    assert generated.shape[1] == x.shape[1] and np.allclose(np.linalg.norm(generated, axis=1), 1.0)


def test_generated_rows_are_counted() -> None:
    x, y = blobs(20, 0)
    head = make_learner("vae-examples", "l2").fit(x, y, 3, FitContext(seed=0))
    counts = np.bincount(y, minlength=3)
    assert head.params()["generated_counts"] == (32 - counts).tolist()


@pytest.mark.parametrize("name", ["self-training", "label-spreading", "vae-examples"])
def test_no_pseudo_labelled_or_generated_row_in_a_validation_fold(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from handful import selection
    from handful.learners import _pool
    from handful.selection import folds as fold_loop

    x, y = blobs(30, 0)
    pool, _ = blobs(120, 1)
    folds = selection.make_folds(y, 3, 1, seed=0)
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)  # the rows as the l2-scaled heads see them
    current: dict[str, np.ndarray] = {}
    trained: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (fold's train rows, its test rows, matrix)
    real_fold, real_fit = fold_loop.fit_predict, _pool.fit_logistic

    def fold(job: fold_loop.FoldJob, split: tuple[np.ndarray, np.ndarray, int]) -> np.ndarray:
        current["train"], current["test"] = split[0], split[1]
        return real_fold(job, split)

    def fit(scaled: np.ndarray, labels: np.ndarray, *args: object, **kwargs: object) -> tuple[np.ndarray, np.ndarray]:
        trained.append((current["train"], current["test"], scaled))
        return real_fit(scaled, labels, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(fold_loop, "fit_predict", fold)
    for module in ("selftrain", "propagation", "synthetic"):
        monkeypatch.setattr(f"handful.learners.{module}.fit_logistic", fit)
    candidate = selection.Candidate("tiny-text", name, "l2", "test")
    result = selection.cross_validate(candidate, x, y, 3, folds, seed=0, unlabelled=pool)
    assert result.status == "ok" and len(result.balanced) == len(folds)
    made = 0
    for train, test, matrix in trained:
        assert np.allclose(matrix[: len(train)], unit[train])  # the fold's labelled training rows come first
        made += len(matrix) - len(train)  # then pseudo-labelled or generated rows
        distance = np.linalg.norm(matrix[:, None, :] - unit[test][None, :, :], axis=2)
        assert distance.min() > 1e-6  # no test row is trained on, as itself or as a pseudo-labelled copy
    assert made > 0  # pseudo-labelled or generated rows were made and used

"""Learners that use the unlabelled pool without training a network: balance of pseudo-labels, determinism,
saved state, and no pseudo-labelled row in a validation fold."""

from __future__ import annotations

import re

import numpy as np
import pytest

from handful.learners import FitContext, learner_from_state, make_learner
from handful.learners.selftrain import balanced_confident
from handful.selection import make_folds

# Learners that train an autoencoder or a VAE (200 steps at least) are tested in
# tests/integration/test_autoencoder_learners.py: about a second each, too slow for the unit suite.
POOL_LEARNERS = ["self-training", "align", "label-spreading"]


def blobs(n: int, seed: int, shares: tuple[float, ...] = (1 / 3, 1 / 3, 1 / 3)) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian clusters in 24 dimensions, centres fixed, the class shares given."""
    centres = np.random.default_rng(7).normal(0, 1.0, (3, 24))
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=shares)
    return centres[y] + rng.normal(0, 0.7, (n, 24)) + 3.0, y


@pytest.mark.parametrize("name", POOL_LEARNERS)
def test_pool_learners_repeat_with_the_seed_and_round_trip(name: str) -> None:
    assert_repeats_with_the_seed_and_round_trips(name, "l2")


def assert_repeats_with_the_seed_and_round_trips(name: str, scaling: str) -> None:
    """Learner ``name`` fit twice with one seed and a pool predicts the same, learns, and survives its saved state."""
    x, y = blobs(24, 0)
    pool, _ = blobs(150, 1)
    test, y_test = blobs(90, 2)
    context = FitContext(seed=3, unlabelled=pool)
    head = make_learner(name, scaling).fit(x, y, 3, context)
    again = make_learner(name, scaling).fit(x, y, 3, context)
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


@pytest.mark.parametrize("name", POOL_LEARNERS)
def test_no_pseudo_labelled_row_in_a_validation_fold(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert_no_made_row_in_a_validation_fold(name, monkeypatch)


def assert_no_made_row_in_a_validation_fold(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cross-validate learner ``name`` with a pool: no fold's test row is trained on, as itself or as a made row."""
    from handful import selection
    from handful.learners import _pool
    from handful.selection import folds as fold_loop

    x, y = blobs(30, 0)
    pool, _ = blobs(120, 1)
    folds = selection.make_folds(y, 3, 1, seed=0)
    def unit(rows: np.ndarray) -> np.ndarray:  # the rows as the l2-scaled heads see them
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

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
        # "align" centres labelled rows on their mean and pool rows on the pool's: a test row could hide as either
        centres = [x[train].mean(axis=0), pool.mean(axis=0)] if name == "align" else [np.zeros(x.shape[1])]
        assert np.allclose(matrix[: len(train)], unit(x[train] - centres[0]))  # the fold's training rows come first
        made += len(matrix) - len(train)  # then pseudo-labelled or generated rows
        for centre in centres:
            distance = np.linalg.norm(matrix[:, None, :] - unit(x[test] - centre)[None, :, :], axis=2)
            assert distance.min() > 1e-6  # no test row is trained on, as itself or as a pseudo-labelled copy
    assert made > 0  # pseudo-labelled or generated rows were made and used


@pytest.mark.parametrize(("learners", "said"), [
    (["vae-examples"], "vae-examples learn(s) from unlabelled inputs, and none were given: add an unlabelled/ folder"),
    (["ensemble"], "the ensemble combines other heads' results: name them too"),
])
def test_heads_that_cannot_run_alone_are_refused_not_replaced_by_the_baseline(learners: list[str], said: str) -> None:
    from handful import config
    from handful.selection import plan

    cfg = config.resolve("fast", "text", "tiny-text", learners, 5, None, None, 0, 40)
    with pytest.raises(ValueError, match=re.escape(said)):
        plan.candidates(cfg, with_pool=False)
    assert plan.candidates(config.resolve("fast", "text", "tiny-text", ["self-training", "linear"], 5, None, None,
                                          0, 40))[0].learner == "linear"  # a pool head beside a plain one: no error


def shifted_domains() -> tuple[np.ndarray, ...]:
    """Labelled blobs, and a pool and a test set from a new domain: the same blobs moved by one offset (a new
    speaker or camera)."""
    x, y = blobs(60, 0)
    centres = np.random.default_rng(7).normal(0, 1.0, (3, 24))  # blobs' centres
    offset = centres[1] - centres[0]  # the new domain's class 0 sits where the labelled class 1 did
    pool, _ = blobs(150, 1)
    test, y_test = blobs(90, 2)
    return x, y, pool + offset, test + offset, y_test


def test_align_predicts_the_pools_domain_that_a_plain_head_misses() -> None:
    x, y, pool, test, y_test = shifted_domains()
    context = FitContext(seed=0, unlabelled=pool)
    plain = make_learner("self-training", "standard").fit(x, y, 3, context)
    aligned = make_learner("align", "standard").fit(x, y, 3, context)
    assert np.mean(aligned.predict_proba(test).argmax(axis=1) == y_test) > 0.9
    assert np.mean(plain.predict_proba(test).argmax(axis=1) == y_test) < 0.8
    params, tensors = aligned.state()
    restored = learner_from_state("align", params, tensors)
    assert np.allclose(restored.predict_proba(test), aligned.predict_proba(test))  # the pool's centre was saved


def test_cross_validation_aligns_each_test_fold_to_itself() -> None:
    """With groups, a fold tests on a group its fit has not seen; "align" centres that group on its own mean, as it
    centres new inputs on the pool's, so the score is a new group's whose unlabelled rows are known."""
    from handful import selection

    x, y, pool, _, _ = shifted_domains()
    centres = np.random.default_rng(7).normal(0, 1.0, (3, 24))
    offsets = np.array([centres[1] - centres[0], centres[2] - centres[1], centres[0] - centres[2]])
    groups = np.arange(len(y)) % 3
    moved = x + offsets[groups]  # three groups, each shifted its own way
    folds = selection.make_folds(y, 3, 1, seed=0, groups=groups)
    scores = {name: selection.cross_validate(selection.Candidate("tiny-text", name, "standard", "test"), moved, y,
                                             3, folds, seed=0, unlabelled=pool, groups=groups).estimate
              for name in ("self-training", "align")}
    assert scores["align"] is not None and scores["self-training"] is not None
    assert scores["align"].mean > 0.9 > scores["self-training"].mean + 0.1


def test_a_pool_head_leading_on_another_backbone_does_not_move_the_costly_stage() -> None:
    """The costly heads go to the labelled-only leader's backbone: with a pool, the search only adds candidates.
    Here "align" on tiny-audio (groups shifted each its own way) beats everything, but tiny-text leads among the
    heads that learn from labelled examples only, so the MLP runs there."""
    from handful.selection import Candidate, Search

    x, y, pool, _, _ = shifted_domains()
    centres = np.random.default_rng(7).normal(0, 1.0, (3, 24))
    groups = np.arange(len(y)) % 3
    moved = x + np.array([centres[1] - centres[0], centres[2] - centres[1], centres[0] - centres[2]])[groups]
    noisy = x + np.random.default_rng(8).normal(0, 2.0, x.shape)
    features = {"tiny-text": noisy, "tiny-audio": moved}
    candidates = [Candidate(b, learner, "standard", "test") for learner in ("linear", "align", "mlp")
                  for b in features]
    search = Search(features.__getitem__, y, 3, make_folds(y, 3, 1, 0, groups=groups), seed=0, headroom=False,
                    unlabelled_for=lambda backbone: pool, groups=groups)
    results = {f"{r.candidate.backbone} {r.candidate.learner}": r for r in search.staged(candidates)}
    mean = {name: r.estimate.mean for name, r in results.items() if r.estimate is not None}
    assert mean["tiny-audio align"] > mean["tiny-text linear"] > mean["tiny-audio linear"]
    assert results["tiny-text mlp"].status == "ok"
    assert results["tiny-audio mlp"].status == "skipped" and "best backbone only (tiny-text)" in \
        results["tiny-audio mlp"].message
    # a pool larger than the labelled set is embedded on the leader's backbone only: align runs there, as costly
    search = Search(features.__getitem__, y, 3, make_folds(y, 3, 1, 0, groups=groups), seed=0, headroom=False,
                    unlabelled_for=lambda backbone: pool, groups=groups, pool_rows=len(y) + 1)
    results = {f"{r.candidate.backbone} {r.candidate.learner}": r for r in search.staged(candidates)}
    assert results["tiny-text align"].status == "ok" and results["tiny-audio align"].status == "skipped"

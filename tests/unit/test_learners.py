"""Heads: they learn, they round-trip through their saved state, and they are deterministic."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse

from handful.learners import LEARNERS, learner_from_state, make_learner


def blobs(n: int = 90, d: int = 16, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = rng.normal(0, 3, (k, d))
    return centres[y] + rng.normal(0, 1, (n, d)), y


@pytest.mark.parametrize("name", sorted(n for n, c in LEARNERS.items()  # finetune, ensemble: own tests
                                         if not c.tunes_backbone and not c.combines))
@pytest.mark.parametrize("scaling", ["l2", "standard"])
def test_learns_round_trips_and_repeats(name: str, scaling: str) -> None:
    x, y = blobs()
    fast = {"max_epochs": 40} if name in ("mlp", "cosine") else {}
    head = LEARNERS[name](scaling=scaling, **fast).fit(x[:60], y[:60], 3, seed=1)
    proba = head.predict_proba(x[60:])
    assert proba.shape == (30, 3) and np.allclose(proba.sum(axis=1), 1)
    assert np.mean(proba.argmax(axis=1) == y[60:]) >= 0.9
    params, tensors = head.state()
    restored = learner_from_state(name, params, tensors)
    assert np.allclose(restored.predict_proba(x[60:]), proba, atol=1e-6)
    again = LEARNERS[name](scaling=scaling, **fast).fit(x[:60], y[:60], 3, seed=1)
    assert np.array_equal(again.predict_proba(x[60:]), proba)


def test_linear_on_sparse_counts_with_tfidf() -> None:
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    counts = scipy.sparse.csr_matrix(rng.poisson(0.3, (40, 50)) + np.outer(y, np.eye(50)[0] * 3))
    head = make_learner("linear", "tfidf").fit(counts, y, 2, seed=0)
    assert np.mean(head.predict_proba(counts).argmax(axis=1) == y) == 1.0


def test_class_missing_from_training_is_never_predicted() -> None:
    x, y = blobs(k=3)
    keep = y != 2
    head = make_learner("linear", "l2").fit(x[keep], y[keep], 3, seed=0)
    assert head.predict_proba(x)[:, 2].max() < 1e-6


def test_mlp_does_not_touch_global_torch_rng() -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    x, y = blobs()
    LEARNERS["mlp"](scaling="l2", max_epochs=5).fit(x, y, 3, seed=0)
    assert torch.equal(torch.rand(3), expected)


def test_unknown_learner_lists_valid() -> None:
    with pytest.raises(ValueError, match=r"Unknown learner 'lineer'. Valid: cosine, ensemble, finetune, linear, mlp, "
                                         r"prototypes. Did you mean 'linear'\?"):
        make_learner("lineer", "l2")


def test_a_new_training_recipe_is_not_served_old_cached_scores(tmp_path, monkeypatch) -> None:
    from handful import selection
    from handful.learners.finetune import FineTune

    cache = selection.ScoreCache(tmp_path, "context")
    tuned = selection.Candidate("tiny-image:trunk", "finetune", "l2", "test")
    linear = selection.Candidate("tiny-image", "linear", "l2", "test")
    before = cache.key(tuned), cache.key(linear)
    monkeypatch.setattr(FineTune, "version", "999")
    assert cache.key(tuned) != before[0] and cache.key(linear) == before[1]

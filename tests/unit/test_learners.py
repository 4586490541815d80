"""Heads: they learn, they round-trip through their saved state, and they are deterministic."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse

from handful.learners import (
    LEARNERS,
    FitContext,
    Learner,
    as_context,
    learner_from_state,
    make_learner,
    register_learner,
)
from tests.conftest import write_images


def blobs(n: int = 90, d: int = 16, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = rng.normal(0, 3, (k, d))
    return centres[y] + rng.normal(0, 1, (n, d)), y


# Learners that train an autoencoder or a VAE (200 steps at least, about a second each) are tested in
# tests/integration/test_autoencoder_learners.py; finetune, ensemble and co-training (which reads several
# backbones' columns) have their own tests.
AUTOENCODERS = ("autoencoder", "vae", "vae-examples")


@pytest.mark.parametrize("name", sorted(n for n, c in LEARNERS.items() if not c.tunes_backbone and not c.combines
                                         and not c.multi_backbone and n not in AUTOENCODERS))
@pytest.mark.parametrize("scaling", ["l2", "standard"])
def test_learns_round_trips_and_repeats(name: str, scaling: str) -> None:
    assert_learns_round_trips_and_repeats(name, scaling)


def assert_learns_round_trips_and_repeats(name: str, scaling: str) -> None:
    """Learner ``name`` fit on three blobs: learns them, round-trips through its state, repeats with the seed."""
    x, y = blobs()
    fast = {"max_epochs": 40} if name in ("mlp", "cosine") else {}
    head = LEARNERS[name](scaling=scaling, **fast).fit(x[:60], y[:60], 3, 1)
    proba = head.predict_proba(x[60:])
    assert proba.shape == (30, 3) and np.allclose(proba.sum(axis=1), 1)
    assert np.mean(proba.argmax(axis=1) == y[60:]) >= 0.9
    params, tensors = head.state()
    restored = learner_from_state(name, params, tensors)
    assert np.allclose(restored.predict_proba(x[60:]), proba, atol=1e-6)
    again = LEARNERS[name](scaling=scaling, **fast).fit(x[:60], y[:60], 3, 1)
    assert np.array_equal(again.predict_proba(x[60:]), proba)


def test_linear_on_sparse_counts_with_tfidf() -> None:
    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    counts = scipy.sparse.csr_matrix(rng.poisson(0.3, (40, 50)) + np.outer(y, np.eye(50)[0] * 3))
    head = make_learner("linear", "tfidf").fit(counts, y, 2, 0)
    assert np.mean(head.predict_proba(counts).argmax(axis=1) == y) == 1.0


def test_class_missing_from_training_is_never_predicted() -> None:
    x, y = blobs(k=3)
    keep = y != 2
    head = make_learner("linear", "l2").fit(x[keep], y[keep], 3, 0)
    assert head.predict_proba(x)[:, 2].max() < 1e-6


def test_mlp_does_not_touch_global_torch_rng() -> None:
    import torch

    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    x, y = blobs()
    LEARNERS["mlp"](scaling="l2", max_epochs=5).fit(x, y, 3, 0)
    assert torch.equal(torch.rand(3), expected)


def test_unknown_learner_lists_valid() -> None:
    with pytest.raises(ValueError, match=r"Unknown learner 'lineer'. Valid: align, autoencoder, co-training, cosine, "
                                         r"ensemble, finetune, label-spreading, linear, mlp, prototypes, "
                                         r"self-training, vae, vae-examples. Did you mean 'linear'\?"):
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


class NearestNeighbour(Learner):
    """An example of a new learner: everything it needs is in this class, its registration and a preset's list."""

    name = "example-nearest"
    description = "the class of the most similar training example"
    cheap = True
    contexts: list[FitContext] = []

    def fit(self, features: Any, y: np.ndarray, n_classes: int, context: FitContext | int = 0) -> NearestNeighbour:
        NearestNeighbour.contexts.append(as_context(context))
        self.n_classes = n_classes
        self.rows = self.scaler.fit(features).transform(features)
        self.labels = np.asarray(y)
        return self

    def predict_proba(self, features: Any) -> np.ndarray:
        nearest = (self.scaler.transform(features) @ self.rows.T).argmax(axis=1)
        return np.eye(self.n_classes)[self.labels[nearest]]

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"scaling": self.scaling, "n_classes": self.n_classes}, {"rows": self.rows, "labels": self.labels}

    @classmethod
    def from_state(cls, params: dict[str, Any], tensors: dict[str, np.ndarray]) -> NearestNeighbour:
        head = cls(params["scaling"])
        head.n_classes, head.rows, head.labels = params["n_classes"], tensors["rows"], tensors["labels"]
        return head


@pytest.fixture
def example_learner(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[NearestNeighbour]]:
    from handful import config

    monkeypatch.setitem(config.PRESETS, "fast", {**config.PRESETS["fast"], "learners": ["example-nearest"]})
    NearestNeighbour.contexts = []
    register_learner(NearestNeighbour)
    yield NearestNeighbour
    del LEARNERS[NearestNeighbour.name]


def test_a_new_learner_needs_only_its_class_and_a_preset_entry(example_learner: type, tmp_path: Path) -> None:
    import handful

    photos = write_images(tmp_path / "photos", per_class=6)
    clf = handful.Classifier(preset="fast", backbone="tiny-image", random_state=0, verbose=0, cache_dir=False)
    clf.fit(photos)
    assert (clf.backbone_, clf.learner_) == ("tiny-image", "example-nearest")
    assert {c.backbone for c in example_learner.contexts} == {"tiny-image"}
    assert len({c.seed for c in example_learner.contexts}) > 1  # one seed per fold, then the final fit
    files = sorted(str(p) for p in photos.rglob("*.png"))
    loaded = handful.load(clf.save(tmp_path / "model"))
    np.testing.assert_array_equal(loaded.predict_proba(files), clf.predict_proba(files))


def test_a_learner_name_is_registered_once() -> None:
    class Impostor(LEARNERS["linear"]):  # type: ignore[misc,valid-type]
        pass

    with pytest.raises(ValueError, match="a learner named 'linear' is already registered"):
        register_learner(Impostor)


def test_linear_head_on_sparse_ngrams_fits_the_used_columns_with_the_same_solution() -> None:
    import scipy.sparse
    from sklearn.linear_model import LogisticRegression

    from handful.learners.linear import LinearHead

    rng = np.random.default_rng(0)
    counts = scipy.sparse.random(30, 5000, density=0.003, random_state=1, format="csr") * 3
    counts = scipy.sparse.csr_matrix(np.ceil(counts.toarray()))
    y = np.arange(30) % 3
    head = LinearHead("tfidf").fit(counts, y, 3, 0)
    scaled = head.scaler.transform(counts)
    full = LogisticRegression(C=head.C, class_weight="balanced", max_iter=3000, random_state=0).fit(scaled, y)
    np.testing.assert_allclose(head.coef, full.coef_, atol=1e-6)
    np.testing.assert_allclose(head.intercept, full.intercept_, atol=1e-6)
    new = scipy.sparse.csr_matrix(rng.integers(0, 2, size=(4, 5000)).astype(float))
    np.testing.assert_allclose(head.predict_proba(new), full.predict_proba(head.scaler.transform(new)), atol=1e-6)

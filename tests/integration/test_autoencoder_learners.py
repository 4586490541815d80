"""Learners that train an autoencoder or a VAE: they learn, repeat with the seed, round-trip, and the VAE's
generated rows have the embedding's shape and scale and never reach a validation fold.

Each trains for 200 steps at least (about a second on tiny data), so they sit here rather than in tests/unit,
which must stay under a minute of CPU (issue 11 part 6). They run with one math-library thread, as there.
"""

from __future__ import annotations

import numpy as np
import pytest

from handful.learners import FitContext, make_learner
from handful.learners.synthetic import GeneratedExamples
from tests.unit.test_learners import AUTOENCODERS, assert_learns_round_trips_and_repeats
from tests.unit.test_unlabelled_learners import (
    assert_no_made_row_in_a_validation_fold,
    assert_repeats_with_the_seed_and_round_trips,
    blobs,
)

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("name", AUTOENCODERS)
@pytest.mark.parametrize("scaling", ["l2", "standard"])
def test_learns_round_trips_and_repeats(name: str, scaling: str) -> None:
    assert_learns_round_trips_and_repeats(name, scaling)


@pytest.mark.parametrize("name", AUTOENCODERS)
def test_with_a_pool_they_repeat_with_the_seed_and_round_trip(name: str) -> None:
    assert_repeats_with_the_seed_and_round_trips(name, "l2")


def test_no_generated_row_in_a_validation_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    assert_no_made_row_in_a_validation_fold("vae-examples", monkeypatch)


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


@pytest.mark.parametrize("name", AUTOENCODERS)
def test_a_large_pool_is_learnt_once_for_every_fold(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Three folds' fits share one module learnt on the pool alone (no labelled row in it), each then trains on its
    own labelled rows with a pool sample; a fit repeats whether the shared module was cached or not."""
    from handful.learners import _pool

    x, y = blobs(30, 0)
    pool, _ = blobs(300, 1)
    test, y_test = blobs(90, 2)
    trained: list[tuple[bool, int]] = []
    real = _pool.train_autoencoder

    def spy(module: object, rows: np.ndarray, *args: object, **kwargs: object) -> None:
        trained.append((bool(kwargs.get("fresh", True)), len(rows)))
        real(module, rows, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_pool, "train_autoencoder", spy)
    monkeypatch.setattr(_pool, "_pretrained", type(_pool._pretrained)())
    folds = [np.arange(30) % 3 != k for k in range(3)]

    def fit(k: int) -> np.ndarray:
        return make_learner(name, "l2").fit(x[folds[k]], y[folds[k]], 3, FitContext(seed=k, unlabelled=pool)
                                            ).predict_proba(test)

    probas = [fit(k) for k in range(3)]
    assert [n for fresh, n in trained if fresh] == [300]  # the pool alone, once
    assert [n for fresh, n in trained if not fresh] == [20 + 128] * 3  # each fold: its rows and a pool sample
    assert np.mean([np.mean(p.argmax(axis=1) == y_test) for p in probas]) > 0.75  # chance: 1/3; a VAE varies by seed
    _pool._pretrained.clear()
    assert np.array_equal(fit(1), probas[1])  # learnt afresh, the same model

"""Racing candidates over folds: a hopeless one stops early, a close one runs every fold and scores as unraced."""

from __future__ import annotations

import numpy as np

from handful.selection import Candidate, Search, best, make_folds


def _data() -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 40)
    signal = y[:, None] * 2.0 + rng.normal(size=(80, 8))
    noise = rng.normal(size=(80, 8))
    return {"good": signal, "close": signal + rng.normal(scale=0.3, size=signal.shape), "noise": noise}, y


def test_a_hopeless_candidate_stops_and_a_close_one_runs_every_fold() -> None:
    features, y = _data()
    folds = make_folds(y, 5, 2, seed=0)
    candidates = [Candidate(name, "linear", "standard", "test") for name in ("good", "noise", "close")]
    raced = Search(features.__getitem__, y, 2, folds, 0).run(candidates)
    plain = Search(features.__getitem__, y, 2, folds, 0, race=False).run(candidates)
    good, noise, close = raced
    assert good.status == "ok" and len(good.balanced) == 10
    assert noise.status == "stopped" and len(noise.balanced) == 3 and noise.oof_proba is None
    assert "stopped after 3 of 10 folds" in noise.message
    assert close.status == "ok" and close.balanced == plain[2].balanced  # same folds, same seeds, same scores
    assert np.allclose(close.oof_proba, plain[2].oof_proba)
    assert best(raced, y).candidate.backbone == best(plain, y).candidate.backbone


def test_the_baseline_always_runs_every_fold() -> None:
    features, y = _data()
    folds = make_folds(y, 5, 2, seed=0)
    results = Search(features.__getitem__, y, 2, folds, 0).run(
        [Candidate("good", "linear", "standard", "test"), Candidate("noise", "linear", "standard", "baseline")])
    assert results[1].status == "ok" and len(results[1].balanced) == 10

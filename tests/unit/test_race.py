"""Racing candidates over folds: a hopeless one stops early, a close one runs every fold and scores as unraced;
repetitions of the folds stop once they agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from handful.selection import Candidate, ScoreCache, Search, best, make_folds


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
    # the leaderboard shows "status: message", so the message does not repeat the status
    assert f"{noise.status}: {noise.message}".startswith("stopped: after 3 of 10 folds: ")
    assert close.status == "ok" and close.balanced == plain[2].balanced  # same folds, same seeds, same scores
    assert np.allclose(close.oof_proba, plain[2].oof_proba)
    assert best(raced, y).candidate.backbone == best(plain, y).candidate.backbone


def test_the_baseline_always_runs_every_fold() -> None:
    features, y = _data()
    folds = make_folds(y, 5, 2, seed=0)
    results = Search(features.__getitem__, y, 2, folds, 0).run(
        [Candidate("good", "linear", "standard", "test"), Candidate("noise", "linear", "standard", "baseline")])
    assert results[1].status == "ok" and len(results[1].balanced) == 10


def _separable() -> tuple[dict[str, np.ndarray], np.ndarray]:
    rng = np.random.default_rng(1)
    y = np.repeat([0, 1], 20)
    return {"clear": y[:, None] * 6.0 + rng.normal(size=(40, 4)), "noise": rng.normal(size=(40, 4))}, y


def test_repetitions_stop_once_they_agree_and_every_candidate_uses_the_same_folds() -> None:
    features, y = _separable()
    folds = make_folds(y, 5, 5, seed=0)  # 5 repetitions planned
    search = Search(features.__getitem__, y, 2, folds, 0)
    first = search.run([Candidate("clear", "linear", "standard", "test"),
                        Candidate("noise", "linear", "standard", "baseline")])
    assert len(search.folds) == 10 and search.folds == folds[:10]  # two repetitions agreed
    assert [len(r.balanced) for r in first] == [10, 10]
    later = search.run([Candidate("clear", "prototypes", "standard", "test")])[0]
    assert len(later.balanced) == 10 and later.oof_proba is not None  # a later stage is paired on the same folds
    fixed = Search(features.__getitem__, y, 2, folds, 0, adaptive=False)
    assert [len(r.balanced) for r in fixed.run([Candidate("clear", "linear", "standard", "test")])] == [25]
    assert first[0].balanced == fixed.finished[0].balanced[:10]  # the same folds and seeds, the same scores


def test_repetitions_go_on_where_they_disagree() -> None:
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 8)
    features = {"weak": y[:, None] * 0.8 + rng.normal(size=(16, 4))}
    folds = make_folds(y, 4, 5, seed=0)
    search = Search(features.__getitem__, y, 2, folds, 0)
    result = search.run([Candidate("weak", "linear", "standard", "test")])[0]
    means = np.asarray(result.balanced).reshape(5, 4).mean(axis=1)
    assert len(search.folds) == 20 and means.max() - means.min() > 0.1  # the repetitions disagreed: all ran


def test_a_cached_search_replays_where_repeating_stopped(tmp_path: Path) -> None:
    named, y = _separable()
    features = {"tiny-image": named["clear"], "tiny-text": named["noise"]}  # the cache keys by registered names
    folds = make_folds(y, 5, 5, seed=0)
    candidates = [Candidate("tiny-image", "linear", "standard", "test"),
                  Candidate("tiny-text", "linear", "standard", "baseline")]
    cache = ScoreCache(tmp_path, "context")
    first = Search(features.__getitem__, y, 2, folds, 0, scores=cache).run(candidates)
    again = Search(features.__getitem__, y, 2, folds, 0, scores=cache)
    replayed = again.run(candidates)
    assert len(again.folds) == 10 and all("reused from the cache" in r.message for r in replayed)
    assert [r.balanced for r in replayed] == [r.balanced for r in first]
    fixed = Search(features.__getitem__, y, 2, folds, 0, scores=cache, adaptive=False)
    fixed.settled = True  # all 25 folds wanted: the shorter cached results are scored again, not reused
    assert [len(r.balanced) for r in fixed.run(candidates[:1])] == [25]


def test_repetitions_the_user_set_all_run_even_where_a_cached_search_stopped(tmp_path: Path) -> None:
    named, y = _separable()
    features = {"tiny-image": named["clear"], "tiny-text": named["noise"]}
    folds = make_folds(y, 5, 5, seed=0)  # the same folds (and so the same cache) as the table's plan
    candidates = [Candidate("tiny-image", "linear", "standard", "test")]
    cache = ScoreCache(tmp_path, "context")
    assert [len(r.balanced) for r in Search(features.__getitem__, y, 2, folds, 0, scores=cache).run(candidates)] \
        == [10]
    fixed = Search(features.__getitem__, y, 2, folds, 0, scores=cache, adaptive=False)
    assert [len(r.balanced) for r in fixed.run(candidates)] == [25] and len(fixed.folds) == 25

"""Calibration, conformal prediction sets and out-of-distribution flags on data built to have known properties."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy.special import softmax

from handful.evaluation.calibration import (
    Calibrator,
    ece_noise,
    expected_calibration_error,
    fit_calibration,
    group_gaps,
    log_loss,
    paired_gain,
    reliability,
)
from handful.evaluation.conformal import ConformalSets, describe
from handful.evaluation.ood import OODDetector, auroc


def _calibrated_sample(n: int, n_classes: int, seed: int, sharpen: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from the true probabilities, and those probabilities sharpened by ``sharpen`` (1 = calibrated)."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 1.5, (n, n_classes))
    truth = softmax(logits, axis=1)
    y = np.array([rng.choice(n_classes, p=row) for row in truth])
    return softmax(logits * sharpen, axis=1), y


def test_ece_known_value_and_reliability_counts() -> None:
    proba = np.array([[0.9, 0.1], [0.9, 0.1], [0.6, 0.4], [0.3, 0.7]])
    y = np.array([0, 1, 0, 1])
    # bins: 0.9 (two rows, accuracy 0.5, gap 0.4), 0.6 (gap 0.4), 0.7 (gap 0.3) -> (2*0.4 + 0.4 + 0.3) / 4
    assert expected_calibration_error(proba, y) == pytest.approx(0.375)
    table = reliability(proba, y)
    assert sum(table.count) == 4 and len(table.edges) == 16


def test_temperature_fixes_an_overconfident_model() -> None:
    proba, y = _calibrated_sample(3000, 3, seed=0, sharpen=3.0)
    fitted = fit_calibration(proba, y, seed=0)
    assert fitted.calibrator.method in ("temperature", "vector")
    assert fitted.ece_before > 0.1
    assert fitted.ece_after < 0.03
    assert fitted.log_loss_after < fitted.log_loss_before
    fresh, y_fresh = _calibrated_sample(3000, 3, seed=1, sharpen=3.0)
    assert expected_calibration_error(fitted.calibrator.transform(fresh), y_fresh) < 0.03


def test_temperature_alone_recovers_the_sharpening() -> None:
    proba, y = _calibrated_sample(4000, 3, seed=2, sharpen=2.0)
    fitted = fit_calibration(proba, y, seed=0, methods=("none", "temperature"))
    assert fitted.calibrator.method == "temperature"
    assert fitted.calibrator.temperature == pytest.approx(2.0, rel=0.15)


def test_calibrated_probabilities_are_left_alone() -> None:
    proba, y = _calibrated_sample(3000, 2, seed=3)
    fitted = fit_calibration(proba, y, seed=0)
    assert fitted.calibrator.method == "none"
    np.testing.assert_array_equal(fitted.calibrator.transform(proba), proba)


def test_a_small_calibrated_sample_is_not_spoiled_by_a_correction_it_cannot_justify() -> None:
    # 128 rows (SST-2 at 64 a class): a held-out log loss 0.2% lower by chance used to pick a temperature that made
    # fresh probabilities worse. Calibrated samples keep "none"; clearly over-confident ones are still corrected.
    kept = [fit_calibration(*_calibrated_sample(128, 2, seed=300 + s), seed=0).calibrator.method for s in range(20)]
    assert kept.count("none") == 20
    fixed = [fit_calibration(*_calibrated_sample(128, 2, seed=300 + s, sharpen=3.0), seed=0).calibrator.method
             for s in range(10)]
    assert fixed.count("none") <= 2


def test_the_gain_of_clustered_rows_counts_each_cluster_once() -> None:
    rng = np.random.default_rng(0)
    per_cluster = rng.normal(0.05, 0.1, 4)  # four speakers, each with its own gain
    before = np.ones(400)
    after = before - np.repeat(per_cluster, 100) - rng.normal(0, 0.01, 400)
    gain, rows_error = paired_gain(before, after)
    _, cluster_error = paired_gain(before, after, np.repeat(np.arange(4), 100))
    assert gain == pytest.approx(per_cluster.mean(), abs=0.002)
    assert cluster_error > 5 * rows_error  # four independent gains, not four hundred
    assert paired_gain(before, after, np.zeros(400))[1] == float("inf")  # one cluster: no error to speak of


def test_a_few_examples_all_right_cannot_drive_the_temperature_to_zero() -> None:
    # 20 examples scored twice (two repetitions), every fold model right but unsure (p 0.6-0.8): fitted to the bare
    # labels T goes to 0.04, and a final model's first mistake at p 0.3 then costs a log loss of 16.
    rng = np.random.default_rng(0)
    confident = rng.uniform(0.6, 0.8, 40)
    proba = np.column_stack([confident, 1 - confident])
    y = np.zeros(40, dtype=int)
    examples = np.tile(np.arange(20), 2)
    fitted = fit_calibration(proba, y, seed=0, groups=examples, examples=examples)
    assert fitted.calibrator.method == "temperature" and 0.1 < fitted.calibrator.temperature < 1.0
    wrong = fitted.calibrator.transform(np.array([[0.3, 0.7]]))
    assert log_loss(wrong, np.array([0])) < 8.0
    rows = fit_calibration(proba, y, seed=0, groups=examples)  # rows as examples: the pseudo-example weighs half
    assert rows.calibrator.temperature < fitted.calibrator.temperature


@pytest.mark.parametrize("methods", [("temperature",), ("vector",)])
def test_calibrator_state_round_trip(methods: tuple[str, ...]) -> None:
    proba, y = _calibrated_sample(600, 3, seed=4, sharpen=2.5)
    calibrator = fit_calibration(proba, y, seed=0, methods=methods).calibrator
    params, tensors = calibrator.state()
    again = Calibrator.from_state(params, tensors)
    np.testing.assert_allclose(again.transform(proba), calibrator.transform(proba), rtol=0, atol=1e-12)


def test_too_few_rows_leave_probabilities_uncalibrated() -> None:
    fitted = fit_calibration(np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), np.array([0, 1, 1]))
    assert fitted.calibrator.method == "none"


def test_a_class_with_fewer_examples_than_nested_folds_is_calibrated_without_a_warning() -> None:
    # Two repetitions of 41 examples, one class of 2: scikit-learn counted its 4 rows against 5 grouped folds and
    # warned on the user's terminal, though the rows of one example always stay together.
    proba, y = _calibrated_sample(41, 3, seed=4)
    y[:39] = np.minimum(y[:39], 1)
    y[39:] = 2
    rows = np.concatenate([np.arange(41), np.arange(41)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted = fit_calibration(proba[rows], y[rows], groups=rows, examples=rows)
    assert fitted.calibrated_oof.shape == (82, 3)


def test_log_loss_of_a_uniform_guess() -> None:
    assert log_loss(np.full((4, 2), 0.5), np.array([0, 1, 0, 1])) == pytest.approx(np.log(2))


def test_conformal_sets_cover_new_examples_at_the_level() -> None:
    proba, y = _calibrated_sample(2000, 4, seed=5)
    sets = ConformalSets.fit(proba, y, level=0.9)
    fresh, y_fresh = _calibrated_sample(4000, 4, seed=6)
    result = sets.coverage(fresh, y_fresh)
    assert 0.88 <= result["coverage"] <= 0.93
    assert 1.0 < result["mean_size"] < 4.0
    assert sets.coverage(fresh, y_fresh, level=0.95)["coverage"] >= 0.94


def _imbalanced(n0: int, n1: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """An easy majority class (its probability 0.7-1) and a hard rare one (its probability 0.2-0.9)."""
    rng = np.random.default_rng(seed)
    p_true = np.concatenate([rng.uniform(0.7, 1.0, n0), rng.uniform(0.2, 0.9, n1)])
    y = np.array([0] * n0 + [1] * n1)
    p1 = np.where(y == 1, p_true, 1 - p_true)
    return np.column_stack([1 - p1, p1]), y


def test_class_conditional_sets_cover_the_rare_class() -> None:
    proba, y = _imbalanced(900, 100, seed=7)
    fresh, y_fresh = _imbalanced(900, 1000, seed=8)
    mondrian = ConformalSets.fit(proba, y, level=0.9)
    shared = ConformalSets.fit(proba, y, level=0.9, class_conditional=False)
    assert mondrian.class_conditional and len(mondrian.thresholds()) == 2
    rare = y_fresh == 1
    assert mondrian.predict(fresh[rare])[:, 1].mean() >= 0.87
    assert shared.predict(fresh[rare])[:, 1].mean() < 0.7  # one threshold lets the rare class fall short


def test_too_few_examples_of_a_class_put_it_in_every_set() -> None:
    proba = np.array([[0.9, 0.1]] * 30 + [[0.4, 0.6]] * 3)
    y = np.array([0] * 30 + [1] * 3)
    sets = ConformalSets.fit(proba, y, level=0.9)
    assert np.isinf(sets.thresholds()[1])  # 3 examples cannot promise 90%: the class is always included
    assert sets.predict(np.array([[0.99, 0.01]])).tolist() == [[True, True]]


def test_conformal_state_round_trip_and_level_message() -> None:
    proba, y = _calibrated_sample(500, 3, seed=9)
    sets = ConformalSets.fit(proba, y, level=0.8, class_conditional=True)
    params, tensors = sets.state()
    again = ConformalSets.from_state(params, tensors)
    np.testing.assert_array_equal(again.predict(proba), sets.predict(proba))
    np.testing.assert_array_equal(again.predict(proba, 0.95), sets.predict(proba, 0.95))
    with pytest.raises(ValueError, match=r"coverage must be a fraction between 0 and 1 \(e.g. 0.9 for 90%\), got 90"):
        sets.predict(proba, 90)


def test_describe_a_set_in_words() -> None:
    assert describe(["ants"]) == "ants"
    assert describe(["ants", "bees"]) == "ants or bees"
    assert describe(["a", "b", "c"]) == "a, b or c"


def _folds(n: int, k: int) -> list[tuple[np.ndarray, np.ndarray]]:
    index = np.arange(n)
    return [(index[index % k != f], index[index % k == f]) for f in range(k)]


def test_ood_flags_another_domain_and_few_of_its_own() -> None:
    rng = np.random.default_rng(10)
    centre = rng.normal(0, 1, 32)
    train = centre + rng.normal(0, 0.6, (300, 32))
    detector = OODDetector.fit(train, _folds(300, 5), false_alarm=0.05)
    own = centre + rng.normal(0, 0.6, (500, 32))
    other = rng.normal(0, 1, 32) + rng.normal(0, 0.6, (200, 32))
    assert detector.flag(own).mean() <= 0.1
    assert detector.flag(other).mean() >= 0.9
    assert auroc(detector.score(own), detector.score(other)) >= 0.99


def test_sparse_features_keep_a_sparse_reference_that_round_trips_and_refuses_damage() -> None:
    import scipy.sparse

    def ngrams(rows: int, seed: int) -> scipy.sparse.csr_matrix:  # 50 of 2**18 hashed n-gram columns a row
        rng = np.random.default_rng(seed)
        return scipy.sparse.csr_matrix((np.ones(rows * 50, np.float32), (np.repeat(np.arange(rows), 50),
                                                                          rng.integers(0, 2**18, rows * 50))),
                                       shape=(rows, 2**18))

    # Hashed word n-grams: 2**18 columns, a few dozen used a row. Made dense, 300 rows would take 300 MB.
    train = ngrams(300, 3)
    detector = OODDetector.fit(train, _folds(300, 5))
    assert scipy.sparse.issparse(detector.reference) and detector.reference.nnz <= train.nnz
    params, tensors = detector.state()
    assert sum(t.nbytes for t in tensors.values()) < 200_000
    loaded = OODDetector.from_state(params, tensors)
    queries = scipy.sparse.vstack([train[:5], ngrams(5, 4)], format="csr")
    np.testing.assert_allclose(loaded.score(queries), detector.score(queries), atol=1e-6)
    assert loaded.learned(queries).tolist() == [True] * 5 + [False] * 5  # the training rows again
    broken = dict(tensors)
    broken["ood.reference.indices"] = np.where(tensors["ood.reference.indices"] == tensors[
        "ood.reference.indices"].max(), 2**18 + 7, tensors["ood.reference.indices"])  # a column past the width
    with pytest.raises(ValueError, match="reference embeddings are damaged"):
        OODDetector.from_state(params, broken)


def test_ood_state_round_trip_and_bad_rate() -> None:
    rng = np.random.default_rng(11)
    train = rng.normal(0, 1, (40, 6))
    detector = OODDetector.fit(train, _folds(40, 4))
    params, tensors = detector.state()
    again = OODDetector.from_state(params, tensors)
    probe = rng.normal(0, 1, (10, 6))
    np.testing.assert_array_equal(again.score(probe), detector.score(probe))
    assert again.threshold == detector.threshold
    with pytest.raises(ValueError, match="false_alarm must be a fraction between 0 and 1"):
        OODDetector.fit(train, _folds(40, 4), false_alarm=5)


def test_the_ece_of_a_perfect_model_is_noise_and_a_miscalibrated_one_stands_out() -> None:
    """Labels drawn from the stated probabilities: the ECE is not 0 but inside the noise range, in most draws;
    the same confidences with a tenth of them made wrong stand far above it."""
    rng = np.random.default_rng(3)
    inside = 0
    for _ in range(20):
        top = rng.uniform(0.5, 1.0, 150)
        proba = np.column_stack([top, 1 - top])
        y = np.where(rng.random(150) < top, 0, 1)
        mean, high = ece_noise(proba, seed=1)
        assert 0.02 < mean < high < 0.15
        inside += expected_calibration_error(proba, y) <= high
    assert inside >= 16  # the 95th percentile: about 19 of 20
    top = rng.uniform(0.9, 1.0, 150)
    overconfident = np.column_stack([top, 1 - top])
    y = np.where(rng.random(150) < top - 0.25, 0, 1)
    assert expected_calibration_error(overconfident, y) > 2 * ece_noise(overconfident)[1]


def test_sets_of_a_confident_model_cover_at_the_level_not_at_its_accuracy() -> None:
    """A model right 97% of the time: its 90% sets leave out even the top label where it is least sure, so they
    cover about 90%, not 97% (the level means what it says)."""
    rng = np.random.default_rng(11)

    def sample(n: int) -> tuple[np.ndarray, np.ndarray]:
        p_top = rng.uniform(0.75, 1.0, n)
        right = rng.random(n) < 0.97
        y = rng.integers(0, 2, n)
        top = np.where(right, y, 1 - y)
        proba = np.zeros((n, 2))
        proba[np.arange(n), top], proba[np.arange(n), 1 - top] = p_top, 1 - p_top
        return proba, y

    proba, y = sample(2000)
    sets = ConformalSets.fit(proba, y, level=0.9)
    fresh, y_fresh = sample(4000)
    inside = sets.predict(fresh)
    assert 0.87 <= sets.coverage(fresh, y_fresh)["coverage"] <= 0.93
    empty = ~inside.any(axis=1)
    assert 0.03 < empty.mean() < 0.2  # where it is least sure, no label reaches 90%
    assert fresh[empty].max(axis=1).max() < fresh[~empty].max(axis=1).min() + 1e-9  # ... and only there


def test_an_empty_set_is_said_in_words_and_the_top_label_is_still_given() -> None:
    from types import SimpleNamespace

    from handful.evaluation.answers import NO_LABEL, answers

    y = np.arange(300) % 3
    proba = np.full((300, 3), 0.05)
    proba[np.arange(300), y] = 0.9  # out of fold the model gave the true class 0.9 every time
    trust = SimpleNamespace(sets=ConformalSets.fit(proba, y, level=0.9), ood=None)
    unsure = np.array([[0.6, 0.3, 0.1], [0.98, 0.01, 0.01]])
    first, second = answers(["a", "b", "c"], trust, ["x", "y"], unsure, None)
    assert first["set"] == [] and first["set_text"] == NO_LABEL and first["label"] == "a"
    assert second["set"] == ["a"] and second["set_text"] == "a"


def _groups_at(accuracies: list[float], n: int = 300,
               confidence: float = 0.8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Groups of ``n`` rows that all say ``confidence``, each right exactly as often as its accuracy."""
    right = np.concatenate([np.arange(n) < round(a * n) for a in accuracies])
    proba = np.column_stack([np.full(len(right), confidence), np.full(len(right), 1 - confidence)])
    return proba, np.where(right, 0, 1), np.repeat(np.arange(len(accuracies)), n)


def test_groups_calibrated_alike_are_not_said_to_differ() -> None:
    proba, y, groups = _groups_at([0.8, 0.8, 0.8])
    found = group_gaps(proba, y, groups)
    assert found is not None and not found["beyond_chance"] and found["rms_gap"] == 0
    assert found["most_over"] is None and found["most_under"] is None


def test_groups_each_off_their_own_way_are_named_with_the_spread_beyond_chance() -> None:
    """One speaker too shy (right 0.95 at 0.8), one too sure (0.65): the pooled ECE is 0, the spread is not."""
    proba, y, groups = _groups_at([0.95, 0.8, 0.65])
    assert expected_calibration_error(proba, y) < 1e-9
    found = group_gaps(proba, y, groups, names=["ann", "bob", "cy"])
    assert found is not None and found["beyond_chance"] and found["groups"] == 3
    assert found["most_over"] == {"group": "cy", "gap": 0.15} and found["most_under"] == {"group": "ann", "gap": -0.15}
    variance = 0.8 * 0.2 / 300  # what chance gives a perfect model's gap on 300 examples
    assert found["rms_gap"] == pytest.approx(np.sqrt((2 * 0.15 ** 2) / 3 - variance), abs=1e-4)


def test_rows_that_repeat_an_example_count_it_once() -> None:
    """With repeated folds each example has a row per repetition: three copies are not three times the evidence."""
    proba, y, groups = _groups_at([0.86, 0.8, 0.74], n=60)
    once = group_gaps(proba, y, groups)
    examples = np.arange(len(y))
    thrice = group_gaps(np.tile(proba, (3, 1)), np.tile(y, 3), np.tile(groups, 3), np.tile(examples, 3))
    naive = group_gaps(np.tile(proba, (3, 1)), np.tile(y, 3), np.tile(groups, 3))
    assert once is not None and thrice is not None and naive is not None
    assert thrice["p_value"] == pytest.approx(once["p_value"]) and naive["p_value"] < once["p_value"]


def test_one_group_has_no_spread_to_tell() -> None:
    proba, y, groups = _groups_at([0.8])
    assert group_gaps(proba, y, groups) is None

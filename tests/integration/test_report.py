"""Learning curve, diagnosis and the HTML report: synthetic curves, a synthetic overfit, a tiny model's report."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import handful
from handful.cli import app
from handful.evaluation import LearningCurve, diagnose, learning_curve, misclassified, power_law
from handful.evaluation.curve import curve_learner, fit_curve, fit_power_law
from handful.selection import learner_fold_probabilities
from tests.conftest import write_images

SIZES = np.array([20.0, 35.0, 50.0, 70.0, 100.0])


def test_power_law_fit_recovers_known_curve() -> None:
    x = SIZES / SIZES[-1]
    a, b, c = fit_power_law(x, power_law(x, 0.92, 0.15, 0.7))
    assert (a, b, c) == pytest.approx((0.92, 0.15, 0.7), abs=1e-4)


def test_forecast_interval_covers_the_truth_on_noisy_folds() -> None:
    rng = np.random.default_rng(1)
    truth = power_law(SIZES / 100, 0.9, 0.2, 0.6)
    scores = np.clip(truth[:, None] + rng.normal(0, 0.03, (len(SIZES), 15)), 0, 1)
    curve = fit_curve(scores, SIZES, 0.2, np.random.default_rng(0), n_boot=100)
    assert curve.params["a"] == pytest.approx(0.9, abs=0.1)
    for forecast in curve.forecasts:
        expected = float(power_law(np.array(forecast.factor), 0.9, 0.2, 0.6))
        assert forecast.low <= expected <= forecast.high
        assert forecast.low < forecast.value < forecast.high
    assert curve.forecasts[1].high - curve.forecasts[1].low > curve.forecasts[0].high - curve.forecasts[0].low


def test_learning_curve_measures_on_held_out_folds_and_ranks_classes() -> None:
    from sklearn.model_selection import StratifiedKFold

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], 30)
    centres = rng.normal(0, 1, (3, 8))
    centres[2] = centres[1] + 0.15  # class 2 sits close to class 1: hard, and gains most from data
    features = centres[y] + rng.normal(0, 0.6, (len(y), 8))
    folds = list(StratifiedKFold(5, shuffle=True, random_state=0).split(features, y))
    curve = learning_curve(features, y, ["a", "b", "c"], folds, "prototypes", "standard", 0, n_boot=50,
                           fold_loop=learner_fold_probabilities)
    assert curve.skipped is None and curve.learner == "prototypes" and curve.proxy_for is None
    assert curve.n_train[-1] == pytest.approx(72) and curve.n_train[0] < curve.n_train[-1]
    assert len(curve.scores) == 5 and all(len(row) == 5 for row in curve.scores)
    assert set(curve.class_recall) == {"a", "b", "c"} and curve.class_recall["a"][-1] > 0.9
    assert "with 2x the data" in curve.verdict
    assert LearningCurve.from_dict(json.loads(json.dumps(curve.as_dict()))) == curve


def test_costly_heads_use_the_linear_proxy_and_tiny_data_is_skipped() -> None:
    assert curve_learner("mlp") == ("linear", "mlp") and curve_learner("prototypes") == ("prototypes", None)
    curve = learning_curve(np.zeros((10, 2)), np.repeat([0, 1], 5), ["a", "b"], [], "linear", "l2", 0,
                           fold_loop=learner_fold_probabilities)
    assert curve.skipped is not None and "the smallest class has 5 examples" in curve.skipped
    few = learning_curve(np.zeros((26, 2)), np.repeat([0, 1], 13), ["a", "b"], [], "linear", "l2", 0,
                         fold_loop=learner_fold_probabilities)
    assert few.skipped == ("with 26 examples the smaller training sets of a learning curve would be too small to "
                           "read; a curve needs at least 30")  # 13 a class is enough: the total is what is short


def test_diagnosis_flags_overfitting_with_advice() -> None:
    rising = LearningCurve(params={"a": 0.95, "b": 0.25, "c": 0.5, "n_now": 100.0},
                           forecasts=[handful.evaluation.Forecast(2.0, 200.0, 0.82, 0.75, 0.88)],
                           class_gain={"cats": 0.08, "dogs": 0.01})
    found = diagnose(1.0, 0.70, ["cats", "dogs"], "image", "mlp", baseline_score=0.55, curve=rising,
                     confusion=[[30, 20], [2, 48]])
    assert found.verdict == "overfitting"
    text = " ".join(found.advice)
    assert "augment the images" in text and "dropout" in text and "'cats'" in text
    assert found.evidence["gap"] == pytest.approx(0.3)


def test_the_class_to_collect_comes_first_with_its_count_when_it_is_much_smaller() -> None:
    found = diagnose(1.0, 0.70, ["ants", "bees"], "image", "prototypes", confusion=[[100, 0], [3, 2]])
    assert found.verdict == "overfitting"
    assert found.advice[0] == ("'bees' is recognised only 40% of the time, most often mistaken for 'ants' (3 of 5): "
                               "add examples of 'bees' (it has 5, 'ants' 100) and check its labels.")
    assert found.advice[1] == "Collect more labelled examples: the surest cure."
    even = diagnose(1.0, 0.70, ["ants", "bees"], "image", "prototypes", confusion=[[50, 0], [30, 20]]).advice[0]
    assert even.startswith("'bees' is recognised only 40%") and "(it has" not in even


@pytest.mark.parametrize(("misses", "said"), [
    ([2, 2, 0, 0, 1], "mistaken for '0' and '1' (2 each of 20)"),
    ([1, 1, 1, 1, 1], "its 5 misses of 20 spread over 5 classes"),
    ([3, 1, 0, 0, 1], "most often mistaken for '0' (3 of 20)")])
def test_a_class_whose_misses_tie_is_not_said_to_be_mistaken_most_often_for_one(misses: list[int], said: str) -> None:
    confusion = np.diag([20, 20, 20, 20, 20, 0]).astype(int)
    confusion[5, :5] = misses
    confusion[5, 5] = 20 - sum(misses)
    found = diagnose(1.0, 0.90, list("012345"), "image", "linear", confusion=confusion.tolist())
    assert f"'5' is recognised only {(20 - sum(misses)) / 20:.0%} of the time, {said}: add examples" in found.advice[0]


def test_overfitting_advice_knows_what_the_search_already_tried() -> None:
    record = {"strength": "light", "views": 4, "transforms": ["synonym"], "used": False, "tried": True, "gains": []}
    tried = " ".join(diagnose(0.92, 0.41, list("abcde"), "text", "prototypes", augmentation=record).advice)
    assert "4 augmented views of each example (light) were tried and did not score better" in tried
    assert "`--augment strong` may" in tried and "paraphrases" not in tried
    assert "Prefer a simpler head (prototypes)" not in tried and "already the simplest" in tried
    used = " ".join(diagnose(0.92, 0.41, list("abcde"), "text", "linear",
                             augmentation={**record, "used": True, "strength": "strong"}).advice)
    assert "already learns from 4 augmented views of each example (strong)" in used
    assert "Prefer a simpler head (prototypes)" in used
    skipped = " ".join(diagnose(0.92, 0.41, list("abcde"), "text", "linear", augmentation={**record, "tried": False})
                       .advice)
    assert "augment the texts (paraphrases" in skipped


def test_a_simpler_head_the_search_found_worse_is_not_advised() -> None:
    stopped = [{"learner": "prototypes", "status": "stopped", "balanced_accuracy": None, "augment": ""}]
    told = " ".join(diagnose(0.98, 0.88, list("ab"), "image", "linear", leaderboard=stopped).advice)
    assert "The simpler prototypes head was tried and scored lower: a simpler head is not the cure" in told
    assert "Prefer a simpler head" not in told and "`--augment light` tries it" in told  # fast: not offered
    lower = [{"learner": "linear", "status": "ok", "balanced_accuracy": {"mean": 0.81}, "augment": ""}]
    assert "tried and scored lower (0.81 at best)" in " ".join(
        diagnose(1.0, 0.85, list("ab"), "text", "mlp", leaderboard=lower).advice)
    better = [{"learner": "prototypes", "status": "ok", "balanced_accuracy": {"mean": 0.90}, "augment": ""}]
    assert "Prefer a simpler head (prototypes)" in " ".join(
        diagnose(0.98, 0.88, list("ab"), "image", "linear", leaderboard=better).advice)


def test_a_chosen_baseline_is_not_told_that_the_baseline_scores_as_well() -> None:
    told = diagnose(1.0, 0.965, ["0", "1"], "audio", "linear", baseline_score=0.965, baseline_chosen=True).advice
    assert any(a.startswith("The chosen model is the simple baseline") for a in told)
    assert not any("The simple baseline scores as well" in a for a in told)
    other = diagnose(1.0, 0.965, ["0", "1"], "audio", "linear", baseline_score=0.965).advice
    assert any("The simple baseline scores as well" in a for a in other)


def test_the_headline_percentages_match_the_scores_shown_beside_them() -> None:
    found = diagnose(0.925, 0.41, list("abcde"), "text", "linear")  # 0.925 shows as 0.93, so 93%, not 92%
    assert "right on 93% of the examples it learned from" in found.headline
    assert f"{found.evidence['training_score']:.2f}" == "0.93"


def test_diagnosis_underfitting_and_fine() -> None:
    assert diagnose(0.75, 0.72, ["a", "b"], "text", "linear").verdict == "underfitting"
    assert "larger backbone" in " ".join(diagnose(0.75, 0.72, ["a", "b"], "text", "linear").advice)
    assert diagnose(0.52, 0.51, ["a", "b"], "audio", "linear").headline.startswith("The model barely beats")
    assert diagnose(0.97, 0.93, ["a", "b"], "image", "linear").verdict == "fine"


def test_misclassified_most_confident_first() -> None:
    proba = np.array([[0.6, 0.4], [0.1, 0.9], [0.95, 0.05], [0.3, 0.7]])
    rows = misclassified(proba, np.array([1, 1, 1, 0]), ["a", "b"], ["w", "x", "y", "z"])
    assert [r["source"] for r in rows] == ["y", "z", "w"]
    assert rows[0] == {"source": "y", "given": "b", "predicted": "a", "confidence": 0.95}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[handful.Classifier, Path]:
    folder = write_images(tmp_path_factory.mktemp("imgs") / "photos", per_class=20)
    clf = handful.Classifier(preset="fast", backbone="tiny-image", random_state=0, verbose=0, cache_dir=False)
    return clf.fit(folder), tmp_path_factory.mktemp("out")


def test_fit_computes_curve_and_diagnosis(model: tuple[handful.Classifier, Path]) -> None:
    clf, _ = model
    assert clf.learning_curve_ is not None and clf.learning_curve_.skipped is None
    assert clf.learning_curve_.fractions[-1] == 1.0 and len(clf.learning_curve_.forecasts) == 2
    assert clf.diagnosis_ is not None and clf.diagnosis_.verdict in {"overfitting", "underfitting", "fine"}
    assert clf.oof_metrics_ is not None and len(clf.oof_metrics_["confusion"]) == 2


def test_report_is_self_contained_with_sections_and_plots(model: tuple[handful.Classifier, Path]) -> None:
    clf, out = model
    page = clf.report_.save(out / "report.html").read_text(encoding="utf-8")
    for section in ("summary", "diagnosis", "leaderboard", "confusion", "per-class", "learning-curve"):
        assert f'id="{section}"' in page
    assert len(re.findall(r'src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', page)) >= 4
    assert not re.search(r"https?://", page)
    assert "colour-thumbnail" in page  # the baseline beside the winner


def test_manifest_round_trip_and_cli_report(model: tuple[handful.Classifier, Path]) -> None:
    clf, out = model
    path = clf.save(out / "model")
    manifest = json.loads((path / "manifest.json").read_text())
    assert {"learning_curve", "diagnosis", "out_of_fold"} <= set(manifest)
    loaded = handful.load(path)
    assert loaded.learning_curve_ == clf.learning_curve_ and loaded.diagnosis_ == clf.diagnosis_
    assert loaded.misclassified_ == json.loads(json.dumps(clf.misclassified_))
    result = CliRunner().invoke(app, ["report", str(path), "-o", str(out / "cli.html"), "--quiet"])
    assert result.exit_code == 0, result.output
    page = (out / "cli.html").read_text(encoding="utf-8")
    assert 'id="learning-curve"' in page and 'id="diagnosis"' in page
    assert loaded.diagnosis_ is not None and html.escape(loaded.diagnosis_.headline) in page


def test_tiny_data_skips_the_curve_and_says_why(tmp_path: Path) -> None:
    clf = handful.Classifier(preset="fast", backbone="tiny-image", learners="prototypes", random_state=0, verbose=0,
                             cache_dir=False).fit(write_images(tmp_path / "few", per_class=6))
    assert clf.learning_curve_ is not None and clf.learning_curve_.skipped
    page = clf.report_.html()
    assert "No learning curve: with 12 examples" in page

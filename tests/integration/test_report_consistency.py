"""A report that agrees with itself: one source per figure, each saying what it measures, and advice only where the
numbers support it (issue 13, part 5)."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import handful
from handful.artifacts.safety import is_model_folder
from handful.cli import app
from handful.evaluation import diagnose
from handful.evaluation.curve import fit_curve, power_law, verdict
from tests.conftest import write_images

SIZES = np.array([8.0, 14.0, 20.0, 28.0, 40.0])


def test_a_wide_range_is_never_called_flattened() -> None:
    rng = np.random.default_rng(0)
    level = np.full(len(SIZES), 0.9)
    noisy = np.clip(level[:, None] + rng.normal(0, 0.12, (len(SIZES), 5)), 0, 1)  # 40 examples, wide interval
    wide = fit_curve(noisy, SIZES, 0.2, np.random.default_rng(0), n_boot=100)
    assert wide.forecasts[0].high - wide.forecasts[0].low > 0.10
    assert "has flattened:" not in verdict(wide) and "too wide to tell" in verdict(wide)
    flat = fit_curve(np.tile(power_law(SIZES / 40, 0.9, 0.001, 0.5)[:, None], (1, 5)), SIZES, 0.2,
                     np.random.default_rng(0), n_boot=100)
    assert "The curve has flattened" in verdict(flat) and "Now:" not in verdict(flat)


@pytest.mark.parametrize(("train", "cv", "expected"), [(0.98, 0.88, "overfitting"), (1.00, 0.86, "overfitting"),
                                                       (0.97, 0.93, "fine"), (1.00, 0.91, "fine")])
def test_one_rule_for_overfitting(train: float, cv: float, expected: str) -> None:
    found = diagnose(train, cv, ["ants", "bees"], "image", "linear")
    assert found.verdict == expected and "0.10 or more above" in found.evidence["rule"]


def test_collect_more_only_for_the_worst_class_with_room() -> None:
    found = diagnose(1.0, 0.93, ["ants", "bees"], "image", "linear", confusion=[[16, 4], [0, 20]])
    text = " ".join(found.advice)
    assert "add examples of 'ants'" in text and "'bees'" not in text.replace("for 'bees'", "")
    recalled = diagnose(1.0, 0.97, ["ants", "bees"], "image", "linear", confusion=[[19, 1], [0, 20]])
    assert not any("add examples" in a for a in recalled.advice)  # 0.95 recall: no room worth a collection drive


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> tuple[handful.Classifier, Path, Path]:
    folder = write_images(tmp_path_factory.mktemp("imgs") / "photos", per_class=20)
    clf = handful.Classifier(preset="fast", backbone="tiny-image", random_state=0, verbose=0, cache_dir=False)
    return clf.fit(folder), folder, tmp_path_factory.mktemp("out")


def _cells(page: str, header: str) -> list[list[str]]:
    """The rows of the first table whose header row contains ``header``, as lists of cell texts."""
    table = next(t for t in re.findall(r"<table>(.*?)</table>", page, re.S) if header in t)
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table) if "<td>" in row]


def test_figures_on_the_page_come_from_one_source(model: tuple[handful.Classifier, Path, Path]) -> None:
    clf, _, _ = model
    page = clf.report_.html()
    assert "Chosen model: cross-validated balanced accuracy" in page and f"<b>{clf.cv_score_.mean:.3f}</b>" in page
    matrix = np.asarray(clf.oof_metrics_["confusion"], dtype=float)
    pooled = float(np.mean(np.diag(matrix) / matrix.sum(axis=1)))
    assert re.search(r'id="oof-balanced-accuracy">([0-9.]+)<', page).group(1) == f"{pooled:.3f}"
    per_class = {row[0]: row[2] for row in _cells(page, "recall (share found)")}
    in_curve = {row[0]: row[1] for row in _cells(page, "recall now")}
    assert per_class == in_curve == {name: f"{s['recall']:.2f}" for name, s in clf.oof_metrics_["per_class"].items()}
    assert "Now:" not in page
    assert "The rule: overfitting when the score on the examples learned from is 0.10 or more above" in page


def test_baseline_below_chance_and_a_chosen_model_below_the_baseline_are_explained(
        model: tuple[handful.Classifier, Path, Path]) -> None:
    clf = copy.copy(model[0])
    clf.baseline_ = {**clf.baseline_, "balanced_accuracy": {"mean": 0.42, "low": 0.3, "high": 0.55}}
    assert "scores below chance (0.420 against 0.500" in clf.report_.html()
    board = copy.deepcopy(clf.leaderboard_)
    for row in board:  # the baseline a little ahead of every model: the page says why a model is still chosen
        if row["status"] == "ok" and row["balanced_accuracy"]:
            mean = 0.81 if row["kind"] == "baseline" else 0.8
            row["balanced_accuracy"].update(mean=mean, low=mean - 0.1, high=mean + 0.1)
    clf.leaderboard_ = board
    page = " ".join(clf.report_.html().split())
    assert (f"The baseline ({clf.baseline_['backbone']} + linear) scores 0.810 and the chosen {clf.backbone_} + "
            f"{clf.learner_} 0.800: the baseline is the reference to beat, kept only when it leads the best model by "
            "more than one standard error") in page


def test_evaluate_results_are_kept_with_the_model_and_shown(model: tuple[handful.Classifier, Path, Path]) -> None:
    clf, _, out = model
    path = clf.save(out / "model")
    runner = CliRunner()
    folder = write_images(out / "held", per_class=20, seed=11)  # photos it has not seen
    result = runner.invoke(app, ["evaluate", str(path), str(folder)])
    assert result.exit_code == 0, result.output
    assert "Kept with the model" in result.output
    saved = json.loads((path / "evaluations.json").read_text())
    assert len(saved) == 1 and saved[0]["n"] == 40 and saved[0]["data"] == str(folder.resolve())
    assert is_model_folder(path)  # still a folder handful wrote: it may be saved over again
    loaded = handful.load(path)
    assert loaded.evaluations_[0]["accuracy"] == saved[0]["accuracy"]
    page = loaded.report_.html()
    assert 'id="evaluations"' in page and f"{saved[0]['accuracy']:.3f}" in page
    trust = saved[0]["trust"]  # photos like its training ones: few unlike what it learned
    assert trust["unlike_share"] <= 0.15
    assert f"<td>{trust['unlike_share']:.0%} ({trust['unlike_expected']:.0%})</td>" in page
    clf.save(path)  # saving over it is allowed, and starts a new list: the scores belonged to the old model
    assert handful.load(path).evaluations_ == []

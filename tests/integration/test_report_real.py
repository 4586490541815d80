"""The report of a real model agrees with itself (issue 13, part 5): EfficientNet-Lite0 on 16 ants and 16 bees with
a held-out val/ of 8 + 8, evaluated once more through the CLI; every figure on the page is checked against its one
source and against the others."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import handful
from handful.cli import app
from tests.conftest import shared

pytestmark = pytest.mark.slow


def _subset(root: Path, target: Path, per_class: int) -> Path:
    """Links to the first photos of each class (the shared data is read in place, never copied)."""
    for label in ("ants", "bees"):
        (target / label).mkdir(parents=True)
        for photo in sorted((root / label).glob("*.jpg"))[:per_class]:
            (target / label / photo.name).symlink_to(photo)
    return target


def _cells(page: str, header: str) -> list[list[str]]:
    table = next(t for t in re.findall(r"<table>(.*?)</table>", page, re.S) if header in t)
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", table) if "<td>" in row]


def test_real_report_figures_agree(tmp_path: Path) -> None:
    photos = shared("images", "ants_bees")
    data = tmp_path / "photos"
    _subset(photos / "train", data / "train", 16)
    _subset(photos / "val", data / "val", 8)
    clf = handful.Classifier(preset="fast", random_state=0, verbose=0).fit(data)
    assert clf.backbone_ == "efficientnet-lite0" and clf.holdout_ is not None
    model = clf.save(tmp_path / "model")
    result = CliRunner().invoke(app, ["evaluate", str(model), str(data / "val"), "-q"])
    assert result.exit_code == 0, result.output
    loaded = handful.load(model)
    page = loaded.report_.html()

    # The summary's number is the cross-validated estimate, named as such.
    cv = loaded.cv_score_
    assert re.search(r"Chosen model: cross-validated balanced accuracy<b>([0-9.]+)</b>", page).group(1) == \
        f"{cv.mean:.3f}"
    # The pooled out-of-fold figure is what its confusion matrix says.
    oof = loaded.oof_metrics_
    matrix = np.asarray(oof["confusion"], dtype=float)
    assert re.search(r'id="oof-balanced-accuracy">([0-9.]+)<', page).group(1) == \
        f"{np.mean(np.diag(matrix) / matrix.sum(axis=1)):.3f}"
    # One recall per class for cross-validation: the per-class table and the learning-curve table agree.
    cross_validated = {row[0]: row[2] for row in _cells(page, "recall (share found)")}
    in_curve = {row[0]: row[1] for row in _cells(page, "recall now")}
    assert cross_validated == in_curve == {k: f"{v['recall']:.2f}" for k, v in oof["per_class"].items()}
    # The held-out set is its own section, with accuracy and balanced accuracy named, and the saved evaluation of
    # the same val/ photos gives the same numbers.
    holdout = loaded.holdout_
    assert f"accuracy <b>{holdout['accuracy']:.3f}</b>" in page
    assert f"balanced accuracy <b>{holdout['balanced_accuracy']:.3f}</b>" in page
    evaluation = loaded.evaluations_[-1]
    assert evaluation["accuracy"] == pytest.approx(holdout["accuracy"]) and evaluation["n"] == holdout["n"] == 16
    assert 'id="evaluations"' in page
    # No second "now" level from the learning curve, and no "flattened" on a wide range.
    assert "Now:" not in page
    curve = loaded.learning_curve_
    if curve is not None and not curve.skipped and curve.forecasts[0].high - curve.forecasts[0].low > 0.10:
        assert "The curve has flattened" not in page
    # Advice to collect more of a class only for a class recalled worse than the others.
    recalls = {k: v["recall"] for k, v in oof["per_class"].items()}
    for name, recall in recalls.items():
        if recall >= 0.95 or recall == max(recalls.values()):
            assert f"add examples of &#x27;{name}&#x27;" not in page

"""The scikit-learn contract: scikit-learn's own estimator checks where they apply, and labels that come back as the
type they went in (integers, strings, booleans) through fit, predict, save and load."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import accuracy_score
from sklearn.model_selection import cross_val_score
from sklearn.utils.estimator_checks import parametrize_with_checks

from handful import Classifier, load
from handful.data.labels import label_kind, typed_classes
from tests.conftest import write_images

NOT_AN_ARRAY = ("handful's inputs are file paths or texts (a folder, a table, a list), not a 2-D numeric array: "
                "the check fits on numbers, which handful refuses, naming each row")
# Every check that needs a fit on scikit-learn's generated numeric data, with why it cannot apply. The checks that
# apply (cloning, parameters, repr, tags, not-fitted error, mixin order, ...) run and must pass.
EXPECTED_FAILED_CHECKS = {name: NOT_AN_ARRAY for name in (
    "check_fit_score_takes_y", "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input", "check_n_features_in_after_fitting",
    "check_positive_only_tag_during_fit", "check_estimators_dtypes", "check_complex_data", "check_dtype_object",
    "check_estimators_empty_data_messages", "check_pipeline_consistency", "check_estimators_nan_inf",
    "check_estimator_sparse_tag", "check_estimator_sparse_array", "check_estimator_sparse_matrix",
    "check_estimators_pickle", "check_f_contiguous_array_estimator", "check_classifier_data_not_an_array",
    "check_classifiers_classes", "check_classifiers_train",
    "check_classifiers_regression_target", "check_supervised_y_2d", "check_methods_sample_order_invariance",
    "check_methods_subset_invariance", "check_fit2d_1sample", "check_fit2d_1feature", "check_dict_unchanged",
    "check_fit_idempotent", "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
)}
EXPECTED_FAILED_CHECKS["check_requires_y_none"] = (
    "fit(list) without labels raises TypeError naming the fix (fit(inputs, labels)); the check wants ValueError")


def tiny(modality: str = "text") -> Classifier:
    return Classifier(preset="fast", backbone=f"tiny-{modality}", random_state=0, verbose=0, cache_dir=False)


@parametrize_with_checks([tiny()], expected_failed_checks=lambda _: EXPECTED_FAILED_CHECKS)
def test_scikit_learn_estimator_checks(estimator: Any, check: Any) -> None:
    check(estimator)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """Eight red and eight blue noisy pictures (tiny-image fits in seconds; the text baseline's CV does not)."""
    folder = write_images(tmp_path_factory.mktemp("contract") / "photos", per_class=8)
    return sorted(str(p) for p in folder.glob("*/*.png"))


def labelled(paths: list[str], red: Any, blue: Any) -> list[Any]:
    return [red if Path(p).parent.name == "red" else blue for p in paths]


@pytest.mark.parametrize(("red", "blue", "dtype"), [
    (1, 0, np.int64),
    (np.int32(10), np.int32(2), np.int64),  # sorted by value: 2 before 10, not "10" before "2"
    ("red", "blue", object),
    (True, False, np.bool_),
])
def test_labels_come_back_as_the_type_they_went_in(photos: list[str], red: Any, blue: Any, dtype: Any,
                                                     tmp_path: Path) -> None:
    labels = labelled(photos, red, blue)
    clf = tiny("image").fit(photos, labels)
    assert clf.classes_.dtype == dtype and clf.classes_.tolist() == sorted([blue, red])
    predicted = clf.predict(photos)
    assert predicted.dtype == dtype and accuracy_score(labels, predicted) == 1.0
    assert clf.classes_[clf.predict_proba(photos).argmax(axis=1)].tolist() == predicted.tolist()
    held = sorted(str(p) for p in write_images(tmp_path / "held", per_class=3, seed=4).glob("*/*.png"))
    assert clf.evaluate(held, labelled(held, red, blue))["n"] == 6  # photos it has not seen
    loaded = load(clf.save(tmp_path / "model"))
    assert loaded.label_type_ == clf.label_type_ and loaded.classes_.tolist() == clf.classes_.tolist()
    assert loaded.predict(photos).tolist() == predicted.tolist() and loaded.predict(photos).dtype == dtype


def test_cross_val_score_with_integer_labels_and_f1(photos: list[str]) -> None:
    """The issue: integer labels came back as strings, so scoring="f1" gave NaN and accuracy_score raised."""
    scores = cross_val_score(tiny("image"), photos, labelled(photos, 1, 0), cv=2, scoring="f1")
    assert scores.tolist() == [1.0, 1.0]


def test_mixed_label_types_stay_text() -> None:
    assert label_kind(["1", 0]) == "str" and label_kind([1, 2.5]) == "str" and label_kind([0.5, 1.5]) == "float"
    assert typed_classes(["1", "0"], "str").tolist() == ["0", "1"]
    with pytest.raises(ValueError, match="are not int labels"):
        typed_classes(["a", "0"], "int")

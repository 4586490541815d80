"""A fitted model carries its groups protocol, calibrator, prediction sets and out-of-distribution flag through
save and load, with tiny backbones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import handful
from handful import Classifier
from tests.conftest import NEGATIVE, POSITIVE, write_images


def tiny(modality: str, **kwargs: object) -> Classifier:
    options = {"preset": "fast", "backbone": f"tiny-{modality}", "random_state": 0, "verbose": 0, "cv_repeats": 2,
               "cache_dir": False}
    return Classifier(**{**options, **kwargs})  # type: ignore[arg-type]


TEXTS = POSITIVE + NEGATIVE
LABELS = ["pos"] * len(POSITIVE) + ["neg"] * len(NEGATIVE)
GROUPS = [f"critic{i % 4}" for i in range(len(TEXTS))]


@pytest.fixture(scope="module")
def grouped(tmp_path_factory: pytest.TempPathFactory) -> tuple[Classifier, Classifier]:
    clf = tiny("text").fit(TEXTS, LABELS, groups=GROUPS)
    path = clf.save(tmp_path_factory.mktemp("models") / "critics")
    return clf, handful.load(path)


def test_grouped_fit_records_its_protocol(grouped: tuple[Classifier, Classifier]) -> None:
    clf, loaded = grouped
    assert clf.protocol_ is not None
    assert clf.protocol_["text"] == "grouped 4-fold, 2 repeats, 4 groups"
    assert clf.protocol_["group_sizes"] == {"min": 4, "median": 4.0, "max": 4}
    assert clf.protocol_["scores_for"].startswith("new groups")
    assert clf.leakage_ is None  # groups given: nothing to check
    assert loaded.protocol_ == clf.protocol_ and loaded.groups_ == GROUPS


def test_evaluating_inputs_of_critics_the_model_learned_from_says_so(grouped: tuple[Classifier, Classifier],
                                                                      tmp_path: Path) -> None:
    """Python's evaluate takes groups as fit does: held-out reviews by known critics are scored and said to be."""
    texts, labels = ["a lovely warm film", "dull and far too long", "a joy to watch", "i hated every minute"], \
        ["pos", "neg", "pos", "neg"]
    for model in grouped:
        said = model.evaluate(texts, labels, groups=["critic1", "critic1", "critic9", "critic7"])["problems"]
        assert said == ["the data given: 2 of its 4 examples come from groups the model learned from ('critic1'): "
                        "its scores are stated for new groups, and on these it may do better than on new ones (kept)"]
        assert model.evaluate(texts, labels, groups=["critic8"] * 4)["problems"] == []
        assert model.evaluate(texts, labels)["problems"] == []
    table = tmp_path / "held.csv"
    table.write_text("text,label\na lovely warm film,pos\ndull and far too long,neg\n", encoding="utf-8")
    with pytest.raises(TypeError, match="a list of groups goes with a list of inputs"):
        grouped[0].evaluate(table, groups=["critic1", "critic1"])
    with pytest.raises(ValueError, match="got 4 inputs but 3 groups"):
        grouped[0].evaluate(texts, labels, groups=["critic1"] * 3)


def test_trust_survives_save_and_load(grouped: tuple[Classifier, Classifier]) -> None:
    clf, loaded = grouped
    assert clf.trust_ is not None and loaded.trust_ is not None
    assert loaded.trust_.calibrator.method == clf.trust_.calibrator.method
    np.testing.assert_array_equal(loaded.trust_.sets.thresholds(), clf.trust_.sets.thresholds())
    assert clf.trust_.ood is not None and loaded.trust_.ood is not None
    assert loaded.trust_.ood.threshold == clf.trust_.ood.threshold
    probe = ["a lovely film", "a boring film", "quarterly tax filings are due in April"]
    np.testing.assert_allclose(loaded.predict_proba(probe), clf.predict_proba(probe), atol=1e-12)
    assert loaded.predict_sets(probe) == clf.predict_sets(probe)
    assert loaded.predict_sets(probe, coverage=0.5) == clf.predict_sets(probe, coverage=0.5)
    first, second = clf.predict_records(probe), loaded.predict_records(probe)
    assert [r["ood"] for r in first] == [r["ood"] for r in second]
    calibration = loaded.trust_.summary["calibration"]  # what a perfect model's ECE would be, kept on the card
    assert 0 < calibration["ece_perfect_mean"] <= calibration["ece_perfect_high"] < 1
    assert calibration == clf.trust_.summary["calibration"]


def test_records_carry_the_set_and_the_flag(grouped: tuple[Classifier, Classifier]) -> None:
    clf, _ = grouped
    record = clf.predict_records(["a lovely film"])[0]
    assert record["set"][0] == record["label"] and record["set_level"] == 0.9
    assert record["set_text"] == (record["label"] if len(record["set"]) == 1
                                  else " or ".join(record["set"]) + ": the model is not sure")
    assert set(record["ood"]) == {"score", "flag", "text"}


def test_abstain_answers_unknown_for_flagged_inputs(grouped: tuple[Classifier, Classifier]) -> None:
    clf, _ = grouped
    assert clf.trust_ is not None and clf.trust_.ood is not None
    clf.trust_.ood.threshold = -1.0  # every input is now beyond the threshold
    try:
        records = clf.predict_records(["a lovely film"], abstain=True)
    finally:
        clf.trust_.ood.threshold = grouped[1].trust_.ood.threshold  # type: ignore[union-attr]
    assert records[0]["label"] == "unknown"
    assert records[0]["ood"]["flag"] is True and records[0]["ood"]["text"] == "unlike anything it learned"


def test_evaluate_gives_calibration_and_set_coverage(grouped: tuple[Classifier, Classifier]) -> None:
    clf, _ = grouped
    near = [f"{text}, indeed" for text in TEXTS]  # like its own texts, not the same: evaluate leaves those out
    metrics = clf.evaluate(near, LABELS)
    assert metrics["n"] == len(TEXTS) and not metrics["problems"]
    assert set(metrics["trust"]) == {"ece_before", "ece", "set_coverage", "set_mean_size", "set_level",
                                     "unlike_share", "unlike_expected", "unlike_more"}
    assert 0.0 <= metrics["trust"]["set_coverage"] <= 1.0
    assert metrics["trust"]["unlike_share"] == 0.0 and metrics["trust"]["unlike_more"] is False  # like its own
    assert clf.trust_ is not None and clf.trust_.ood is not None
    threshold, clf.trust_.ood.threshold = clf.trust_.ood.threshold, -1.0  # every input now beyond it
    try:
        beyond = clf.evaluate(near, LABELS)["trust"]
    finally:
        clf.trust_.ood.threshold = threshold
    assert beyond["unlike_share"] == 1.0 and beyond["unlike_more"] is True


def test_a_groups_pattern_matching_no_file_names_three(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    with pytest.raises(ValueError, match=r"--groups 'session\(\\d\+\)' matches none of the 12 file paths; it was tried "
                                         r"on paths relative to the data folder such as 'blue/blue_0.png'"):
        tiny("image", cache_dir=tmp_path / "cache").fit(folder, groups=r"session(\d+)")
    cached = [p for p in (tmp_path / "cache").rglob("*") if p.is_file()] if (tmp_path / "cache").exists() else []
    assert cached == []  # said before a single example was embedded, not after


def test_groups_from_file_names_make_grouped_folds(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    clf = tiny("image").fit(folder, groups=r"_(?P<group>\d)\.png$")
    assert clf.protocol_ is not None and clf.protocol_["groups_from"] == "pattern"
    assert clf.protocol_["n_groups"] == 6
    assert clf.groups_ is not None and clf.groups_[0] == "0"


def test_one_group_is_an_error_through_fit() -> None:
    with pytest.raises(ValueError, match=r"all 16 examples are in one group \('x'\)"):
        tiny("text").fit(TEXTS, LABELS, groups=["x"] * len(TEXTS))


def test_a_repeated_example_is_kept_in_one_group() -> None:
    texts = TEXTS + [TEXTS[0]]  # the same review twice: it must never be on both sides of a split
    clf = tiny("text").fit(texts, LABELS + [LABELS[0]])
    assert clf.protocol_ is not None and clf.protocol_["near_duplicates_merged"] == 1
    assert clf.protocol_["text"] == "stratified 5-fold, 2 repeats, near-duplicates kept together (1 pair)"
    assert clf.groups_ is not None and clf.groups_[0] == clf.groups_[-1]
    assert len(set(clf.groups_)) == len(texts) - 1


def test_report_has_a_how_far_to_trust_it_section(grouped: tuple[Classifier, Classifier]) -> None:
    page = grouped[1].report_.html()
    assert '<h2 id="trust">How far to trust it</h2>' in page
    assert "grouped 4-fold, 2 repeats, 4 groups" in page and "4 groups of 4 to 4 examples" in page
    assert 'alt="calibration"' in page and "holds the right one 90% of the time" in page
    assert "Unlike anything it learned." in page
    by_group = grouped[1].trust_.summary["calibration"]["by_group"]  # type: ignore[union-attr]
    assert (("Calibration differs from group to group: across its 4 groups" if by_group["beyond_chance"]
             else "Calibration is alike across its 4 groups, to within chance.") in page)


def test_the_report_names_groups_off_their_own_way_escaped() -> None:
    from handful.report.trust import _groups

    by_group = {"groups": 3, "rms_gap": 0.104, "p_value": 1e-5, "beyond_chance": True,
                "most_over": {"group": "<b>nicolas</b>", "gap": 0.11}, "most_under": None}
    said = _groups({"by_group": by_group})
    assert "&lt;b&gt;nicolas&lt;/b&gt; over-confident by 0.11)" in said and "<b>" not in said
    assert "give or take 0.10" in said and _groups({"by_group": None}) == _groups({}) == ""


def test_sets_hold_the_classes_as_given_like_predict() -> None:
    """Labels given as integers come back as integers from predict_sets, as from predict, not as strings."""
    clf = tiny("text", cv_repeats=1).fit(TEXTS, [1] * len(POSITIVE) + [0] * len(NEGATIVE))
    sets = clf.predict_sets(TEXTS[:3], coverage=0.99)
    assert all(type(label) is int for found in sets for label in found) and sets[0]
    assert clf.predict(TEXTS[:1])[0] in sets[0]


def test_how_calibration_differs_by_group_is_kept_and_absent_without_groups(
        grouped: tuple[Classifier, Classifier]) -> None:
    clf, loaded = grouped
    assert clf.trust_ is not None and loaded.trust_ is not None
    by_group = loaded.trust_.summary["calibration"]["by_group"]
    assert by_group == clf.trust_.summary["calibration"]["by_group"]
    assert by_group["groups"] == 4 and 0 <= by_group["p_value"] <= 1 and by_group["rms_gap"] >= 0
    named = [by_group[k]["group"] for k in ("most_over", "most_under") if by_group[k]]
    assert named and set(named) <= {"critic0", "critic1", "critic2", "critic3"}  # names, not codes
    plain = tiny("text").fit(TEXTS, LABELS)
    assert plain.trust_ is not None and plain.trust_.summary["calibration"]["by_group"] is None

"""Groups: folds adapt to them; groups from paths; the messages for bad groups. The property test that no
split puts one group on both sides is in tests/integration/test_group_splits.py (150 generated cases: 2 s)."""

from __future__ import annotations

import dataclasses
import logging

import numpy as np
import pytest

from handful.data.groups import check_groups, groups_from_pattern, merge_groups
from handful.selection import make_folds, n_folds


def test_folds_adapt_to_the_number_of_groups() -> None:
    y = np.array([0, 1] * 6)
    groups = np.repeat(["a", "b", "c"], 4)
    assert n_folds(y, 5, groups) == 3
    assert len(make_folds(y, 3, 2, seed=0, groups=groups)) == 6


def test_groups_from_named_or_first_capture_group() -> None:
    paths = ["0_george_1.wav", "3_jackson_12.wav", "sub/9_lucas_0.wav"]
    assert groups_from_pattern(paths, r"_(?P<group>[a-z]+)_\d+\.wav$").tolist() == ["george", "jackson", "lucas"]
    assert groups_from_pattern(paths, r"\d_([a-z]+)_").tolist() == ["george", "jackson", "lucas"]


def test_a_pattern_matching_no_file_lists_three_paths() -> None:
    paths = ["ants/1.jpg", "ants/2.jpg", "bees/3.jpg", "bees/4.jpg"]
    with pytest.raises(ValueError, match=r"--groups 'session\(\\d\+\)' matches none of the 4 file paths; "
                                         r"it was tried on paths relative to the data folder such as "
                                         r"'ants/1.jpg', 'ants/2.jpg', 'bees/3.jpg'\. Write a pattern"):
        groups_from_pattern(paths, r"session(\d+)")


def test_a_pattern_missing_some_files_names_them() -> None:
    with pytest.raises(ValueError, match=r"matches 1 of 2 file paths but not 'b/x.jpg'\. Every example needs a group"):
        groups_from_pattern(["a/s1.jpg", "b/x.jpg"], r"s(\d)")


def test_a_bad_regular_expression_says_so() -> None:
    with pytest.raises(ValueError, match=r"--groups '\(' is not a valid regular expression"):
        groups_from_pattern(["a"], "(")


def test_fewer_than_two_groups_is_an_error_naming_the_fix() -> None:
    with pytest.raises(ValueError, match=r"all 4 examples are in one group \('s1'\); grouped cross-validation needs at "
                                         r"least two groups .* leave --groups out if the examples are independent"):
        check_groups(["s1"] * 4, ["a", "a", "b", "b"], 4)
    with pytest.raises(ValueError, match="got 3 groups for 4 examples; give one group per example"):
        check_groups(["s1", "s2", "s3"], ["a", "a", "b", "b"], 4)


def test_a_class_in_one_group_is_warned_about(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="handful.data.groups"):
        check_groups(["s1", "s1", "s2", "s3"], ["a", "a", "b", "b"], 4)
    assert len(caplog.records) == 1
    assert "all examples of class 'a' are in one group ('s1')" in caplog.records[0].getMessage()
    assert "its score says little about new groups" in caplog.records[0].getMessage()


def test_near_duplicates_merge_groups_transitively() -> None:
    merged = merge_groups(np.array(["a", "b", "c", "d"]), [(0, 1), (1, 3)])
    assert merged.tolist() == ["a", "a", "c", "a"]


def test_a_group_column_follows_its_rows(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from handful.data import load

    table = tmp_path / "reviews.csv"
    table.write_text("text,label,shop\ngood,pos,a\n,neg,b\nbad,neg,c\nfine,pos,a\nmeh,neg, \n", encoding="utf-8")
    data = load(table, group_column="shop").train
    assert data.groups == ["a", "c", "a"]  # the row with no text is skipped with its group
    assert str(data.problems[-1]) == (
        f"{table}, line 6: the group is empty, so nothing keeps the row apart from the others of its group; fill it "
        "in (a row that stands alone takes a group of its own) (skipped)")
    assert data.subset([2, 0]).groups == ["a", "a"]
    with pytest.raises(ValueError, match=r"has no column 'store' for --group-column; its columns are"):
        load(table, group_column="store")


def test_groups_given_in_python_stay_with_usable_inputs() -> None:
    from handful.data import from_inputs

    data = from_inputs(["good", "", "bad"], ["pos", "neg", "neg"], groups=["s1", "s2", "s3"])
    assert data.groups == ["s1", "s3"]
    with pytest.raises(ValueError, match="got 3 inputs but 2 groups; give one group per input"):
        from_inputs(["good", "x", "bad"], ["pos", "neg", "neg"], groups=["s1", "s2"])


def test_groups_given_with_a_dataset_are_not_dropped() -> None:
    from handful.data import from_inputs
    from handful.data.inputs import training_data

    data = from_inputs(["good", "fine", "bad"], ["pos", "pos", "neg"])
    assert training_data(data, None, None, groups=["a", "b", "a"]).train.groups == ["a", "b", "a"]
    assert data.groups is None  # the user's dataset is left as it was
    with pytest.raises(ValueError, match="got 3 examples but 2 groups; give one group per example"):
        training_data(data, None, None, groups=["a", "b"])


def _clumped(clumped: bool, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two classes, 120 examples. Clumped: 24 tight clumps of 5 (one speaker saying one word), each far from the
    others, and a weak class signal; independent: the same class signal without clumps."""
    rng = np.random.default_rng(seed)
    y = np.repeat([0, 1], 60)
    signal = np.outer(y - 0.5, np.eye(16)[0]) * 1.0
    if clumped:
        centres = rng.normal(0, 3.0, (24, 16))
        clump = np.concatenate([np.arange(12).repeat(5), 12 + np.arange(12).repeat(5)])
        return centres[clump] + signal + rng.normal(0, 0.2, (120, 16)), y
    return signal + rng.normal(0, 1.0, (120, 16)), y


@pytest.mark.parametrize("clumped", [True, False])
def test_leakage_check_warns_on_clumps_only(clumped: bool) -> None:
    from handful.selection import Candidate, cross_validate
    from handful.selection.leakage import leakage_check

    x, y = _clumped(clumped)
    candidate = Candidate("features", "linear", "standard", "test")
    random = cross_validate(candidate, x, y, 2, make_folds(y, 5, 2, seed=0), 0)
    check = leakage_check(candidate, x, y, 2, random, x, 5, 2, seed=0)
    assert check is not None
    assert check.warn is clumped
    if clumped:
        assert "--groups" in check.message() and check.drop > 0.2


def test_a_large_drop_whose_interval_reaches_the_random_score_is_no_warning() -> None:
    from handful.selection.leakage import warns

    assert warns(0.95, 0.70, 0.85)
    assert not warns(0.95, 0.70, 1.0)  # 20 independent photos: four clusters, an interval up to 1.0
    assert not warns(0.95, 0.92, 0.90)  # below the interval, but too small a drop to matter


def test_leakage_check_runs_on_a_cheap_head_when_racing_stopped_the_linear_proxy() -> None:
    """The chosen model is a costly head and the frozen linear head was stopped by racing (default preset,
    spoken digits, 2 of 4 rotations): the check runs on the best cheap head that ran every fold instead."""
    from handful.selection import Candidate, cross_validate
    from handful.selection.leakage import chosen_leakage

    x, y = _clumped(True)
    folds = make_folds(y, 5, 2, seed=0)
    linear, prototypes = (cross_validate(Candidate("features", learner, "standard", "test"), x, y, 2, folds, 0)
                          for learner in ("linear", "prototypes"))
    # The chosen costly head: its scores do not matter here, only that it is not a cheap one (no MLP fits needed).
    mlp = dataclasses.replace(linear, candidate=Candidate("features", "mlp", "standard", "test"))
    linear.status = "stopped"
    check = chosen_leakage([mlp, linear, prototypes], mlp, lambda name: x, "features", y, 2, (5, 2), 0)
    assert check is not None and check["learner"] == "prototypes" and check["warn"] is True
    assert chosen_leakage([mlp, linear], mlp, lambda name: x, "features", y, 2, (5, 2), 0) is None


def test_best_ranks_results_whose_fields_compare_equal() -> None:
    from handful.evaluation.metrics import cv_estimate
    from handful.selection import Candidate, Result, best

    # The baseline's features chosen as the backbone too: two results with equal candidates and equal scores.
    y = np.array([0, 1, 0, 1])
    twins = [Result(Candidate("mfcc-stats", "linear", "standard", "baseline"), balanced=[0.5, 0.5],
                    estimate=cv_estimate([0.5, 0.5], 0.5), oof_proba=np.full((4, 2), 0.5)) for _ in range(2)]
    assert best(twins, y) is twins[0]


def test_class_folders_with_sub_folders_get_a_groups_tip_whose_pattern_works(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from handful.cli import app
    from handful.data.groups import SUB_FOLDER_PATTERN
    from tests.conftest import write_images

    flat = write_images(tmp_path / "flat", per_class=8)
    nested = tmp_path / "nested"
    for path in sorted(flat.rglob("*.png")):  # red/red_3.png -> red/session1/red_3.png
        session = f"session{int(path.stem.split('_')[1]) % 4}"
        (nested / path.parent.name / session).mkdir(parents=True, exist_ok=True)
        (nested / path.parent.name / session / path.name).write_bytes(path.read_bytes())
    train = ["--backbone", "tiny-image", "--preset", "fast"]
    runner = CliRunner()
    plain = runner.invoke(app, ["train", str(flat), "-o", str(tmp_path / "m1"), *train])
    assert plain.exit_code == 0, plain.output
    assert "Tip:" not in plain.output
    tipped = runner.invoke(app, ["train", str(nested), "-o", str(tmp_path / "m2"), *train])
    said = " ".join(tipped.output.split())
    assert tipped.exit_code == 0, tipped.output
    assert ("Tip: every file sits in a sub-folder of its class folder (4 names: session0, session1, session2, ...)"
            in said and f"--groups '{SUB_FOLDER_PATTERN}'" in said)
    import handful

    assert "Tip: every file sits in a sub-folder" in handful.load(tmp_path / "m2").report_.html()  # the model card too
    grouped = runner.invoke(app, ["train", str(nested), "-o", str(tmp_path / "m3"), *train, "--groups",
                                  SUB_FOLDER_PATTERN])
    assert grouped.exit_code == 0, grouped.output
    assert "4 groups; scores are for new groups" in " ".join(grouped.output.split()) and "Tip:" not in grouped.output


def test_clusters_of_sparse_word_counts_match_their_dense_form_without_making_them_dense() -> None:
    import scipy.sparse
    from sklearn.cluster import AgglomerativeClustering

    from handful.selection.leakage import similarity_clusters

    rng = np.random.default_rng(2)
    topics = rng.integers(0, 2**18, (4, 30))  # four topics, each with its own words
    rows = [rng.choice(topics[i % 4], 12, replace=False) for i in range(60)]
    counts = scipy.sparse.csr_matrix((np.ones(60 * 12), (np.repeat(np.arange(60), 12), np.concatenate(rows))),
                                     shape=(60, 2**18))
    found = similarity_clusters(counts, 4)
    dense = counts.toarray()  # what scikit-learn's cosine metric needs: fine at 60 rows, 1.7 GB at 800
    expected = AgglomerativeClustering(n_clusters=4, metric="cosine", linkage="average").fit_predict(dense)
    assert len(set(zip(found, expected, strict=True))) == 4  # the same partition, whatever the cluster numbers
    assert len(set(found[np.arange(60) % 4 == 0])) == 1  # one topic, one cluster


@pytest.mark.parametrize("sparse", [False, True])
def test_clusters_of_many_examples_come_from_a_sample_and_the_rest_join_their_nearest(
        sparse: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Average linkage holds every pairwise distance (50,000 sentences would not fit in memory): beyond
    MAX_CLUSTERED examples only a sample is clustered, and every example still lands in its clump's cluster."""
    import scipy.sparse
    from sklearn.cluster import AgglomerativeClustering

    from handful.selection import leakage

    sizes: list[int] = []
    fit_predict = AgglomerativeClustering.fit_predict

    def counted(self: AgglomerativeClustering, x: object, y: object = None) -> np.ndarray:
        sizes.append(x.shape[0])  # type: ignore[attr-defined]
        return fit_predict(self, x)

    monkeypatch.setattr(AgglomerativeClustering, "fit_predict", counted)
    monkeypatch.setattr(leakage, "MAX_CLUSTERED", 120)
    rng = np.random.default_rng(3)
    clump = np.repeat(np.arange(6), 100)  # six clumps of 100 examples, each around its own direction
    centres = rng.normal(size=(6, 40)) * 3
    x = centres[clump] + rng.normal(size=(600, 40)) * 0.3
    found = leakage.similarity_clusters(scipy.sparse.csr_matrix(x) if sparse else x, 6, seed=0)
    assert sizes == [120]
    assert len(found) == 600
    assert len(set(zip(clump, found, strict=True))) == 6 and len(set(found)) == 6  # one clump, one cluster

"""The public estimator: contracts (sklearn, not-fitted, determinism, save/load) and errors, with tiny backbones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

import handful
from handful import Classifier, ModelFileError
from tests.conftest import NEGATIVE, POSITIVE, write_images


def tiny(modality: str, **kwargs: object) -> Classifier:
    # One k-fold repetition keeps these contract tests fast; tiny data would otherwise get five.
    options = {"preset": "fast", "backbone": f"tiny-{modality}", "random_state": 0, "verbose": 0, "cv_repeats": 1}
    return Classifier(**{**options, **kwargs})  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def fitted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Classifier, Path]:
    folder = write_images(tmp_path_factory.mktemp("imgs") / "photos", per_class=8)
    return tiny("image", learners=["linear", "mlp"], cache_dir=False).fit(folder), folder


def test_fit_image_folder_learns_and_reports(fitted: tuple[Classifier, Path]) -> None:
    clf, folder = fitted
    assert list(clf.classes_) == ["blue", "red"]
    assert clf.predict([folder / "red" / "red_1.png"])[0] == "red"
    assert clf.cv_score_ is not None and clf.cv_score_.mean > 0.8
    assert clf.cv_score_.high - clf.cv_score_.low > 0.1  # 16 photos cannot make any score certain
    kinds = {row["kind"] for row in clf.leaderboard_}
    assert kinds == {"baseline", "test"}
    assert clf.baseline_ is not None and clf.baseline_["backbone"] == "colour-thumbnail"
    assert clf.predict_proba([folder / "blue" / "blue_0.png"]).shape == (1, 2)


def test_text_lists_and_audio_folder(audio_folder: Path) -> None:
    texts, labels = POSITIVE + NEGATIVE, ["pos"] * 8 + ["neg"] * 8
    clf = tiny("text").fit(texts, labels)
    assert clf.modality_ == "text" and set(clf.predict(["a superb, warm film"])) <= {"pos", "neg"}
    audio = tiny("audio").fit(audio_folder)
    assert audio.modality_ == "audio"
    assert audio.predict([audio_folder / "low" / "low_0.wav"])[0] == "low"


def test_labels_as_a_column_are_one_each_and_other_shapes_are_refused() -> None:
    """scikit-learn takes y of shape (n, 1) as n labels; one-hot rows and a lone number get a message, not a
    Python error or classes named '[0]' and '[1]'."""
    texts, column = POSITIVE + NEGATIVE, np.array([[1]] * 8 + [[0]] * 8)
    clf = tiny("text").fit(texts, column)
    assert clf.classes_.tolist() == [0, 1] and clf.evaluate([f"{t}!" for t in texts], column)["n"] == 16
    with pytest.raises(ValueError, match=r"one per input .* shape \(16, 2\); for one-hot labels"):
        tiny("text").fit(texts, np.eye(2)[column.ravel()])
    with pytest.raises(TypeError, match="a list of inputs .*, got a int"):
        tiny("text").fit(42, [1])


def test_predict_before_fit_raises_sklearn_not_fitted() -> None:
    with pytest.raises(SklearnNotFittedError, match="not fitted yet"):
        Classifier().predict(["a.jpg"])
    with pytest.raises(handful.NotFittedError):
        Classifier().save("x")


def test_get_params_clone_round_trip() -> None:
    clf = Classifier(preset="fast", backbone="tiny-image", cv_folds=3, random_state=4)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params()
    copy.set_params(cv_folds=4)
    assert copy.cv_folds == 4 and clf.cv_folds == 3


def test_save_load_identical_predictions(fitted: tuple[Classifier, Path], tmp_path: Path) -> None:
    clf, folder = fitted
    inputs = sorted(folder.rglob("*.png"))
    path = clf.save(tmp_path / "model")
    assert sorted(p.name for p in path.iterdir()) == ["head.safetensors", "manifest.json"]
    modes = {p.name: p.stat().st_mode & 0o777 for p in path.iterdir()}
    assert modes["head.safetensors"] == modes["manifest.json"]  # both follow the umask
    loaded = handful.load(path)
    assert np.array_equal(loaded.predict_proba(inputs), clf.predict_proba(inputs))
    assert loaded.leaderboard_ == json.loads(json.dumps(clf.leaderboard_))
    manifest = json.loads((path / "manifest.json").read_text())
    assert manifest["data"]["fingerprint"] == clf.data_fingerprint_
    assert manifest["backbone"]["licence"]
    # Where the time went: every stage of the fit, saved with the model and shown in its report.
    stages = set(clf.timings_)
    # the first backbone embeds before the search: near-duplicates share a group before folds are made
    assert {"read", "search", "embed tiny-image", f"refit {clf.learner_}", "label check", "trust"} <= stages
    assert ("learning curve" in stages) == (not clf.learning_curve_.skipped)  # a curve too small is not measured
    assert any(s.startswith("search/cv tiny-image+") for s in stages)
    assert sum(v for k, v in clf.timings_.items() if "/" not in k) <= clf.fit_seconds_ + 0.05
    assert manifest["timings"] == clf.timings_ and loaded.timings_ == clf.timings_
    assert "Where the" in loaded.report_.html()


def test_truncated_or_corrupt_model_fails_clearly(fitted: tuple[Classifier, Path], tmp_path: Path) -> None:
    path = fitted[0].save(tmp_path / "model")
    weights = path / "head.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(ModelFileError, match="truncated or damaged"):
        handful.load(path)
    path = fitted[0].save(tmp_path / "model2")
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="damaged"):
        handful.load(path)
    with pytest.raises(ModelFileError, match="does not exist"):
        handful.load(tmp_path / "nothing")


def test_crash_mid_save_keeps_previous_model(
    fitted: tuple[Classifier, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clf, folder = fitted
    path = clf.save(tmp_path / "model")
    before = {p.name: p.read_bytes() for p in path.iterdir()}

    def explode(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr("safetensors.numpy.save_file", explode)
    with pytest.raises(OSError, match="disk full"):
        clf.save(path)
    assert {p.name: p.read_bytes() for p in path.iterdir()} == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no staging folder left behind


def test_refuses_to_overwrite_a_folder_that_is_not_a_model(fitted: tuple[Classifier, Path], tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "keep.jpg").write_bytes(b"precious")
    with pytest.raises(ValueError, match="is a folder handful did not write"):
        fitted[0].save(tmp_path / "photos")
    assert (tmp_path / "photos" / "keep.jpg").read_bytes() == b"precious"


def test_single_class_and_too_few_examples(tmp_path: Path) -> None:
    write_images(tmp_path / "one", per_class=3)
    import shutil

    shutil.rmtree(tmp_path / "one" / "blue")
    with pytest.raises(ValueError, match=r"has a single class \('red'\); a classifier needs at least two"):
        tiny("image").fit(tmp_path / "one")
    with pytest.raises(ValueError, match=r"too few examples for cross-validation in class 'b' \(1\)"):
        tiny("text").fit(["x y", "y z", "z w"], ["a", "a", "b"])


def test_no_usable_data_lists_problems(tmp_path: Path) -> None:
    (tmp_path / "d" / "a").mkdir(parents=True)
    (tmp_path / "d" / "a" / "x.png").write_bytes(b"junk")
    with pytest.raises(ValueError, match=r"no usable labelled examples in .*not a readable image"):
        tiny("image").fit(tmp_path / "d")


def test_unknown_preset_names_closest(image_folder: Path) -> None:
    with pytest.raises(ValueError, match=r"Unknown preset 'bset'. Valid: best, fast. Did you mean 'best'\?"):
        Classifier(preset="bset", verbose=0).fit(image_folder)


def test_backbone_of_wrong_modality(image_folder: Path) -> None:
    with pytest.raises(ValueError, match="backbone 'tiny-text' is for text, but the data is image; image backbones: "
                                         "colour-thumbnail, efficientnet-lite0, efficientnet-lite2.$"):
        Classifier(backbone="tiny-text", verbose=0).fit(image_folder)


def test_corrupt_file_skipped_in_fit_and_reported_in_predict(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=6)
    (folder / "red" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    clf = tiny("image").fit(folder)
    assert clf.n_examples_ == 12 and any("bad.png" in p.where for p in clf.problems_)
    with pytest.raises(ValueError, match="bad.png: not a readable image"):
        clf.predict([folder / "red" / "bad.png"])
    records = clf.predict_records([folder / "red" / "red_0.png", folder / "red" / "bad.png"])
    assert records[0]["label"] == "red" and "not a readable image" in records[1]["error"]
    for model in (clf, Classifier.load(clf.save(tmp_path / "model"))):  # the report names it, fitted or loaded
        report = model.report_.html()
        assert '<h2 id="data">Problems in the data (1)</h2><p>1 skipped (not used to train)' in report
        assert f"<li>{folder / 'red' / 'bad.png'}: not a readable image" in report


def test_time_budget_skips_later_candidates(image_folder: Path) -> None:
    clf = tiny("image", learners=["linear", "mlp", "cosine"], time_budget=1e-9).fit(image_folder)
    statuses = [(row["learner"], row["status"]) for row in clf.leaderboard_]
    assert ("linear", "ok") in statuses and ("cosine", "skipped") in statuses


def test_holdout_scored_for_train_val_layout(tmp_path: Path) -> None:
    write_images(tmp_path / "s" / "train", per_class=6)
    write_images(tmp_path / "s" / "val", per_class=3, seed=5)
    clf = tiny("image").fit(tmp_path / "s")
    assert clf.holdout_ is not None and clf.holdout_["n"] == 6
    low, high = clf.holdout_["accuracy_interval"]
    assert low <= clf.holdout_["accuracy"] <= high


def test_evaluate_skips_unknown_labels(fitted: tuple[Classifier, Path], tmp_path: Path) -> None:
    clf, folder = fitted
    write_images(tmp_path / "h", per_class=2, seed=3)
    (tmp_path / "h" / "green").mkdir()
    (tmp_path / "h" / "green" / "g.png").write_bytes((folder / "red" / "red_0.png").read_bytes())
    (tmp_path / "h" / "Red").mkdir()
    for index in range(2):
        (tmp_path / "h" / "Red" / f"r{index}.png").write_bytes((folder / "red" / f"red_{index}.png").read_bytes())
    metrics = clf.evaluate(tmp_path / "h")
    assert metrics["n"] == 4 and any("label 'green' is not one the model was trained on (skipped)" in p
                                     for p in metrics["problems"])
    spelt = [p for p in metrics["problems"] if "'Red'" in p]
    assert len(spelt) == 2 and all(p.endswith("label 'Red' is not one the model was trained on; it has 'red' "
                                              "(skipped)") for p in spelt)


def test_fused_features_train_save_and_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from handful import selection

    # The baseline may tie with the fused candidate on such easy data; pick the fused one to exercise its path.
    monkeypatch.setattr(selection, "best",
                        lambda results, y, share=0.2: next(r for r in results if r.candidate.kind == "fused"))
    folder = write_images(tmp_path / "photos", per_class=6)
    clf = tiny("image", backbone="tiny-image+colour-thumbnail", learners=["linear"]).fit(folder)
    assert clf.backbone_ == "tiny-image+colour-thumbnail"
    inputs = sorted(folder.rglob("*.png"))
    loaded = handful.load(clf.save(tmp_path / "m"))
    assert np.array_equal(loaded.predict_proba(inputs), clf.predict_proba(inputs))
    manifest = json.loads((tmp_path / "m" / "manifest.json").read_text())
    assert [p["name"] for p in manifest["backbone"]["parts"]] == ["tiny-image", "colour-thumbnail"]


def test_best_preset_fuses_audio_features_only(audio_folder: Path, image_folder: Path) -> None:
    clf = Classifier(preset="best", backbone="tiny-audio", learners=["linear"], random_state=0, verbose=0)
    rows = {(r["backbone"], r["kind"]) for r in clf.fit(audio_folder).leaderboard_}
    assert rows == {("tiny-audio", "test"), ("tiny-audio+mfcc-stats", "fused"), ("mfcc-stats", "baseline")}
    clf = Classifier(preset="best", backbone="tiny-image", learners=["linear"], random_state=0, verbose=0)
    assert {r["kind"] for r in clf.fit(image_folder).leaderboard_} == {"test", "baseline"}


def test_ties_go_to_the_more_confident_candidate() -> None:
    from handful.evaluation import cv_estimate
    from handful.selection import Candidate, Result, best

    y = np.array([0, 1, 0, 1])
    unsure = Result(Candidate("a", "linear", "l2", "baseline"), estimate=cv_estimate([1.0, 1.0], 0.5),
                    oof_proba=np.array([[0.6, 0.4], [0.4, 0.6]] * 2))
    sure = Result(Candidate("b", "linear", "l2", "pretrained"), estimate=cv_estimate([1.0, 1.0], 0.5),
                  oof_proba=np.array([[0.9, 0.1], [0.1, 0.9]] * 2))
    assert best([unsure, sure], y) is sure


def test_baseline_needs_a_clear_lead_to_be_chosen() -> None:
    from handful.evaluation import cv_estimate
    from handful.selection import Candidate, Result, best

    y = np.array([0, 1])
    proba = np.array([[0.6, 0.4], [0.4, 0.6]])

    def result(kind: str, scores: list[float]) -> Result:
        return Result(Candidate(kind, "linear", "l2", kind), balanced=scores, estimate=cv_estimate(scores, 0.2),
                      oof_proba=proba)

    model = result("pretrained", [0.7, 0.5, 0.9, 0.6])
    slightly = result("baseline", [0.8, 0.5, 0.8, 0.7])  # ahead by 0.025 on average, noisily
    clearly = result("baseline", [0.9, 0.7, 1.0, 0.8])  # ahead by 0.175 on every fold
    assert best([model, slightly], y) is model
    assert best([model, clearly], y) is clearly


def test_baseline_lead_is_judged_by_the_corrected_error() -> None:
    from handful.evaluation import cv_estimate
    from handful.selection import Candidate, Result, best

    y = np.array([0, 1])
    proba = np.array([[0.6, 0.4], [0.4, 0.6]])
    model = Result(Candidate("pretrained", "linear", "l2", "pretrained"), balanced=[0.5, 0.6, 0.5, 0.6],
                   estimate=cv_estimate([0.5, 0.6, 0.5, 0.6], 0.2), oof_proba=proba)
    # Ahead by 0.0875 (paired differences 0.2, 0, 0.2, -0.05): beyond the plain standard error (0.066), within the
    # corrected one (0.093), which counts that folds share their training rows.
    lucky = Result(Candidate("baseline", "linear", "l2", "baseline"), balanced=[0.7, 0.6, 0.7, 0.55],
                   estimate=cv_estimate([0.7, 0.6, 0.7, 0.55], 0.2), oof_proba=proba)
    assert best([model, lucky], y, 0.2) is model
    assert best([model, lucky], y, 0.01) is lucky  # nearly all rows train each fold: the plain error, nearly


def test_within_noise_the_backbone_expected_to_transfer_better_is_kept() -> None:
    from handful.backbones.registry import get_spec
    from handful.evaluation import cv_estimate
    from handful.selection import Candidate, Result, best

    assert get_spec("e5-small").prior > get_spec("minilm-l6").prior  # specs only: no weights are loaded
    assert get_spec("efficientnet-lite2").prior > get_spec("efficientnet-lite0").prior
    y = np.array([0, 1])
    proba = np.array([[0.6, 0.4], [0.4, 0.6]])

    def result(backbone: str, scores: list[float], kind: str = "pretrained") -> Result:
        return Result(Candidate(backbone, "linear", "l2", kind), balanced=scores,
                      estimate=cv_estimate(scores, 0.2), oof_proba=proba)

    noisy_leader = result("minilm-l6", [1.0, 0.8, 1.0, 0.6, 1.0, 0.8])
    close = result("e5-small", [0.8, 1.0, 0.8, 0.6, 1.0, 0.8])  # 0.033 behind, by chance
    far = result("e5-small", [0.6, 0.5, 0.6, 0.4, 0.6, 0.5])  # 0.35 behind on every fold
    assert best([noisy_leader, close], y) is close
    assert best([noisy_leader, far], y) is noisy_leader
    # The prior of fused features and ensembles is the best of their parts; an unknown name's is 0.
    fused = result("minilm-l6+e5-small", [1.0, 0.8, 1.0, 0.6, 1.0, 0.6], kind="fused")
    assert best([noisy_leader, fused], y) is fused
    assert best([result("no-such-backbone", [1.0] * 6), result("minilm-l6", [0.9] * 6)], y).candidate.backbone == \
        "no-such-backbone"


def test_a_choice_below_the_top_of_the_leaderboard_is_explained() -> None:
    from handful.selection import choice_note

    def row(backbone: str, mean: float, kind: str = "pretrained") -> dict[str, object]:
        return {"backbone": backbone, "learner": "linear", "kind": kind, "augment": "", "status": "ok",
                "balanced_accuracy": {"mean": mean, "n": 25}}

    board = [row("word-ngrams", 0.85, "baseline"), row("minilm-l6", 0.9), row("e5-small", 0.86)]
    note = choice_note(board, "e5-small", "linear")
    assert note is not None
    assert note.startswith("minilm-l6 + linear scores 0.900 and the chosen e5-small + linear 0.860")
    assert "25 folds" in note
    assert choice_note(board, "minilm-l6", "linear") is None  # the top model, the baseline behind it
    board[0] = row("word-ngrams", 0.95, "baseline")  # ahead of every model, but not by one standard error
    ahead = choice_note(board, "minilm-l6", "linear")
    assert ahead is not None and ahead.startswith(
        "The baseline (word-ngrams + linear) scores 0.950 and the chosen minilm-l6 + linear 0.900: the baseline is "
        "the reference to beat, kept only when it leads the best model by more than one standard error")
    both = choice_note(board, "e5-small", "linear")
    assert both is not None and both.startswith("The baseline") and "minilm-l6 + linear scores 0.900" in both


def test_repeats_adapt_to_data_size() -> None:
    from handful.config import adaptive_repeats

    assert [adaptive_repeats(2, n) for n in (16, 120, 400, 5000)] == [5, 3, 2, 1]


def test_predict_on_a_flat_folder_of_unlabelled_files(fitted: tuple[Classifier, Path], tmp_path: Path) -> None:
    clf, folder = fitted
    (tmp_path / "new").mkdir()
    for name in ("red_0.png", "red_1.png"):
        (tmp_path / "new" / name).write_bytes((folder / "red" / name).read_bytes())
    assert list(clf.predict(tmp_path / "new")) == ["red", "red"]


def test_repetitions_stop_once_they_agree_and_the_card_says_so(tmp_path: Path) -> None:
    folder = write_images(tmp_path / "photos", per_class=8)  # 16 photos: the table plans 5 repetitions
    clf = tiny("image", cv_repeats=None, cache_dir=False).fit(folder)
    assert clf.protocol_ is not None and clf.protocol_["planned_repeats"] == 5
    assert clf.protocol_["repeats"] == clf.config_.cv_repeats == 2  # red and blue agree at once
    assert clf.protocol_["text"] == "stratified 5-fold, 2 repeats (of up to 5: they agreed)"
    assert clf.n_folds_ == 10 and all(row["balanced_accuracy"]["n"] == 10 for row in clf.leaderboard_
                                      if row["status"] == "ok")
    assert handful.load(clf.save(tmp_path / "model")).protocol_ == clf.protocol_
    fixed = tiny("image", cv_repeats=5, cache_dir=False).fit(folder)  # repetitions the user sets all run
    assert fixed.n_folds_ == 25 and "planned_repeats" not in (fixed.protocol_ or {})


def test_predicting_many_inputs_shows_progress_unless_quiet(fitted: tuple[Classifier, Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    clf, folder = fitted
    many = sorted(str(p) for p in folder.rglob("*.png"))
    many = (many * (32 // len(many) + 1))[:32]
    for verbose, inputs, shown in ((1, many, True), (1, many[:5], False), (0, many, False)):
        clf.set_params(verbose=verbose).predict(inputs)
        assert ("Embedding the inputs" in capsys.readouterr().err) is shown, (verbose, len(inputs))


def test_a_held_out_folder_of_training_copies_is_not_scored_and_costs_nothing(tmp_path: Path,
                                                                              caplog: pytest.LogCaptureFixture) -> None:
    import logging
    import shutil

    write_images(tmp_path / "set" / "train", per_class=6)
    shutil.copytree(tmp_path / "set" / "train", tmp_path / "set" / "val")  # a split that leaked whole
    with caplog.at_level(logging.WARNING):
        clf = tiny("image").fit(tmp_path / "set")
    assert clf.holdout_ is None and clf.predict([tmp_path / "set" / "val" / "red" / "red_0.png"])[0] == "red"
    assert "the held-out set was not scored: all 12 examples in" in caplog.text


def test_the_text_baseline_named_as_the_backbone_is_one_candidate_that_runs() -> None:
    from handful.config import resolve
    from handful.selection.plan import candidates

    texts, labels = POSITIVE + NEGATIVE, ["pos"] * 8 + ["neg"] * 8
    clf = Classifier(preset="fast", backbone="word-ngrams", random_state=0, verbose=0, cache_dir=False)
    clf.fit(texts, labels)  # its heads on the default scaling densified the word counts and failed, two rows
    assert [(r["learner"], r["kind"], r["status"]) for r in clf.leaderboard_] == [("linear", "baseline", "ok")]
    assert clf.backbone_ == "word-ngrams" and clf.trust_ is not None
    both = resolve("fast", "text", ["word-ngrams", "tiny-text"], ["prototypes"], 5, 1, None, 0)
    assert [(c.backbone, c.learner) for c in candidates(both)] == [("tiny-text", "prototypes"),
                                                                   ("word-ngrams", "linear")]
    with pytest.raises(ValueError, match="word-ngrams gives sparse word counts, which only the linear head takes"):
        candidates(resolve("fast", "text", "word-ngrams", ["prototypes"], 5, 1, None, 0))


def test_within_noise_a_model_that_learns_from_labels_only_is_kept_over_a_pool_head() -> None:
    from handful.evaluation import cv_estimate
    from handful.selection import Candidate, Result, best, choice_note, leaderboard, pool_gains

    y = np.array([0, 1])
    proba = np.array([[0.6, 0.4], [0.4, 0.6]])

    def result(backbone: str, learner: str, scores: list[float]) -> Result:
        return Result(Candidate(backbone, learner, "l2", "pretrained"), balanced=scores,
                      estimate=cv_estimate(scores, 0.2), oof_proba=proba)

    labelled = result("e5-small", "linear", [0.8, 0.9, 0.7, 0.8, 0.9, 0.8])
    lucky = result("e5-small", "vae", [0.9, 0.9, 0.7, 0.9, 0.9, 0.8])  # 0.033 ahead, within one error
    clearly = result("e5-small", "align", [1.0, 1.0, 0.9, 1.0, 1.0, 1.0])  # 0.2 ahead on every fold
    assert best([labelled, lucky], y) is labelled
    assert best([labelled, lucky, clearly], y) is clearly
    # The backbone's prior still comes first: a pool head on the better backbone beats labels only on the worse.
    other = result("minilm-l6", "linear", [0.8, 0.9, 0.7, 0.8, 0.9, 0.8])
    assert best([other, lucky], y) is lucky
    note = choice_note(leaderboard([labelled, lucky], pool_gains([labelled, lucky])), "e5-small", "linear")
    assert note is not None and "learns from the unlabelled examples too" in note and "clearly ahead" in note

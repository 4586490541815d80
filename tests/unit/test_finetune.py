"""Fine-tuning on trunk rows, with the tiny backbones' trunks: the split is exact, training learns, and the
contracts hold (determinism, pickle-free round trip, time budget, views held back with their example)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from handful import Classifier, config
from handful.backbones.registry import frozen_name, get_backbone, get_tail, list_backbones, trunk_name
from handful.data.decode import Audio
from handful.learners import FitContext, learner_from_state, make_learner
from handful.learners.finetune import FineTune, held_back_split, pair_loss
from handful.selection import Candidate, Search, make_folds
from tests.conftest import NEGATIVE, POSITIVE


def inputs(modality: str, n: int = 4) -> list[object]:
    rng = np.random.default_rng(0)
    if modality == "image":
        return [Image.fromarray(rng.integers(0, 255, (20 + i, 30, 3), dtype=np.uint8)) for i in range(n)]
    if modality == "audio":
        return [Audio(rng.uniform(-0.3, 0.3, 4000 + 500 * i).astype(np.float32), 8000) for i in range(n)]
    return (POSITIVE + NEGATIVE)[:n]


def clusters(dim: int, n: int = 40, k: int = 2, seed: int = 0, spread: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    centres = rng.normal(0, 1, (k, dim))
    return (centres[y] + spread * rng.normal(0, 1, (n, dim))).astype(np.float32), y


@pytest.mark.parametrize("modality", ["image", "text", "audio"])
def test_tail_on_trunk_rows_gives_the_frozen_features(modality: str) -> None:
    batch = inputs(modality)
    rows = get_backbone(f"tiny-{modality}:trunk").embed(batch)
    with torch.no_grad():
        tuned = get_tail(f"tiny-{modality}:trunk").eval()(torch.from_numpy(rows)).numpy()
    assert np.allclose(tuned, get_backbone(f"tiny-{modality}").embed(batch), atol=1e-5)


def test_a_frozen_backbone_asked_with_its_trunk_comes_from_the_trunks_forward_pass(
    image_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from handful.backbones.cache import embed_many
    from handful.backbones.tiny import TinyImage
    from handful.data import load

    examples = load(image_folder).train.examples
    direct = embed_many([get_backbone("tiny-image")], examples)[0]

    def refuse(*_: object) -> np.ndarray:
        raise AssertionError("the frozen backbone ran its own forward pass")

    monkeypatch.setattr(TinyImage, "embed", refuse)
    frozen, rows = embed_many([get_backbone("tiny-image"), get_backbone("tiny-image:trunk")], examples, tmp_path)
    assert rows.shape == (len(examples), get_backbone("tiny-image:trunk").spec.dim)
    np.testing.assert_allclose(frozen, direct, atol=1e-5)
    again = embed_many([get_backbone("tiny-image")], examples, tmp_path)[0]  # cached as the frozen backbone's own
    np.testing.assert_array_equal(again, frozen)


def test_a_search_that_may_fine_tune_embeds_the_trunk_with_the_first_stage() -> None:
    from handful.selection import plan

    cfg = config.resolve("best", "image", "tiny-image", ["linear", "finetune"], 5, None, None, 0, 40)
    planned = plan.candidates(cfg)
    assert plan.one_pass_trunks(planned, 40) == ["tiny-image:trunk"]
    assert plan.one_pass_trunks(planned, plan.ONE_PASS_BYTES) == []  # rows too large to keep: the usual passes
    no_tuning = config.resolve("best", "image", "tiny-image", ["linear"], 5, None, None, 0, 40)
    assert plan.one_pass_trunks(plan.candidates(no_tuning), 40) == []


def test_trunks_are_listed_only_when_asked() -> None:
    assert not any(spec.trunk_of for spec in list_backbones("image"))
    trunks = {spec.name: spec.trunk_of for spec in list_backbones("image", trunks=True) if spec.trunk_of}
    assert trunks["efficientnet-lite0:trunk"] == "efficientnet-lite0" and "tiny-image:trunk" in trunks
    assert trunk_name("minilm-l6") == "minilm-l6:trunk" and trunk_name("minilm-l6:trunk") == "minilm-l6:trunk"
    assert trunk_name("e5-small") is None and frozen_name("minilm-l6:trunk") == "minilm-l6"
    with pytest.raises(ValueError, match="'e5-small' has no fine-tunable tail; backbones that can be fine-tuned"):
        get_tail("e5-small")


@pytest.mark.parametrize("modality", ["image", "text"])
def test_training_lowers_the_loss_and_repeats_exactly(modality: str) -> None:
    x, y = clusters(get_backbone(f"tiny-{modality}:trunk").spec.dim, n=16, spread=2.0)
    head = FineTune(backbone=f"tiny-{modality}:trunk", blind_epochs=6, batch_size=8).fit(x, y, 2, 3)
    assert head.recipe == ("setfit" if modality == "text" else "classify")
    losses = [record["train_loss"] for record in head.history_]
    assert len(losses) == 6 and losses[-1] < losses[0]  # 16 examples: none held back, six blind epochs
    again = FineTune(backbone=f"tiny-{modality}:trunk", blind_epochs=6, batch_size=8).fit(x, y, 2, 3)
    assert np.array_equal(again.predict_proba(x), head.predict_proba(x))
    other = FineTune(backbone=f"tiny-{modality}:trunk", blind_epochs=6, batch_size=8).fit(x, y, 2, 4)
    assert not np.array_equal(other.predict_proba(x), head.predict_proba(x))


def test_building_a_tail_leaves_torch_generator_alone() -> None:
    from handful.learners import finetune

    x, y = clusters(64, n=16)
    params, tensors = FineTune(backbone="tiny-audio:trunk").fit(x, y, 2, 0).state()
    finetune._pretrained.cache_clear()  # loading builds the tail afresh: its modules' random init must not leak
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    learner_from_state("finetune", params, tensors)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("modality", ["image", "text"])
def test_state_round_trips_without_pickle(modality: str) -> None:
    x, y = clusters(get_backbone(f"tiny-{modality}:trunk").spec.dim, n=60, k=3)
    head = make_learner("finetune", "l2").fit(x[:45], y[:45], 3, FitContext(0, backbone=f"tiny-{modality}:trunk"))
    assert np.mean(head.predict_proba(x[45:]).argmax(axis=1) == y[45:]) >= 0.9
    params, tensors = head.state()
    assert all(isinstance(v, np.ndarray) for v in tensors.values())
    restored = learner_from_state("finetune", params, tensors)
    assert np.array_equal(restored.predict_proba(x[45:]), head.predict_proba(x[45:]))


def test_early_stopping_keeps_the_best_held_back_epoch() -> None:
    x, y = clusters(768, n=60)
    head = FineTune(backbone="tiny-image:trunk", max_epochs=8, patience=2).fit(x, y, 2, 0)
    held = [record["held_loss"] for record in head.history_]
    assert head.history_[0]["epoch"] == 0  # the frozen tail with its linear probe is scored first
    assert held[head.epochs_] == min(held) and head.epochs_run_ <= 8
    assert head.stopped_ in ("early stopping", "epoch limit")


def test_time_budget_stops_between_epochs() -> None:
    x, y = clusters(768, n=60)
    rushed = FineTune(backbone="tiny-image:trunk", max_epochs=8, patience=8, time_budget=1e-9).fit(x, y, 2, 0)
    assert rushed.epochs_run_ == 1 and rushed.stopped_ == "time budget"
    relaxed = FineTune(backbone="tiny-image:trunk", max_epochs=8, patience=8, time_budget=1e6).fit(x, y, 2, 0)
    assert relaxed.epochs_run_ == 8 and relaxed.stopped_ == "epoch limit"


def test_views_are_held_back_with_their_example() -> None:
    y = np.arange(30) % 2
    groups = np.concatenate([np.arange(30), np.repeat(np.arange(30), 3)])  # 30 originals, then 3 views each
    labels = y[groups]
    train, held = held_back_split(labels, groups, np.random.default_rng(0))
    assert np.all(held < 30)  # scored on originals only
    assert not set(groups[train]) & set(groups[held])  # no view of a held-back example is trained on
    assert len(train) + 4 * len(held) == len(groups)


def test_views_train_the_model_and_stay_deterministic() -> None:
    x, y = clusters(768, n=24)
    rng = np.random.default_rng(1)
    views = x + rng.normal(0, 0.3, x.shape).astype(np.float32)
    rows, labels = np.concatenate([x, views]), np.concatenate([y, y])
    groups = np.concatenate([np.arange(24), np.arange(24)])
    first = FineTune(backbone="tiny-image:trunk", max_epochs=3).fit(rows, labels, 2, FitContext(seed=0, groups=groups))
    second = FineTune(backbone="tiny-image:trunk", max_epochs=3).fit(rows, labels, 2, FitContext(seed=0, groups=groups))
    assert np.array_equal(first.predict_proba(x), second.predict_proba(x))


def test_pair_loss_is_zero_for_perfect_pairs_and_none_without_pairs() -> None:
    perfect = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert float(pair_loss(perfect, torch.tensor([0, 0, 1]))) == pytest.approx(0.0)
    # labels 0,1,1: the same-label pair has cosine 0 (error 1); of the two others, one has cosine 1 (error 1):
    # positive and negative pairs weigh equally, (1 + 1/2) / 2
    assert float(pair_loss(perfect, torch.tensor([0, 1, 1]))) == pytest.approx(0.75)
    assert pair_loss(perfect[:1], torch.tensor([0])) is None


def test_needs_a_trunk_backbone() -> None:
    with pytest.raises(ValueError, match="needs the trunk backbone"):
        make_learner("finetune", "l2").fit(*clusters(32), 2, 0)
    with pytest.raises(ValueError, match=r"needs the rows of a trunk backbone .* got 'tiny-image'"):
        FineTune(backbone="tiny-image").fit(*clusters(32), 2, 0)
    with pytest.raises(ValueError, match=r"none of e5-small can be fine-tuned. For text, choose one of: minilm-l6"):
        config.resolve("best", "text", "e5-small", "finetune", 5, None, None, 0)


def test_staged_search_fine_tunes_the_winning_backbone_only() -> None:
    y = np.arange(30) % 2
    good, _ = clusters(32, n=30, seed=0, spread=0.3)
    trunk, _ = clusters(768, n=30, seed=1, spread=0.3)
    noise = np.random.default_rng(2).normal(size=(30, 64)).astype(np.float32)
    features = {"tiny-image": good, "tiny-image:trunk": trunk, "tiny-audio": noise, "tiny-audio:trunk": noise}
    candidates = [Candidate("tiny-image", "linear", "l2", "test"), Candidate("tiny-audio", "linear", "l2", "test"),
                  Candidate("tiny-image:trunk", "finetune", "l2", "test"),
                  Candidate("tiny-audio:trunk", "finetune", "l2", "test")]
    search = Search(features.__getitem__, y, 2, make_folds(y, 3, 1, 0), seed=0, headroom=False)
    results = {r.candidate.backbone + " " + r.candidate.learner: r for r in search.staged(candidates)}
    assert results["tiny-image:trunk finetune"].status == "ok"
    assert results["tiny-audio:trunk finetune"].status == "skipped"
    assert "best backbone only (tiny-image)" in results["tiny-audio:trunk finetune"].message


def test_no_costly_stage_where_the_cheap_heads_leave_no_headroom() -> None:
    """Separable clusters: the linear head scores 1.0, so a costly candidate could not be told better."""
    y = np.arange(30) % 2
    good, _ = clusters(32, n=30, seed=0, spread=0.3)
    trunk, _ = clusters(768, n=30, seed=1, spread=0.3)
    features = {"tiny-image": good, "tiny-image:trunk": trunk}
    candidates = [Candidate("tiny-image", "linear", "l2", "test"), Candidate("tiny-image", "mlp", "l2", "test"),
                  Candidate("tiny-image:trunk", "finetune", "l2", "test"),
                  Candidate("tiny-image", "linear", "l2", "test", augment="light")]
    search = Search(features.__getitem__, y, 2, make_folds(y, 3, 1, 0), seed=0)
    results = {r.candidate.backbone + " " + r.candidate.learner + r.candidate.augment: r
               for r in search.staged(candidates)}
    assert results["tiny-image linear"].estimate.mean == 1.0
    for skipped in ("tiny-image mlp", "tiny-image:trunk finetune", "tiny-image linearlight"):
        assert results[skipped].status == "skipped"
        assert "already scores 1.000" in results[skipped].message


def test_classifier_fine_tunes_saves_and_loads(image_folder: Path, tmp_path: Path) -> None:
    clf = Classifier(preset="fast", backbone="tiny-image", learners=["finetune"], random_state=0, verbose=0,
                     cv_repeats=1).fit(image_folder)
    assert clf.learner_ == "finetune" and clf.backbone_ == "tiny-image:trunk"
    assert {(r["backbone"], r["learner"]) for r in clf.leaderboard_ if r["status"] == "ok"} == {
        ("tiny-image:trunk", "finetune"), ("colour-thumbnail", "linear")}
    assert clf.learning_curve_ is not None  # measured on the frozen tiny-image features, with a linear proxy
    files = sorted(image_folder.glob("*/*.png"))
    clf.save(tmp_path / "model")
    loaded = Classifier.load(tmp_path / "model")
    assert loaded.learner_ == "finetune" and loaded.backbone_ == "tiny-image:trunk"
    assert np.array_equal(loaded.predict_proba(files), clf.predict_proba(files))
    assert np.mean(clf.predict(files) == [f.parent.name for f in files]) == 1.0


def test_augmented_fine_tuning_trains_on_views_held_in_their_fold(image_folder: Path) -> None:
    clf = Classifier(preset="best", backbone="tiny-image", learners=["finetune"], random_state=0, verbose=0,
                     cv_repeats=1).fit(image_folder)
    rows = [r for r in clf.leaderboard_ if r["backbone"] == "tiny-image:trunk"]
    assert {(r["augment"] != "", r["status"]) for r in rows} == {(False, "ok"), (True, "ok")}
    files = sorted(image_folder.glob("*/*.png"))
    assert np.mean(clf.predict(files) == [f.parent.name for f in files]) == 1.0


def test_scores_of_fits_under_a_time_budget_are_not_reused(tmp_path: Path) -> None:
    from handful.selection import ScoreCache

    x, y = clusters(768, n=20)
    tuned, probe = Candidate("tiny-image:trunk", "finetune", "l2", "test"), Candidate("tiny-image", "linear", "l2",
                                                                                    "test")
    scores = ScoreCache(tmp_path, "context")
    features = {"tiny-image:trunk": x, "tiny-image": x[:, :32]}
    search = Search(features.__getitem__, y, 2, make_folds(y, 2, 1, 0), seed=0, time_budget=1e6, scores=scores)
    assert [r.status for r in search.run([tuned, probe])] == ["ok", "ok"]
    assert scores.get(tuned) is None and scores.get(probe) is not None


def test_report_shows_the_gain_of_fine_tuning_over_the_frozen_probe(image_folder: Path) -> None:
    clf = Classifier(preset="fast", backbone="tiny-image", learners=["linear", "finetune"], random_state=0,
                     verbose=0, cv_repeats=1).fit(image_folder)
    scores = {(r["backbone"], r["learner"]): r["balanced_accuracy"]["mean"] for r in clf.leaderboard_
              if r["status"] == "ok"}
    gain = scores[("tiny-image:trunk", "finetune")] - scores[("tiny-image", "linear")]
    page = clf.report_.html()
    assert '<p id="finetuning"><b>Fine-tuning</b> of tiny-image' in page
    assert f"({gain:+.3f} against the frozen tiny-image with a linear head)" in page
    assert f"<td>{gain:+.3f}</td>" in page  # the leaderboard's "gain from the remedy" cell

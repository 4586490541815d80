"""Each pool candidate's gain over the best labelled-only one, on its own leaderboard row and in the CLI's words:
a head tried with and without augmented views is two candidates, with a gain each."""

from __future__ import annotations

from handful.evaluation.metrics import Estimate
from handful.selection import leaderboard, pool_gains, pool_untried
from handful.selection.results import Candidate, Result


def scored(learner: str, mean: float, augment: str = "", kind: str = "engineered") -> Result:
    return Result(Candidate("mfcc-shape", learner, "standard", kind, augment), estimate=Estimate(mean, 0.1, 0, 1, 6))


def test_a_plain_and_an_augmented_pool_head_keep_their_own_gains() -> None:
    results = [scored("linear", 0.65), scored("self-training", 0.5625), scored("self-training", 0.55, "light-4"),
               scored("prototypes", 0.60), scored("linear", 0.40, kind="baseline")]
    gains = pool_gains(results)
    assert [(g["augment"], g["gain"]) for g in gains] == [("", -0.0875), ("light-4", -0.1)]
    assert {g["over"] for g in gains} == {"mfcc-shape + linear"}
    rows = {(r["learner"], r["augment"]): r for r in leaderboard(results, gains)}
    assert rows[("self-training", "")]["gain_over_labelled_only"] == -0.0875
    assert rows[("self-training", "light-4")]["gain_over_labelled_only"] == -0.1
    assert "gain_over_labelled_only" not in rows[("linear", "")]


def test_a_pool_whose_options_were_all_skipped_is_said_to_be_untried_not_used() -> None:
    reason = "not tried: mfcc-shape + linear already scores 1.000; on 40 examples no costlier candidate could be told"
    skipped = [Result(Candidate("mfcc-shape", name, "standard", "engineered"), status="skipped", message=reason)
               for name in ("mlp", "self-training", "label-spreading")]
    results = [scored("linear", 1.0), *skipped]
    assert pool_untried(results) == reason.removeprefix("not tried: ") and pool_gains(results) == []
    assert pool_untried([scored("linear", 1.0)]) is None  # no pool option planned: nothing to say
    assert pool_untried([*results, scored("self-training", 0.9)]) is None  # one was scored: it has a gain
    behind = Result(Candidate("mfcc-shape", "vae", "standard", "engineered"), status="stopped", message="after 3")
    assert pool_untried([*results, behind]) is None  # tried, and fell too far behind to catch up


def test_a_candidate_stopped_early_is_listed_below_every_one_scored_on_all_folds() -> None:
    stopped = Result(Candidate("e5-small", "linear", "l2", "pretrained"), estimate=Estimate(0.78, 0.1, 0, 1, 3),
                     status="stopped", message="after 3 of 25 folds")
    skipped = Result(Candidate("e5-small", "mlp", "l2", "pretrained"), status="skipped", message="not tried")
    results = [skipped, stopped, scored("linear", 0.74), scored("linear", 0.50, kind="baseline")]
    rows = leaderboard(results, [])
    # its 0.78 over 3 folds is not comparable with the 0.74 over all of them, and was not chosen
    assert [(r["backbone"], r["learner"], r["status"]) for r in rows] == [
        ("mfcc-shape", "linear", "ok"), ("mfcc-shape", "linear", "ok"), ("e5-small", "linear", "stopped"),
        ("e5-small", "mlp", "skipped")]
    assert rows[0]["kind"] == "engineered" and rows[1]["kind"] == "baseline"

"""Candidates that learn from the unlabelled pool too, their gain over the best labelled-only candidate, and the
leaderboard that shows it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from handful.learners.base import reads_pool
from handful.selection.results import Candidate, Result, uses_pool


def refit_pool(candidate: Candidate, unlabelled_for: Callable[[str], Any]) -> Any:
    """The pool's features the chosen candidate is refit with (see :func:`uses_pool`): None when it learns from
    labelled rows only; for an ensemble, each member backbone that learns from the pool mapped to its features, so
    the members that do not never embed it (measured: an ensemble of MiniLM and e5-small self-training embedded the
    512-sentence pool with MiniLM for 23 s to refit a MiniLM head that does not read it); else its backbone's."""
    if not uses_pool(candidate):
        return None
    if candidate.members:
        return {m.backbone: unlabelled_for(m.backbone) for m in candidate.members if reads_pool(m.learner)}
    return unlabelled_for(candidate.backbone)


def pool_gains(results: list[Result]) -> list[dict[str, Any]]:
    """Each scored pool candidate's mean cross-validated balanced accuracy minus that of the best candidate that
    learnt from labelled examples only (the model the search would have chosen without the pool; the baseline
    counts only if nothing else scored)."""
    scored = [r for r in results if r.status == "ok" and r.estimate is not None]
    plain = [r for r in scored if not uses_pool(r.candidate)]
    models = [r for r in plain if r.candidate.kind != "baseline"] or plain
    if not models:
        return []
    def mean(r: Result) -> float:
        return r.estimate.mean if r.estimate is not None else -1.0

    reference = max(models, key=mean)
    return [{"backbone": r.candidate.backbone, "learner": r.candidate.learner, "augment": r.candidate.augment,
             "gain": round(mean(r) - mean(reference), 6),
             "over": f"{reference.candidate.backbone} + {reference.candidate.learner}"}
            for r in scored if uses_pool(r.candidate) and r.estimate is not None]


def pool_untried(results: list[Result]) -> str | None:
    """Why no candidate that learns from the pool was tried (the first one's reason for skipping it), or None when
    one was tried (scored, or stopped for falling behind) or none was planned."""
    planned = [r for r in results if uses_pool(r.candidate)]
    if not planned or any(r.status != "skipped" for r in planned):
        return None
    return (planned[0].message or "skipped").removeprefix("not tried: ")


def leaderboard(results: list[Result], gains: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every result's row: those scored on every fold, best cross-validated balanced accuracy first, then those
    stopped early (their partial scores are not comparable), then those not scored; a pool candidate's row carries
    its ``gain_over_labelled_only`` (from :func:`pool_gains`)."""
    # a head tried with and without augmented views is two candidates with a gain each
    by_candidate = {(g["backbone"], g["learner"], g.get("augment", "")): g["gain"] for g in gains}
    rows = []
    for r in results:
        key = (r.candidate.backbone, r.candidate.learner, r.candidate.augment)
        gain = by_candidate.get(key) if uses_pool(r.candidate) else None  # a labelled-only twin has no gain
        rows.append({**r.row(), **({"gain_over_labelled_only": gain} if gain is not None else {})})
    order = {"ok": 0, "stopped": 1}

    def place(row: dict[str, Any]) -> tuple[int, float]:
        return order.get(row["status"], 2), -(row["balanced_accuracy"] or {}).get("mean", -1.0)

    return sorted(rows, key=place)

"""Candidates that learn from the unlabelled pool too, and their gain over the best labelled-only candidate."""

from __future__ import annotations

from typing import Any

from handful.learners import LEARNERS
from handful.selection.results import Candidate, Result


def uses_pool(candidate: Candidate) -> bool:
    """Whether the candidate's learner (or one of an ensemble's members) learns from unlabelled rows too."""
    names = [m.learner for m in candidate.members] if candidate.members else [candidate.learner]
    return any(name in LEARNERS and LEARNERS[name].uses_unlabelled for name in names)


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
    return [{"backbone": r.candidate.backbone, "learner": r.candidate.learner,
             "gain": round(mean(r) - mean(reference), 6),
             "over": f"{reference.candidate.backbone} + {reference.candidate.learner}"}
            for r in scored if uses_pool(r.candidate) and r.estimate is not None]

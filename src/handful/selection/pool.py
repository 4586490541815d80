"""Candidates that learn from the unlabelled pool too, and their gain over the best labelled-only candidate."""

from __future__ import annotations

from typing import Any

import numpy as np

from handful.evaluation.ood import FALSE_ALARM, OODDetector
from handful.learners import LEARNERS
from handful.selection.results import Candidate, Result

UNLIKE_Z = 3.0  # the pool's flagged share must exceed the false alarms by this many standard errors to be told ...
UNLIKE_TIMES = 2.0  # ... and be at least this many times the false alarms


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


def unlike_labelled(labelled: Any, pool: Any, backbone: str, folds: list[tuple[np.ndarray, np.ndarray]]
                    ) -> dict[str, Any]:
    """How much of the pool lies farther from every labelled example than all but ``FALSE_ALARM`` of the labelled
    examples lie from the other folds' (the out-of-distribution flag of :mod:`handful.evaluation.ood`, set on the
    labelled examples of ``backbone``), and a warning when the pool is not like them: cross-validation scores
    labelled examples only, so it cannot see how the model, or learning from the pool, does on such inputs.

    A pool like the labelled examples has about ``FALSE_ALARM`` flagged, give or take two binomial errors: the
    threshold's (a quantile of ``n`` labelled scores) and the pool's sample's. The warning needs the share above that
    by ``UNLIKE_Z`` standard errors, and at least ``UNLIKE_TIMES`` the false alarms, so a large pool's slight
    difference is not told. Measured (benchmarks/unlabelled.py): SST-2 sentences of the same export 3-6% of 1,024
    flagged; a new speaker's spoken digits against three labelled speakers, 16% of 250 and more.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> labelled = rng.normal(0, 1, (60, 8)) + 5.0
        >>> folds = [(np.flatnonzero(np.arange(60) % 3 != f), np.flatnonzero(np.arange(60) % 3 == f)) for f in range(3)]
        >>> unlike_labelled(labelled, labelled[:30] + 0.01, "b", folds)["warning"], unlike_labelled(
        ...     labelled, -labelled[:30], "b", folds)["share"]
        ('', 1.0)
    """
    detector = OODDetector.fit(labelled, folds)
    share = float(np.mean(detector.flag(pool)))
    alarm = detector.false_alarm
    error = np.sqrt(alarm * (1 - alarm) * (1 / (len(detector.reference) + 1) + 1 / max(len(pool), 1)))
    told = share > max(alarm + UNLIKE_Z * error, UNLIKE_TIMES * alarm)
    warning = "" if not told else (
        f"{share:.0%} of the unlabelled pool is unlike every labelled example (in {backbone}, {FALSE_ALARM:.0%} "
        "of labelled examples would be): cross-validation scores labelled examples only, so it cannot tell how "
        "the model does on inputs like these, or whether learning from the pool helps with them. Label some of "
        "them (handful suggest MODEL POOL picks which) to find out")
    return {"backbone": backbone, "share": share, "false_alarm": FALSE_ALARM, "n": int(len(pool)),
            "warning": warning}

"""The search: candidates scored on shared folds within a time budget, cheap heads first."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handful.backbones.registry import frozen_name
from handful.learners import LEARNERS
from handful.selection.folds import Folds, Views, cross_validate
from handful.selection.results import Candidate, Result, best
from handful.selection.scores import ScoreCache

logger = logging.getLogger(__name__)


@dataclass
class Search:
    """Scores candidates on fixed folds: what every candidate shares (features, labels, folds, budget, caches).

    The time budget counts from the search's creation; once it is spent no new candidate starts, except that the
    baseline and the first other candidate always run, so a deep model and the baseline are always compared.
    ``views_for(backbone, augment)`` gives the augmented views (features, owner) of a candidate with ``augment``.
    """

    features_for: Callable[[str], Any]
    y: np.ndarray
    n_classes: int
    folds: Folds
    seed: int
    time_budget: float | None = None
    on_result: Callable[[Result], None] | None = None
    n_jobs: int = 1
    scores: ScoreCache | None = None
    views_for: Callable[[str, str], Views] | None = None
    started: float = field(default_factory=time.perf_counter)
    groups_done: set[str] = field(default_factory=set)

    def _report(self, result: Result) -> Result:
        if self.on_result is not None:
            self.on_result(result)
        return result

    def score(self, candidate: Candidate) -> Result:
        group = "baseline" if candidate.kind == "baseline" else "model"
        elapsed = time.perf_counter() - self.started
        if self.time_budget is not None and elapsed > self.time_budget and group in self.groups_done:
            return Result(candidate, status="skipped", message=f"time budget of {self.time_budget:.0f} s reached")
        try:
            result = self.scores.get(candidate) if self.scores is not None else None
            if result is None:
                features = self.features_for(candidate.backbone)
                views = None
                if candidate.augment:
                    if self.views_for is None:
                        raise ValueError("an augmented candidate needs Search.views_for")
                    views = self.views_for(candidate.backbone, candidate.augment)
                tunes = candidate.learner in LEARNERS and LEARNERS[candidate.learner].tunes_backbone
                budget = self.fit_budget() if tunes else None
                result = cross_validate(candidate, features, self.y, self.n_classes, self.folds, self.seed,
                                        self.n_jobs, views, budget)
                # Fits that a time budget may have cut short depend on the machine's speed: never reused.
                if self.scores is not None and budget is None:
                    self.scores.put(result, float(np.mean([len(t) for _, t in self.folds]) / len(self.y)))
        except Exception as error:  # one broken candidate must not sink the search
            logger.warning("candidate %s + %s failed: %s", candidate.backbone, candidate.learner, error)
            return Result(candidate, status="failed", message=f"{type(error).__name__}: {error}")
        self.groups_done.add(group)
        return result

    def fit_budget(self) -> float | None:
        """Seconds each fit of a fine-tuning candidate may take: what is left of the budget over the folds."""
        if self.time_budget is None:
            return None
        left = self.time_budget - (time.perf_counter() - self.started)
        return max(left, 0.0) / max(len(self.folds), 1)

    def run(self, candidates: list[Candidate]) -> list[Result]:
        """Score candidates in order (most promising first)."""
        return [self._report(self.score(candidate)) for candidate in candidates]

    def staged(self, candidates: list[Candidate]) -> list[Result]:
        """Two stages, as successive halving does: cheap heads (``Learner.cheap``: linear, prototypes) on every
        backbone and the baseline first; then the costly heads (MLP, cosine, fused features, fine-tuning on the
        backbone's trunk) only on the backbone whose cheap heads scored best. The others are listed as not tried,
        with the reason. Augmented candidates come last (see :meth:`augmented`)."""
        plain = [c for c in candidates if not c.augment]
        first = [c for c in plain if _cheap(c.learner) and "+" not in c.backbone]
        rest = [c for c in plain if c not in first]
        results = self.run(first)
        scored = [r for r in results if r.status == "ok" and r.candidate.kind != "baseline"]
        if not scored or len({frozen_name(c.backbone.split("+")[0]) for c in rest}) <= 1:
            results += self.run(rest)
            return results + self.augmented([c for c in candidates if c.augment], results)
        top = best(scored, self.y).candidate.backbone
        chosen = [c for c in rest if frozen_name(c.backbone.split("+")[0]) == top]
        results += self.run(chosen)
        message = f"costly heads are tried on the best backbone only ({top})"
        results += [self._report(Result(c, status="skipped", message=message)) for c in rest if c not in chosen]
        return results + self.augmented([c for c in candidates if c.augment], results)

    def augmented(self, candidates: list[Candidate], results: list[Result]) -> list[Result]:
        """The last stage: augmented candidates on the best backbone only, for the linear head and the best head
        there, so augmentation costs a bounded time. The others are left off the leaderboard (not tried)."""
        scored = [r for r in results if r.status == "ok" and r.candidate.kind != "baseline"
                  and "+" not in r.candidate.backbone]
        if not candidates or not scored:
            return []
        leader = best(scored, self.y).candidate
        wanted = [c for c in candidates if c.backbone == leader.backbone and c.learner in ("linear", leader.learner)]
        if len(wanted) < len(candidates):
            logger.info("augmentation is tried on %s with %s only", leader.backbone,
                        " and ".join(sorted({c.learner for c in wanted})) or "no head")
        return self.run(wanted)


def _cheap(learner: str) -> bool:
    return learner in LEARNERS and LEARNERS[learner].cheap

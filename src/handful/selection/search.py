"""The search: candidates scored on shared folds within a time budget, cheap heads first."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from handful.backbones.features import is_fused, parts_of
from handful.backbones.registry import frozen_name
from handful.evaluation.metrics import corrected_error
from handful.learners import LEARNERS, FitContext
from handful.selection.executor import Executor
from handful.selection.folds import (
    FoldJob,
    Folds,
    Views,
    fold_probabilities,
    repetition_ends,
    score_folds,
    test_fraction,
)
from handful.selection.plan import first_stage
from handful.selection.results import Candidate, Result, best, uses_pool
from handful.selection.scores import ScoreCache

logger = logging.getLogger(__name__)


@dataclass
class Search:
    """Scores candidates on fixed folds: what every candidate shares (features, labels, folds, budget, caches).

    The time budget counts from the search's creation; once it is spent no new candidate starts, except that the
    baseline and the first other candidate always run, so a deep model and the baseline are always compared.
    ``views_for(backbone, augment)`` gives the augmented views (features, owner) of a candidate with ``augment``;
    ``unlabelled_for(backbone)`` the unlabelled pool's features, for candidates whose learner uses them.

    With ``race`` (the default) the candidates race, as successive halving does over folds: they are scored a
    few folds at a time (see :func:`race_checkpoints`), and a candidate whose paired fold differences to the
    leader on the same folds say it cannot close the gap (see :func:`cannot_close`) stops there, with status
    ``"stopped"`` and the score of the folds it ran. A stopped candidate could not have been chosen; one that
    runs every fold scores exactly as without racing; the baseline always runs every fold.

    With ``adaptive`` (the default) the folds' repetitions adapt to the noise of the estimate: the first candidates
    scored stop repeating once another repetition could not make the leader's estimate more certain (see
    :func:`repeats_settled`), and every later candidate is scored on the same, shorter list, :attr:`folds`.
    """

    features_for: Callable[[str], Any]
    y: np.ndarray
    n_classes: int
    folds: Folds
    seed: int
    time_budget: float | None = None
    on_result: Callable[[Result], None] | None = None
    executor: Executor | None = None
    scores: ScoreCache | None = None
    views_for: Callable[[str, str], Views] | None = None
    unlabelled_for: Callable[[str], Any] | None = None
    started: float = field(default_factory=time.perf_counter)
    groups_done: set[str] = field(default_factory=set)
    race: bool = True
    finished: list[Result] = field(default_factory=list)
    groups: np.ndarray | None = None  # the group of each example (None: each its own); reaches every fit
    pool_rows: int = 0  # inputs in the unlabelled pool (see staged: where its cheap heads run)
    headroom: bool = True  # skip the costly stage when the cheap heads leave no gain CV could see
    adaptive: bool = True  # stop repeating the folds once another repetition would not narrow the estimate
    settled: bool = False  # whether the number of folds is fixed (once the first candidates are scored)

    def _report(self, result: Result) -> Result:
        if self.on_result is not None:
            self.on_result(result)
        return result

    def _plan(self, candidate: Candidate) -> Result | FoldJob:
        """The candidate's result when it needs no fitting (skipped, cached, or failed to get its features), else
        the job that scores it."""
        group = "baseline" if candidate.kind == "baseline" else "model"
        elapsed = time.perf_counter() - self.started
        if self.time_budget is not None and elapsed > self.time_budget and group in self.groups_done:
            return Result(candidate, status="skipped", message=f"time budget of {self.time_budget:.0f} s reached")
        try:
            cached = self._same_folds(self.scores.get(candidate)) if self.scores is not None else None
            if cached is not None:
                self.groups_done.add(group)
                self.finished.append(cached)
                return cached
            features = self.features_for(candidate.backbone)
            views = None
            if candidate.augment:
                if self.views_for is None:
                    raise ValueError("an augmented candidate needs Search.views_for")
                views = self.views_for(candidate.backbone, candidate.augment)
            tunes = candidate.learner in LEARNERS and LEARNERS[candidate.learner].tunes_backbone
            pool = self.unlabelled_for(candidate.backbone) if self.unlabelled_for is not None \
                and uses_pool(candidate) else None
            context = FitContext(self.seed, groups=self.groups, time_budget=self.fit_budget() if tunes else None,
                                 unlabelled=pool)
            return FoldJob(candidate, features, self.y, self.n_classes, views, context)
        except Exception as error:  # one broken candidate must not sink the search
            return self._failed(candidate, error)

    def _same_folds(self, cached: Result | None) -> Result | None:
        """A cached result when it was scored on this search's folds: all of them, or (when adaptive, before the
        number of folds is settled) the first repetitions, where an earlier run of the same search stopped
        repeating."""
        if cached is None or len(cached.balanced) == len(self.folds):
            self.settled = self.settled or cached is not None
            return cached
        if not self.adaptive or self.settled or len(cached.balanced) not in repetition_ends(self.folds, len(self.y)):
            return None  # scored on other folds: score again
        self.folds, self.settled = self.folds[: len(cached.balanced)], True
        return cached

    def _failed(self, candidate: Candidate, error: BaseException) -> Result:
        logger.warning("candidate %s + %s failed: %s", candidate.backbone, candidate.learner, error)
        return Result(candidate, status="failed", message=f"{type(error).__name__}: {error}")

    def _score(self, jobs: list[FoldJob]) -> list[Result]:
        """Cross-validate jobs side by side (all their folds go to the executor at once)."""
        try:
            probas, seconds, stopped = self._race(jobs)
        except Exception:  # a task failed: score each job alone, so only the broken candidate fails
            if len(jobs) == 1:
                raise
            return [r for job in jobs for r in self._score_alone(job)]
        results = []
        for index, (job, found, spent) in enumerate(zip(jobs, probas, seconds, strict=True)):
            if index in stopped:
                results.append(stopped[index])
                continue
            result = score_folds(job.candidate, found, self.y, self.n_classes, self.folds, spent)
            self.finished.append(result)
            # Fits that a time budget may have cut short depend on the machine's speed: never reused.
            if self.scores is not None and job.context.time_budget is None:
                self.scores.put(result, self._test_fraction())
            self.groups_done.add("baseline" if job.candidate.kind == "baseline" else "model")
            results.append(result)
        return results

    def _race(self, jobs: list[FoldJob]) -> tuple[list[list[np.ndarray]], list[float], dict[int, Result]]:
        """Each job's per-fold probabilities and fitting seconds, fold group by fold group; after each group the
        jobs that cannot catch the leader stop (their results, status ``"stopped"``, keyed by job index)."""
        n = len(self.folds)
        repetitions = repetition_ends(self.folds, len(self.y))
        adapt = self.adaptive and not self.settled and len(repetitions) > MIN_REPEATS
        ends = race_checkpoints(self.folds, len(self.y)) if self.race else repetitions if adapt else [n]
        probas: list[list[np.ndarray]] = [[] for _ in jobs]
        seconds = [0.0] * len(jobs)
        stopped: dict[int, Result] = {}
        live = list(range(len(jobs)))
        start = 0
        for end in ends:
            spent: list[float] = []
            # Fold i keeps seed + i, so a candidate that runs every fold scores exactly as it would unraced.
            found = fold_probabilities([jobs[j] for j in live], self.folds[start:end], self.executor,
                                       seeds=[jobs[live[0]].context.seed + i for i in range(start, end)],
                                       seconds=spent)
            for j, more, took in zip(live, found, spent, strict=True):
                probas[j] += more
                seconds[j] += took
            start = end
            if end == n:
                break
            partial = {j: score_folds(jobs[j].candidate, probas[j], self.y, self.n_classes, self.folds[:end],
                                      seconds[j]) for j in live}
            rivals = list(partial.values()) + [r for r in self.finished if len(r.balanced) == n]
            leader = max(rivals, key=lambda r: float(np.mean(r.balanced[:end])))
            if adapt and end in repetitions and repeats_settled(leader.balanced[:end], repetitions,
                                                                 self._test_fraction()):
                logger.info("folds repeated %d of %d times: another repetition would not make %s + %s's estimate "
                            "more certain", repetitions.index(end) + 1, len(repetitions),
                            leader.candidate.backbone, leader.candidate.learner)
                self.folds = self.folds[:end]  # every candidate from here on is scored on these folds
                break
            for j, result in partial.items():
                if result.candidate.kind == "baseline" or result is leader or not self.race:
                    continue
                if cannot_close(result.balanced, leader.balanced[:end], self._test_fraction()):
                    result.status, result.oof_proba = "stopped", None  # partial: never a winner nor a member
                    result.message = (
                        f"after {end} of {n} folds: {np.mean(result.balanced):.3f} against "
                        f"{np.mean(leader.balanced[:end]):.3f} for {leader.candidate.backbone} + "
                        f"{leader.candidate.learner} on the same folds, too far behind to catch up")
                    logger.info("%s + %s stopped %s", result.candidate.backbone, result.candidate.learner,
                                result.message)
                    stopped[j] = result
            live = [j for j in live if j not in stopped]
            if not live:
                break
        self.settled = True
        return probas, seconds, stopped

    def _test_fraction(self) -> float:
        return test_fraction(self.folds, len(self.y))

    def _score_alone(self, job: FoldJob) -> list[Result]:
        try:
            return self._score([job])
        except Exception as error:  # one broken candidate must not sink the search
            return [self._failed(job.candidate, error)]

    def score(self, candidate: Candidate) -> Result:
        """One candidate's cross-validated result (skipped when the time budget is spent, failed with the reason)."""
        return self.run([candidate], report=False)[0]

    def fit_budget(self) -> float | None:
        """Seconds each fit of a fine-tuning candidate may take: what is left of the budget over the folds."""
        if self.time_budget is None:
            return None
        left = self.time_budget - (time.perf_counter() - self.started)
        return max(left, 0.0) / max(len(self.folds), 1)

    def run(self, candidates: list[Candidate], report: bool = True) -> list[Result]:
        """Score candidates (most promising first). Without a time budget they run side by side on the executor;
        with one, one after the other, so the budget is checked before each starts."""
        results: list[Result] = []
        waves = [candidates] if self.time_budget is None else [[c] for c in candidates]
        for wave in waves:
            planned = [self._plan(c) for c in wave]
            jobs = [p for p in planned if isinstance(p, FoldJob)]
            scored = iter(self._score_alone(jobs[0]) if len(jobs) == 1 else self._score(jobs) if jobs else [])
            for found in planned:
                result = next(scored) if isinstance(found, FoldJob) else found
                results.append(self._report(result) if report else result)
        return results

    def staged(self, candidates: list[Candidate]) -> list[Result]:
        """Two stages, as successive halving does: cheap heads (``Learner.cheap``: linear, prototypes) on every
        backbone and the baseline first; then the costly heads (MLP, cosine, fused features, fine-tuning on the
        backbone's trunk) only on the backbone whose cheap heads scored best (of those that learn from labelled
        examples only, so an unlabelled pool adds candidates but never moves the labelled search). Cheap heads that
        learn from the pool join the first stage only where the pool is no larger than the labelled set. The others are
        listed as not tried, with the reason. Augmented candidates come last (see :meth:`augmented`). When the cheap
        heads leave no headroom (see :func:`no_headroom`), the costly stage and augmentation are listed as not
        tried, with the reason: no candidate there could be told better than the leader."""
        plain = [c for c in candidates if not c.augment]
        augmented = [c for c in candidates if c.augment]
        # A cheap pool head (align) needs the pool embedded on every backbone: worth it where the pool is no larger
        # than the labelled set (a few new speakers' clips: it then costs at most what the labelled examples did).
        # A larger pool is embedded on the leader's backbone only, its heads tried with the costly ones: with 8
        # SST-2 sentences a class, e5-small alone takes about 20 s to embed the 500-sentence pool (18-35 sentences
        # a second here), several times the labelled fit.
        first = first_stage(plain, small_pool=self.pool_rows <= len(self.y))
        rest = [c for c in plain if c not in first]
        results = self.run(first)
        scored = [r for r in results if r.status == "ok" and r.candidate.kind != "baseline"]
        # The costly stage follows the labelled-only leader: a cheap pool head (align) leading on another backbone
        # would move fine-tuning there too. Measured (digits, held out jackson): aligned AISFX led, and the fit
        # with the pool took 488 s against 48 s without it.
        scored = [r for r in scored if not uses_pool(r.candidate)] or scored
        leader = best(scored, self.y, self._test_fraction()) if scored else None
        spare = self._no_headroom(leader) if leader is not None else ""
        if leader is not None and spare:
            top = leader.candidate.backbone
            listed = [c for c in rest + augmented  # as the costly stage would have tried them
                      if frozen_name(parts_of(c.backbone)[0]) == top and (not c.augment or c.learner == "linear")]
            return results + [self._report(Result(c, status="skipped", message=spare)) for c in listed]
        if leader is None or len({frozen_name(parts_of(c.backbone)[0]) for c in rest}) <= 1:
            results += self.run(rest)
            return results + self.augmented(augmented, results)
        top = leader.candidate.backbone
        chosen = [c for c in rest if frozen_name(parts_of(c.backbone)[0]) == top]
        results += self.run(chosen)
        message = f"costly heads are tried on the best backbone only ({top})"
        results += [self._report(Result(c, status="skipped", message=message)) for c in rest if c not in chosen]
        return results + self.augmented(augmented, results)

    def _no_headroom(self, leader: Result) -> str:
        """Why the costly heads, fine-tuning and augmented views are not worth their cost after ``leader`` (see
        :func:`no_headroom`), or ``""`` when they are (or :attr:`headroom` is off)."""
        if not self.headroom or leader.estimate is None or not no_headroom(leader.estimate.mean, len(self.y)):
            return ""
        logger.info("costly heads, fine-tuning and augmentation skipped: %s + %s already scores %.3f",
                    leader.candidate.backbone, leader.candidate.learner, leader.estimate.mean)
        return (f"not tried: {leader.candidate.backbone} + {leader.candidate.learner} already scores "
                f"{leader.estimate.mean:.3f}; on {len(self.y)} examples no costlier candidate could be told better")

    def augmented(self, candidates: list[Candidate], results: list[Result]) -> list[Result]:
        """The last stage: augmented candidates on the best backbone only, for the linear head and the best head
        there, so augmentation costs a bounded time. The others are left off the leaderboard (not tried)."""
        scored = [r for r in results if r.status == "ok" and r.candidate.kind != "baseline"
                  and not is_fused(r.candidate.backbone)]
        if not candidates or not scored:
            return []
        # on the labelled-only leader's backbone, as the costly stage (see staged), with the best head there
        plain = [r for r in scored if not uses_pool(r.candidate)] or scored
        top = best(plain, self.y, self._test_fraction()).candidate.backbone
        leader = best([r for r in scored if r.candidate.backbone == top], self.y, self._test_fraction()).candidate
        wanted = [c for c in candidates if c.backbone == leader.backbone and c.learner in ("linear", leader.learner)]
        if len(wanted) < len(candidates):
            logger.info("augmentation is tried on %s with %s only", leader.backbone,
                        " and ".join(sorted({c.learner for c in wanted})) or "no head")
        return self.run(wanted)


RACE_T = 2.0  # corrected standard errors: a candidate stops when even this optimistic bound is below the leader
RACE_MIN_FOLDS = 3
MIN_REPEATS = 2  # repetitions before the split's own noise can be measured
REPEAT_NOISE = 0.25  # the split's noise, as a share of the estimate's corrected error, below which repeating stops


def repeats_settled(scores: list[float], ends: list[int], test_fraction: float) -> bool:
    """Whether the repetitions so far (``scores`` per fold, repetitions ending at ``ends``) are enough: another
    would not make the estimate more certain.

    Repeating k-fold with new shuffles averages out one source of noise, which split the examples fell in; it
    cannot average out the other, that each fold's model learnt from a sample of the examples, which the
    Nadeau-Bengio corrected standard error counts. So once at least ``MIN_REPEATS`` repetitions agree (the
    standard error of their means is at most ``REPEAT_NOISE`` of the corrected error of all folds), repeating
    stops. Where the repetitions disagree, as they do on a few dozen examples, they go on to the planned number.

    Example:
        >>> settled = [0.80, 0.75, 0.85, 0.80, 0.80, 0.85, 0.75, 0.80, 0.80, 0.80]
        >>> repeats_settled(settled, [5, 10], 0.2), repeats_settled(settled[:5] + [0.6] * 5, [5, 10], 0.2)
        (True, False)
    """
    done = [end for end in ends if end <= len(scores)]
    if len(done) < MIN_REPEATS:
        return False
    bounds = [0, *done]
    means = [float(np.mean(scores[a:b])) for a, b in zip(bounds, bounds[1:], strict=False)]
    split = float(np.std(means, ddof=1)) / np.sqrt(len(means))
    return bool(split <= REPEAT_NOISE * corrected_error(scores[: done[-1]], test_fraction))


def race_checkpoints(folds: Folds, n: int) -> list[int]:
    """Where racing candidates are compared: after 3 folds of the first repetition, then after each repetition
    (a repetition ends where every example has been tested once more); the last is ``len(folds)``.

    Example:
        >>> folds = [(np.arange(8), np.arange(8, 10))] * 10  # stand-ins: 5 folds of 2, twice, over 10 examples
        >>> race_checkpoints(folds, 10)
        [3, 5, 10]
    """
    ends = repetition_ends(folds, n)
    first = ends[0] if ends else len(folds)
    points = ([RACE_MIN_FOLDS] if first > RACE_MIN_FOLDS + 1 else []) + ends
    return sorted({p for p in points if 0 < p < len(folds)} | {len(folds)})


def cannot_close(mine: list[float], leader: list[float], test_fraction: float) -> bool:
    """Whether a candidate's deficit to the leader on the same folds is beyond noise: the mean paired difference
    plus ``RACE_T`` Nadeau-Bengio corrected standard errors (folds share training rows) is still below zero.

    Example:
        >>> cannot_close([0.6, 0.65, 0.6, 0.62], [0.9, 0.95, 0.9, 0.92], 0.2)
        True
        >>> cannot_close([0.6, 0.65, 0.6, 0.62], [0.62, 0.6, 0.66, 0.6], 0.2)
        False
    """
    difference = np.asarray(mine, dtype=float) - np.asarray(leader[: len(mine)], dtype=float)
    if len(difference) < RACE_MIN_FOLDS:
        return False
    return bool(difference.mean() + RACE_T * corrected_error(difference, test_fraction) < 0)


HEADROOM_Z = 2.0


def no_headroom(score: float, n: int) -> bool:
    """Whether a candidate that halves the leader's errors would still be within ``HEADROOM_Z`` binomial standard
    errors of it on ``n`` examples: then cross-validation could not tell it better, and a costly candidate
    (an MLP or cosine head, fused features, fine-tuning the backbone, augmented views) would cost minutes to
    change the choice only by chance. Measured
    (benchmarks/more_from_few.py): fine-tuning and augmentation gain at most 0.04 on the shared sets, and nothing
    on ants/bees, where Lite2's linear head already scores 0.98.

    Example:
        >>> no_headroom(0.978, 245), no_headroom(0.80, 128), no_headroom(0.70, 16)
        (True, False, True)
    """
    error = 1.0 - float(score)
    if n <= 0 or error <= 0:
        return n > 0
    return bool(error / 2 <= HEADROOM_Z * np.sqrt(error * (1 - error) / n))

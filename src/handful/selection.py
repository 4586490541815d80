"""Candidates (backbone x learner) scored on the same repeated stratified folds; the leaderboard; the winner.

Every candidate sees identical folds, so their scores are paired and comparable. Selection uses the mean
balanced accuracy (equal to accuracy on balanced data, honest on imbalanced data).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse

from handful.backbones.registry import frozen_name
from handful.evaluation.metrics import Estimate, balanced_accuracy, cv_estimate
from handful.learners import LEARNERS, Learner, make_learner
from handful.learners.finetune import FineTune

logger = logging.getLogger(__name__)

Folds = list[tuple[np.ndarray, np.ndarray]]


@dataclass
class Candidate:
    backbone: str
    learner: str
    scaling: str
    kind: str  # "pretrained", "baseline" or "test"
    augment: str = ""  # an Augmentation key: trained on augmented views of each training example as well


@dataclass
class Result:
    """One candidate's cross-validated scores (per fold), their estimate and its out-of-fold probabilities."""

    candidate: Candidate
    balanced: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    estimate: Estimate | None = None
    accuracy_estimate: Estimate | None = None
    seconds: float = 0.0
    status: str = "ok"
    message: str = ""
    oof_proba: np.ndarray | None = None

    def row(self) -> dict[str, Any]:
        return {
            "backbone": self.candidate.backbone,
            "learner": self.candidate.learner,
            "kind": self.candidate.kind,
            "augment": self.candidate.augment,
            "status": self.status,
            "message": self.message,
            "balanced_accuracy": self.estimate.as_dict() if self.estimate else None,
            "accuracy": self.accuracy_estimate.as_dict() if self.accuracy_estimate else None,
            "seconds": round(self.seconds, 3),
        }


class ScoreCache:
    """Cross-validation results on disk, so re-running the same search on the same data costs nothing.

    A result is keyed by everything it depends on: the ordered example digests and labels, the folds, the seed,
    the candidate, the feature versions (backbone cache keys) and the handful version. Any change recomputes.
    """

    def __init__(self, root: Path, context: str) -> None:
        self.folder = Path(root) / "scores"
        self.context = context

    def key(self, candidate: Candidate) -> str:
        from handful import __version__
        from handful.backbones.registry import get_spec

        parts = [get_spec(p).cache_key() for p in candidate.backbone.split("+")]
        learner = candidate.learner
        recipe = LEARNERS[learner].version if learner in LEARNERS else "?"
        fields = [self.context, __version__, parts, learner if recipe == "1" else f"{learner}-v{recipe}",
                  candidate.scaling]
        text = json.dumps(fields + [candidate.augment] if candidate.augment else fields)
        return hashlib.sha256(text.encode()).hexdigest()

    def get(self, candidate: Candidate) -> Result | None:
        from safetensors import safe_open

        path = self.folder / f"{self.key(candidate)}.safetensors"
        if not path.exists():
            return None
        try:
            with safe_open(str(path), framework="numpy") as handle:
                meta = handle.metadata() or {}
                result = Result(candidate, balanced=handle.get_tensor("balanced").tolist(),
                                accuracy=handle.get_tensor("accuracy").tolist(), oof_proba=handle.get_tensor("oof"),
                                seconds=float(meta.get("seconds", 0.0)))
                fraction = float(meta["test_fraction"])
        except Exception as error:  # a damaged entry is recomputed, never trusted
            logger.warning("ignoring unreadable score cache entry %s (%s)", path, error)
            return None
        result.estimate = cv_estimate(result.balanced, fraction)
        result.accuracy_estimate = cv_estimate(result.accuracy, fraction)
        result.message = "cross-validation results reused from the cache"
        return result

    def put(self, result: Result, test_fraction: float) -> None:
        from safetensors.numpy import save_file

        if result.status != "ok" or result.oof_proba is None:
            return
        tensors = {"balanced": np.asarray(result.balanced), "accuracy": np.asarray(result.accuracy),
                   "oof": np.ascontiguousarray(result.oof_proba)}
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary = self.folder / f".{uuid.uuid4().hex}.tmp"
            save_file(tensors, str(temporary),
                      metadata={"seconds": str(result.seconds), "test_fraction": str(test_fraction)})
            os.replace(temporary, self.folder / f"{self.key(result.candidate)}.safetensors")
        except OSError as error:
            logger.warning("could not write the score cache in %s (%s)", self.folder, error)


def search_context(digests: list[str], y: np.ndarray, folds: Folds, seed: int) -> str:
    """Everything about the data and the folds that a cross-validation result depends on, as one digest."""
    digest = hashlib.sha256()
    digest.update("\n".join(digests).encode())
    digest.update(np.asarray(y, dtype=np.int64).tobytes())
    for train, test in folds:
        digest.update(np.asarray(train, dtype=np.int64).tobytes() + b"|" + np.asarray(test, dtype=np.int64).tobytes())
    digest.update(str(seed).encode())
    return digest.hexdigest()


def n_folds(y: np.ndarray, wanted: int) -> int:
    """As many folds as wanted, but no more than the smallest class has examples."""
    return int(min(wanted, np.bincount(y).min()))


def make_folds(y: np.ndarray, folds: int, repeats: int, seed: int) -> Folds:
    from sklearn.model_selection import RepeatedStratifiedKFold

    splitter = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return [(train, test) for train, test in splitter.split(np.zeros(len(y)), y)]


Views = tuple[Any, np.ndarray]  # features of augmented views, and the index of the example owning each row


def view_rows(train: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Rows of the augmented views whose example is in ``train``: the only views a fold may train on."""
    return np.flatnonzero(np.isin(owner, train))


def with_views(features: Any, y: np.ndarray, rows: np.ndarray, views: Views | None) -> tuple[Any, np.ndarray]:
    """Features and labels of examples ``rows`` followed by the augmented views of those same examples."""
    if views is None:
        return features[rows], y[rows]
    view_features, owner = views
    extra = view_rows(rows, owner)
    if scipy.sparse.issparse(features):
        stacked = scipy.sparse.vstack([features[rows], view_features[extra]]).tocsr()
    else:
        stacked = np.concatenate([np.asarray(features[rows]), np.asarray(view_features[extra])])
    return stacked, np.concatenate([y[rows], y[owner[extra]]])


def fit_learner(
    candidate: Candidate, features: Any, y: np.ndarray, n_classes: int, rows: np.ndarray, seed: int,
    views: Views | None = None, time_budget: float | None = None, verbose: int = 0,
) -> Learner:
    """The candidate's learner fitted on examples ``rows`` (and their augmented views, if any).

    A learner that fine-tunes a backbone also gets the trunk's name, ``time_budget`` (seconds), ``verbose`` and
    which rows are views of which example, so it holds back whole examples and draws views as augmentation.
    """
    learner = make_learner(candidate.learner, candidate.scaling, candidate.backbone, time_budget, verbose)
    x, labels = with_views(features, y, rows, views)
    if isinstance(learner, FineTune):
        owners = rows if views is None else np.concatenate([rows, views[1][view_rows(rows, views[1])]])
        return learner.fit(x, labels, n_classes, seed, groups=owners)
    return learner.fit(x, labels, n_classes, seed)


def _fit_fold(
    candidate: Candidate, features: Any, y: np.ndarray, n_classes: int, train: np.ndarray, test: np.ndarray, seed: int,
    views: Views | None = None, time_budget: float | None = None,
) -> np.ndarray:
    learner = fit_learner(candidate, features, y, n_classes, train, seed, views, time_budget)
    return learner.predict_proba(features[test])


def cross_validate(
    candidate: Candidate, features: Any, y: np.ndarray, n_classes: int, folds: Folds, seed: int, n_jobs: int = 1,
    views: Views | None = None, fit_budget: float | None = None,
) -> Result:
    """Fit the candidate's learner on each fold's training part and score it on the rest.

    With ``views`` (augmented views' features and the example owning each), a fold trains on its training
    examples plus the views of those examples only, and is scored on original examples only: no fold ever trains
    on an augmented copy of an example it is tested on.

    With ``n_jobs`` > 1 folds run in worker processes (joblib limits each worker's BLAS threads); results do not
    depend on ``n_jobs``. ``fit_budget`` (seconds) bounds each fit of a learner that fine-tunes a backbone.
    """
    result = Result(candidate)
    start = time.perf_counter()
    oof = np.zeros((len(y), n_classes))
    seen = np.zeros(len(y))
    if n_jobs == 1:
        probas = [_fit_fold(candidate, features, y, n_classes, tr, te, seed + i, views, fit_budget)
                  for i, (tr, te) in enumerate(folds)]
    else:
        from joblib import Parallel, delayed

        probas = Parallel(n_jobs=n_jobs)(
            delayed(_fit_fold)(candidate, features, y, n_classes, tr, te, seed + i, views, fit_budget)
            for i, (tr, te) in enumerate(folds)
        )
    for (_, test), proba in zip(folds, probas, strict=True):
        predicted = proba.argmax(axis=1)
        result.accuracy.append(float(np.mean(predicted == y[test])))
        result.balanced.append(balanced_accuracy(y[test], predicted, n_classes))
        oof[test] += proba
        seen[test] += 1
    test_fraction = float(np.mean([len(t) for _, t in folds]) / len(y))
    result.estimate = cv_estimate(result.balanced, test_fraction)
    result.accuracy_estimate = cv_estimate(result.accuracy, test_fraction)
    result.oof_proba = oof / np.maximum(seen, 1)[:, None]
    result.seconds = time.perf_counter() - start
    return result


CHEAP_LEARNERS = frozenset({"linear", "prototypes"})


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
        """Two stages, as successive halving does: cheap heads (linear, prototypes) on every backbone and the
        baseline first; then the costly heads (MLP, cosine, fused features, fine-tuning on the backbone's trunk)
        only on the backbone whose cheap heads scored best. The others are listed as not tried, with the reason.
        Augmented candidates come last (see :meth:`augmented`)."""
        plain = [c for c in candidates if not c.augment]
        first = [c for c in plain if c.learner in CHEAP_LEARNERS and "+" not in c.backbone]
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


def log_loss(result: Result, y: np.ndarray) -> float:
    """Mean out-of-fold log loss: how confident a candidate was in the right answers."""
    if result.oof_proba is None:
        return float("inf")
    return float(-np.mean(np.log(np.clip(result.oof_proba[np.arange(len(y)), y], 1e-6, 1.0))))


def best(results: list[Result], y: np.ndarray) -> Result:
    """The candidate with the highest mean balanced accuracy (the baseline only when clearly ahead).

    With few examples accuracies tie often (a 3-example fold scores 0, 1/3, 2/3 or 1); a tie goes to the lower
    out-of-fold log loss, then to the earlier candidate.
    """
    scored = [r for r in results if r.status == "ok" and r.estimate is not None]
    if not scored:
        messages = "; ".join(f"{r.candidate.backbone}+{r.candidate.learner}: {r.message}" for r in results)
        raise RuntimeError(f"no candidate could be trained ({messages})")

    def rank(r: Result) -> tuple[float, float, int]:
        return (round(r.estimate.mean, 9) if r.estimate else -1.0, -log_loss(r, y), -scored.index(r))

    winner = max(scored, key=rank)
    models = [r for r in scored if r.candidate.kind != "baseline"]
    if winner.candidate.kind == "baseline" and models:
        # The baseline is the reference to beat, and transfer from pretraining is the prior: the baseline is chosen
        # only when it is clearly better, by more than one standard error of the paired fold differences.
        challenger = max(models, key=rank)
        difference = np.asarray(winner.balanced) - np.asarray(challenger.balanced)
        error = difference.std(ddof=1) / np.sqrt(len(difference)) if len(difference) > 1 else 0.0
        if difference.mean() <= error:
            return challenger
    return winner

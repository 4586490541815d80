"""Update a registered model with more data: retrain on the old data plus the new, compare the new version with
the promoted one on the same cross-validation folds, and promote it only if it is not worse.

The comparison answers "would the new model serve at least as well as the one serving now?". The combined data
is split into the same repeated stratified folds the new search used; on every fold both are refitted: the old
version's candidate (its backbone and head) on the old examples of the fold's training part only, as the old
version was trained, and the new search's winner on all of it, old and new. Both are scored on the fold's
held-out examples that come from the old data: their labels were already trusted (the new labels are what is on
trial; a model trained on them would otherwise be judged by them). The paired per-fold differences (new - old)
decide:

    promote  when  mean difference >= -1 standard error of that mean

with the standard error corrected for the overlap of cross-validation training sets (Nadeau & Bengio, 2003), as
for every interval handful reports. "Not worse" rather than "better": more data that does not hurt is kept. The
scores on all held-out examples (old and new) are reported beside it. New examples with wrong labels pull the
new model away from the old, trusted labels, so such an update is refused and the old version keeps serving.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from handful import selection
from handful._lists import listed
from handful.artifacts.store import Registry, Version
from handful.backbones.features import Features
from handful.classifier import Classifier
from handful.data import Dataset, load
from handful.data.checks import respelt
from handful.data.groups import codes as group_codes
from handful.data.groups import resolve_groups
from handful.data.sources import read_unlabelled
from handful.evaluation.metrics import balanced_accuracy, corrected_error
from handful.learners import FitContext
from handful.selection import plan

logger = logging.getLogger(__name__)

RULE = ("promote when the mean paired difference (new - old) in balanced accuracy on the held-out old examples is "
        ">= -1 standard error (Nadeau-Bengio corrected)")


@dataclass(frozen=True)
class UpdateResult:
    """What ``update`` did: the version it compared against, the version it registered, and the comparison."""

    old: Version
    new: Version
    comparison: dict[str, Any]

    @property
    def promoted(self) -> bool:
        return self.new.promoted


def update(registry: Registry, name: str, new_data: str | Path, verbose: int = 1) -> UpdateResult:
    """Retrain ``name`` on its recorded training data plus ``new_data`` and register the result as a new version.

    Features already in the cache (the old data's) are reused: only the new examples are embedded. The new
    version is promoted only if it is not worse than the promoted one (see the module docstring); either way it is
    registered, with the comparison, so it can be inspected (``handful models show``) or promoted by hand.

    Raises:
        ValueError: no promoted version, its training data is not recorded or is gone, or the new data is unusable.

    Example:
        >>> result = update(Registry("models"), "defects", "new_photos/")  # doctest: +SKIP
        >>> result.promoted, result.comparison["mean_difference"]  # doctest: +SKIP
        (True, 0.021)
    """
    old_version = registry.get(name)
    old = Classifier.load(old_version.path)
    sources = list(old_version.sources) or list(old.data_sources_)
    fix = f"train a new version from all of it with: handful train DATA --name {name}"
    if not sources:
        raise ValueError(f"{old_version.label} does not record where its training data came from (it was trained "
                         f"from a list in Python, or by an older handful); {fix}")
    gone = [s for s in sources if not Path(s).exists()]
    if gone:
        raise ValueError(f"the training data of {old_version.label} is gone: {gone[0]} does not exist. Restore it "
                         f"there, or {fix}")
    new_source = str(Path(new_data).expanduser().resolve())
    if new_source in sources:
        raise ValueError(f"{new_data} is already training data of {old_version.label}; give a folder or table of "
                         "new examples.")
    column = getattr(old, "group_column", None)
    parts = [load(s, old.modality_, old.text_column, old.label_column, group_column=column) for s in sources]
    fresh = load(new_source, old.modality_, old.text_column, old.label_column, group_column=column)
    twins = respelt(fresh.train.labels, [str(c) for c in old.classes_])
    if twins:
        raise ValueError(f"{new_data} has labels that differ from {old_version.label}'s classes only in case or "
                         f"spacing ({listed(f'{k!r} for {v!r}' for k, v in twins.items())}): give them the model's "
                         "spelling and update again.")
    pattern = (getattr(old, "protocol_", None) or {}).get("pattern")
    if pattern:  # the old version's groups came from its file paths: the new files' groups come the same way
        for source, part in zip([*sources, new_source], [*parts, fresh], strict=True):
            found = resolve_groups(part.train, pattern, source)[0]
            part.train.groups = None if found is None else [str(g) for g in found]
    train, n_old, n_repeated = _combine([p.train for p in parts] + [fresh.train])
    if n_old == len(train):
        raise ValueError(f"{new_data} holds no example that {old_version.label} was not already trained on.")
    holdouts = [p.holdout for p in [*parts, fresh] if p.holdout is not None]
    pool, pool_sources = _pool(old, [*parts, fresh])

    clf = Classifier(**{**old.get_params(), "verbose": verbose})
    skipped = behind(old, len(train))
    clf.fit(train, unlabelled=pool, behind=skipped)
    clf.unlabelled_sources_ = pool_sources  # so the next update reads them again
    if pattern and clf.protocol_ is not None:  # so the next update reads the groups from the paths again
        clf.protocol_["pattern"] = pattern
    if holdouts:
        try:
            clf.holdout_ = clf.evaluate(_combine(holdouts)[0])
        except ValueError as error:  # nothing in it to score (all of it training copies): the update goes on
            logger.warning("the held-out set was not scored: %s", error)
    clf.data_sources_ = [*sources, new_source]
    comparison = compare(old, clf, train, np.arange(len(train)) < n_old)
    comparison.update(old_version=old_version.version, new_data=new_source, n_old=n_old,
                      n_new=len(train) - n_old, n_repeated=n_repeated,
                      full_search_n=last_full_search(old) if skipped else len(train),
                      new_classes=_new_classes(old, clf, train.labels))
    clf.update_ = comparison
    reason = comparison["reason"]
    new_version = registry.add(name, clf.save, promote=comparison["promote"], comparison=comparison,
                               reason=f"update: {reason}", replaces=old_version.version)
    if comparison["promote"] and not new_version.promoted:
        logger.warning("%s was not promoted: another version of %s was promoted while it trained", new_version.label,
                       name)
    return UpdateResult(old_version, new_version, comparison)


def _new_classes(old: Classifier, new: Classifier, labels: Sequence[str | None]) -> dict[str, dict[str, Any]]:
    """The classes ``new`` has and ``old`` had not: how many examples each has, and how often cross-validation
    recognised it (its out-of-fold recall), since the comparison on the old examples cannot see them."""
    known = {str(c) for c in old.classes_}
    per_class = (getattr(new, "oof_metrics_", None) or {}).get("per_class", {})
    names = np.asarray(labels, dtype=str)
    return {str(c): {"examples": int(np.sum(names == str(c))), "recall": (per_class.get(str(c)) or {}).get("recall")}
            for c in new.classes_ if str(c) not in known}


NARROW_UP_TO = 1.5  # examples per example of the last full search up to which an update narrows the search


def last_full_search(model: Classifier) -> int:
    """How many examples the last search that tried every candidate had: a train's, or the one recorded by the
    update that last ran a full search."""
    recorded = (getattr(model, "update_", None) or {}).get("full_search_n")
    return int(recorded) if isinstance(recorded, int) and recorded > 0 else int(model.n_examples_)


def behind(old: Classifier, n_now: int) -> set[tuple[str, str, str]]:
    """The candidates the update does not score again, as ``(backbone, learner, augment)``: those the old version's
    search planned and did not score on every fold: stopped by racing (too far behind to catch up) or not tried
    (the headroom gate, costly heads on the best backbone only, augmentation on the leader's heads only, the time
    budget). None once the data has grown past 1.5 times what the last full search had (counted from it, so a
    string of small updates cannot keep a candidate out for ever), since so much more data can change which
    candidates lead. Candidates the old search did not plan (an unlabelled pool's heads, when the pool is new) run.

    Ten percent more examples do not turn a candidate that racing stopped into the leader; scoring such candidates
    again was most of an update's time (46 s of an update of 1,500 spoken digits, against 134 s for the first
    train).
    """
    if n_now > NARROW_UP_TO * last_full_search(old):
        return set()
    scored = {(str(r["backbone"]), str(r["learner"]), str(r.get("augment") or "")) for r in old.leaderboard_ or []
              if r.get("status") == "ok"}
    planned = plan.candidates(old.config_, with_pool=bool((getattr(old, "unlabelled_", None) or {}).get("used")))
    return {(c.backbone, c.learner, c.augment) for c in planned
            if c.kind != "baseline" and (c.backbone, c.learner, c.augment) not in scored}


def _pool(old: Classifier, parts: list[Any]) -> tuple[Dataset | None, list[str]]:
    """The unlabelled pool the update learns from: the old version's (the ``unlabelled/`` folders and unlabelled
    rows of its data, and a pool given with ``--unlabelled``) plus the new data's, read again; with the given
    pools' paths. A given pool that is gone is said, and the update goes on without it."""
    pools = [p.unlabelled for p in parts if p.unlabelled is not None]
    kept = []
    for source in getattr(old, "unlabelled_sources_", []) or []:
        if not Path(source).exists():
            logger.warning("the unlabelled pool %s of the old version is gone; the update goes on without it",
                           source)
            continue
        try:
            pools.append(read_unlabelled(source, old.modality_, old.text_column))
        except (ValueError, OSError) as error:
            logger.warning("the unlabelled pool %s cannot be used (%s); the update goes on without it", source, error)
            continue
        kept.append(source)
    if not pools:
        return None, kept
    examples = [e for p in pools for e in p.examples]
    return Dataset(examples, [None] * len(examples), pools[0].modality, root=", ".join(
        [p.root for p in pools if p.root])), kept


def _combine(parts: list[Dataset]) -> tuple[Dataset, int, int]:
    """The examples of every part in order, each (content, label) pair once; with how many came from the parts
    before the last (the old data) and how many of the last part's were repeats."""
    examples, labels, problems, seen = [], [], [], set()
    groups: list[str] | None = [] if all(part.groups is not None for part in parts) else None
    n_before_last = repeated = 0
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        for position, (example, label) in enumerate(zip(part.examples, part.labels, strict=True)):
            if (example.digest, label) in seen:
                repeated += last
                continue
            seen.add((example.digest, label))
            examples.append(example)
            labels.append(label)
            if groups is not None and part.groups is not None:
                groups.append(part.groups[position])
        problems += part.problems
        if not last:
            n_before_last = len(examples)
    combined = Dataset(examples, labels, parts[-1].modality, problems, root=parts[-1].root, groups=groups)
    return combined, n_before_last, repeated


def compare(old: Classifier, new: Classifier, data: Dataset, old_examples: np.ndarray) -> dict[str, Any]:
    """Score ``old``'s candidate (trained on the old examples only) and ``new``'s on the same folds of ``data``.

    Each fold's held-out examples are scored twice: the old examples among them (labels already trusted: this
    decides) and all of them (shown beside it).

    Args:
        old: the promoted model (its backbone, head and feature scaling are refitted per fold).
        new: the model trained on all of ``data`` (its ``config_`` gives the folds and the seed).
        data: the combined training data, in the order ``new`` was fitted on.
        old_examples: a boolean mask of the examples the old model was trained on.

    Returns:
        Per-fold balanced accuracies of both, their differences, mean and standard error, and the decision.
    """
    classes = np.asarray([str(c) for c in new.classes_])
    y = np.searchsorted(classes, np.asarray(data.labels, dtype=str))
    cfg = new.config_
    groups = getattr(new, "groups_", None)  # the new version's groups (near-duplicates merged): same folds as its own
    codes = None if groups is None else group_codes(np.asarray(groups, dtype=object))
    folds = selection.make_folds(y, selection.n_folds(y, cfg.cv_folds, codes), cfg.cv_repeats, cfg.seed, groups=codes)
    features = Features(data.examples, new.cache_dir)
    features.prefetch([old.backbone_, new.backbone_])  # each example decoded once for both
    everyone = np.ones(len(y), dtype=bool)
    # The folds run as in the search: here, or side by side in worker processes once they are worth starting.
    executor = selection.make_executor(new.n_jobs, new.ray)
    old_predictions = _fold_predictions(_candidate(old), features[old.backbone_], y, folds, cfg.seed, old_examples,
                                        executor)
    new_predictions = _fold_predictions(_candidate(new), features[new.backbone_], y, folds, cfg.seed, everyone,
                                        executor)
    scored = {}
    for part, mask in (("old_examples", old_examples), ("all_examples", everyone)):
        pairs = [(balanced_accuracy(y[test][mask[test]], o[mask[test]], len(classes)),
                  balanced_accuracy(y[test][mask[test]], n[mask[test]], len(classes)))
                 for (_, test), o, n in zip(folds, old_predictions, new_predictions, strict=True) if mask[test].any()]
        scored[part] = np.asarray(pairs, dtype=np.float64).reshape(-1, 2)
    old_scores, new_scores = scored["old_examples"][:, 0], scored["old_examples"][:, 1]
    difference = new_scores - old_scores
    error = corrected_error(difference, selection.test_fraction(folds, len(y)))
    mean = float(difference.mean())
    promote = bool(mean >= -error)
    versus = (f"mean paired difference {mean:+.3f} {'>=' if promote else '<'} -{error:.3f} (1 standard error) "
              f"over {len(difference)} folds, on the held-out old examples")
    reason = (f"the new version is not worse than the promoted one: {versus}" if promote
              else f"the new version scores worse than the promoted one: {versus}; the promoted one stays")
    everything = scored["all_examples"]
    return {
        "rule": RULE,
        "old": {"backbone": old.backbone_, "learner": old.learner_, "scores": old_scores.tolist(),
                "mean": float(old_scores.mean()), "mean_all_examples": float(everything[:, 0].mean())},
        "new": {"backbone": new.backbone_, "learner": new.learner_, "scores": new_scores.tolist(),
                "mean": float(new_scores.mean()), "mean_all_examples": float(everything[:, 1].mean())},
        "difference": difference.tolist(),
        "mean_difference": mean,
        "standard_error": error,
        "mean_difference_all_examples": float((everything[:, 1] - everything[:, 0]).mean()),
        "n_folds": len(difference),
        "promote": promote,
        "reason": reason,
    }


def _candidate(clf: Classifier) -> selection.Candidate:
    """A fitted model's backbone and head as a search candidate (without augmented views: both versions are
    compared on their plain features)."""
    members = tuple(getattr(clf.head_, "members", ()))  # an ensemble refits each of its members
    return selection.Candidate(clf.backbone_, clf.learner_, clf.head_.scaling, "pretrained", members=members)


def _fold_predictions(
    candidate: selection.Candidate, features: Any, y: np.ndarray, folds: selection.Folds, seed: int,
    fit_on: np.ndarray, executor: selection.Executor | None = None,
) -> list[np.ndarray]:
    """Per fold, the predicted classes of its held-out examples by the candidate's head (a fine-tuned one included)
    fitted on the fold's training examples where ``fit_on`` (the same head and seeds as cross-validation in the
    search). Classes absent from those examples (classes the old data did not have) are never predicted, as the
    old model could not."""
    job = selection.FoldJob(candidate, features, y, int(y.max()) + 1, None, FitContext(seed))
    parts = [(train[fit_on[train]], test) for train, test in folds]
    probas = selection.fold_probabilities([job], parts, executor)[0]
    return [np.where(p.max(axis=1) > 0, p.argmax(axis=1), -1) for p in probas]  # -1: nothing to learn from


"""How long a fit will take, told before it starts: embedding what the feature cache lacks, plus the search.

A rough figure, and said to be one: the embedding term is each backbone's measured milliseconds per example on a
2-core CPU (:attr:`handful.backbones.registry.BackboneSpec.ms_per_example`) times the examples not yet in the
feature cache; the search term is a per-fold cost for each candidate (heavier for the heads that train a network,
far heavier for fine-tuning). The low end is the first stage alone (the frozen backbones and the cheap heads),
which is all a search runs when they leave no headroom (:func:`handful.selection.search.no_headroom`); the high
end is every stage. An unlabelled pool counts in the high end only: its heads are costly ones, run on one
backbone, and the pool is embedded only for them, so the high end adds the pool through the dearest backbone they
could run on. Each end is widened (0.5 and 1.5 times) for a busy machine.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from handful.backbones.cache import FeatureCache
from handful.backbones.features import parts_of
from handful.backbones.registry import frozen_name, get_spec
from handful.data.dataset import Example
from handful.learners import LEARNERS
from handful.selection.plan import first_stage
from handful.selection.results import Candidate, uses_pool

logger = logging.getLogger(__name__)
LOW, HIGH = 0.5, 1.5
FOLD_S = 0.05  # one fold of a cheap head (linear, prototypes) on a few hundred examples
FOLD_MS_PER_EXAMPLE = 0.05
HEAVY = 5.0  # heads that train a network (mlp, autoencoders) or several models (self-training)
FINETUNE_MS_PER_EXAMPLE = 3.0  # per example per epoch-ish of a fine-tuned tail, relative to the backbone's cost


@dataclass
class Estimate:
    """Seconds a fit is expected to take, as a range, and where they go."""

    low: float
    high: float
    uncached: dict[str, int] = field(default_factory=dict)  # backbone -> examples it must still embed
    embedding_s: float = 0.0
    search_s: float = 0.0
    embeddings: int = 0  # (backbone, distinct example) pairs the fit needs

    def text(self) -> str:
        """``"about 1-2 minutes"``: the range in words a person reads."""
        return f"about {span(self.low, self.high)}"


def _unit(seconds: float) -> tuple[float, str]:
    return (1, "seconds") if seconds < 60 else (60, "minutes") if seconds < 3600 else (3600, "hours")


def span(low: float, high: float) -> str:
    """``low``-``high`` seconds in the unit that suits them: ``"5-15 seconds"``, ``"1-3 minutes"``, ``"1-2 hours"``;
    ends in different units are each written in their own: ``"20 seconds to 12 minutes"``."""
    scale, unit = _unit(high)
    if _unit(low)[1] != unit and low < 0.5 * scale:
        low_scale, low_unit = _unit(low)
        lo, hi = max(1, round(low / low_scale)), max(1, math.ceil(high / scale))
        return f"{lo} {low_unit[:-1] if lo == 1 else low_unit} to {hi} {unit[:-1] if hi == 1 else unit}"
    lo, hi = max(1, round(low / scale)), max(1, math.ceil(high / scale))
    if hi <= lo:
        return f"{hi} {unit[:-1] if hi == 1 else unit}"
    return f"{lo}-{hi} {unit}"


def base_spec_ms(name: str) -> float:
    """Milliseconds per example of backbone ``name`` (a trunk costs what its backbone costs)."""
    spec = get_spec(name)
    if spec.trunk_of is not None:
        return max(spec.ms_per_example, get_spec(spec.trunk_of).ms_per_example)
    return spec.ms_per_example


def uncached_count(name: str, examples: Sequence[Example], cache_root: Path | None) -> int:
    """How many of the distinct ``examples`` backbone ``name`` has not embedded into the cache at ``cache_root``."""
    digests = {e.digest for e in examples}
    if cache_root is None:
        return len(digests)
    return len(digests - FeatureCache(cache_root, get_spec(name).cache_key()).known(digests))


def fold_seconds(candidate: Candidate, n: int) -> float:
    """Seconds to fit and score ``candidate`` on one fold of ``n`` examples (a rough per-head figure)."""
    learner = LEARNERS.get(candidate.learner)
    fold = FOLD_S + n * FOLD_MS_PER_EXAMPLE / 1000
    if learner is not None and learner.tunes_backbone:
        return fold + n * FINETUNE_MS_PER_EXAMPLE * base_spec_ms(parts_of(candidate.backbone)[0]) / 1000
    if learner is not None and not learner.cheap:
        return fold * HEAVY
    return fold


def estimate_fit(candidates: Sequence[Candidate], examples: Sequence[Example], n_folds: int,
                 cache_root: Path | None = None, views: int = 0, time_budget: float | None = None,
                 unlabelled: Sequence[Example] = ()) -> Estimate:
    """The time a search over ``candidates`` on ``examples`` with ``n_folds`` folds is expected to take.

    Args:
        candidates: what the search will score (:func:`handful.selection.plan.candidates`).
        examples: the training examples (their digests are looked up in the feature cache).
        n_folds: folds times repeats of the cross-validation.
        cache_root: the feature cache's folder, or None when there is none (everything is embedded).
        views: augmented views per example, when some candidates are augmented (each view is embedded).
        time_budget: seconds for the search, when it has a budget (candidates not started by then are skipped).
        unlabelled: the unlabelled pool's examples, when there is one (its heads learn from them too).
    """
    backbones = dict.fromkeys(part for c in candidates for part in parts_of(c.backbone))
    uncached = {name: uncached_count(name, examples, cache_root) for name in backbones}
    embedding = sum(count * base_spec_ms(name) / 1000 for name, count in uncached.items())
    small_pool = len(unlabelled) <= len(examples)
    first = first_stage(candidates, small_pool)
    plain = {part for c in first for part in parts_of(c.backbone)}
    quick = sum(count * base_spec_ms(name) / 1000 for name, count in uncached.items() if name in plain)
    quick += n_folds * sum(fold_seconds(c, len(examples)) for c in first)
    augmented = {c.backbone for c in candidates if c.augment}
    embedding += sum(views * len(examples) * base_spec_ms(parts_of(name)[0]) / 1000 for name in augmented)
    search = sum(fold_seconds(c, len(examples)) for c in first)
    costly: dict[str, float] = {}  # the search's second stage runs the costly heads on one backbone only
    for c in candidates:
        if not c.augment and c not in first:
            key = frozen_name(parts_of(c.backbone)[0])
            rows = len(examples) + (len(unlabelled) if uses_pool(c) else 0)
            costly[key] = costly.get(key, 0.0) + fold_seconds(c, rows)
    pool_backbones = {c.backbone for c in candidates if uses_pool(c)}  # fused for co-training: each part embedded
    pooled = [sum(uncached_count(part, unlabelled, cache_root) * base_spec_ms(part) for part in parts_of(name)) / 1000
              for name in pool_backbones]
    # a small pool is embedded on every backbone (its cheap heads run on each), a larger one on the leader's only
    embedding += sum(pooled) if small_pool and any(c in first for c in candidates if uses_pool(c)) \
        else max(pooled, default=0.0)
    search += max(costly.values(), default=0.0)
    twins = sorted((fold_seconds(c, len(examples) * (1 + views)) for c in candidates if c.augment), reverse=True)
    search += (twins[len(twins) // 2] + twins[-1]) if len(twins) > 1 else sum(twins)  # linear and the leader's head
    search *= n_folds
    if time_budget is not None:
        search = min(search, time_budget)
    total = embedding + search
    embeddings = len(backbones) * len({e.digest for e in examples})
    return Estimate(LOW * min(quick, total), HIGH * total, uncached, embedding, search, embeddings)


def announce(estimate: Estimate, n_candidates: int, verbose: int) -> None:
    """Tell the user (on stderr, when ``verbose``) and the log how long the fit is expected to take."""
    new = sum(estimate.uncached.values())
    cached = "none in the feature cache yet" if new == estimate.embeddings else f"{estimate.embeddings - new} cached"
    words = (f"Estimated time: {estimate.text()} (a rough estimate from {estimate.embeddings} embeddings, {cached}, "
             f"and {n_candidates} candidates to cross-validate).")
    logger.info("%s", words)
    if verbose:
        from rich.console import Console

        Console(stderr=True).print(words, highlight=False, style="dim")

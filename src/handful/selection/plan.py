"""Candidate planning: which (backbone, head) candidates a configuration asks the search to score, and in which order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from handful.backbones.features import fuse, is_fused, parts_of
from handful.backbones.registry import frozen_name, get_spec, trunk_name
from handful.config import Config
from handful.learners import LEARNERS
from handful.selection.results import Candidate, Result, uses_pool


def _refuse_nothing_to_fit(cfg: Config, with_pool: bool) -> None:
    """Heads named that cannot run alone (only the ensemble, heads that learn from an unlabelled pool when none is
    given, or co-training on one backbone) are refused with the fix: the search would otherwise fit the baseline
    alone and say nothing."""
    if any(not LEARNERS[n].combines and (with_pool or not LEARNERS[n].uses_unlabelled)
           and (not LEARNERS[n].multi_backbone or len(views(cfg)) > 1) for n in cfg.learners):
        return
    if not with_pool and any(LEARNERS[n].uses_unlabelled for n in cfg.learners):
        raise ValueError(f"{', '.join(n for n in cfg.learners if LEARNERS[n].uses_unlabelled)} learn(s) from "
                         "unlabelled inputs, and none were given: add an unlabelled/ folder beside the class folders, "
                         "rows without a label in the table, or --unlabelled DIR_OR_TABLE (Python: fit(X, y, "
                         "unlabelled=...)), or name a head that needs none (e.g. --learner linear).")
    if any(LEARNERS[n].multi_backbone for n in cfg.learners):
        raise ValueError(f"{', '.join(n for n in cfg.learners if LEARNERS[n].multi_backbone)} reads two or more "
                         "backbones side by side, and one was given: name another (e.g. --backbone e5-small "
                         "--backbone minilm-l6), or name a head that reads one (e.g. --learner self-training).")
    raise ValueError("the ensemble combines other heads' results: name them too (e.g. --learner linear --learner "
                     "prototypes --learner ensemble).")


def views(cfg: Config) -> list[str]:
    """The backbones a multi-backbone learner (co-training) reads side by side: the preset's dense ones, not the
    baseline (hashed word n-grams are sparse, and every other baseline is a view the search scores on its own)."""
    return [n for n in cfg.backbones if not is_fused(n) and get_spec(n).kind != "baseline"]


def candidates(cfg: Config, with_pool: bool = False) -> list[Candidate]:
    """The candidates to score for ``cfg``: each backbone with each head (fine-tuning on the backbone's trunk), the
    fused features where the preset fuses, augmented twins, the heads that learn from an unlabelled pool when
    there is one (``with_pool``), and the baseline, in the order they are tried.
    """
    # Pretrained first: on a tie, and when the time budget runs out, they come before the baseline.
    found = []
    _refuse_nothing_to_fit(cfg, with_pool)
    for name in cfg.backbones:
        spec = get_spec(parts_of(name)[0])
        fused = is_fused(name)
        if name == cfg.baseline and spec.kind == "baseline" and spec.modality == "text":
            if "linear" not in cfg.learners and cfg.backbones == (name,):
                raise ValueError(f"{name} gives sparse word counts, which only the linear head takes: name --learner "
                                 "linear, or a pretrained text backbone for the other heads.")
            continue  # sparse n-grams: the baseline candidate below is their one head that takes them
        for learner in cfg.learners:
            if LEARNERS[learner].combines:  # an ensemble is built from the others' results (selection.ensemble)
                continue
            if LEARNERS[learner].multi_backbone or (LEARNERS[learner].uses_unlabelled and not with_pool):
                continue  # planned on fused features below; without a pool it would be a plain head
            if LEARNERS[learner].tunes_backbone:  # fine-tuning runs on the backbone's trunk, where it has one
                trunk = None if fused else trunk_name(name)
                if trunk is not None:
                    found.append(Candidate(trunk, learner, spec.normalize, spec.kind))
                continue
            found.append(Candidate(
                name, learner, "standard" if fused else spec.normalize, "fused" if fused else spec.kind))
    for learner in (n for n in cfg.learners if LEARNERS[n].multi_backbone and with_pool and len(views(cfg)) > 1):
        found += [Candidate(fuse([first, *(n for n in views(cfg) if n != first)]), learner, "standard", "fused")
                  for first in views(cfg)]  # each backbone once the one whose model is kept
    if cfg.fusion:
        for name in cfg.backbones:
            for learner in (n for n in cfg.learners if n != "prototypes" and not LEARNERS[n].tunes_backbone
                            and not LEARNERS[n].combines and not LEARNERS[n].uses_unlabelled):
                found.append(Candidate(fuse([name, cfg.baseline]), learner, "standard", "fused"))
    augmentation = cfg.augmentation()
    if augmentation is not None:  # twins trained on augmented views too; Search.augmented picks which run
        found += [Candidate(c.backbone, c.learner, c.scaling, c.kind, augmentation.key())
                  for c in list(found) if not is_fused(c.backbone)]
    scaling = "tfidf" if cfg.modality == "text" else get_spec(cfg.baseline).normalize
    found.append(Candidate(cfg.baseline, "linear", scaling, "baseline"))
    return found


NOT_AGAIN = ("not tried in this update: the search of the version it updates found it behind (stopped by racing, "
             "or not tried); handful train tries every candidate")


def without(planned: list[Candidate], behind: Collection[tuple[str, str, str]] | None
            ) -> tuple[list[Candidate], list[Result]]:
    """The candidates of ``planned`` except those in ``behind`` (``(backbone, learner, augment)``), which come back
    as results "skipped", with the reason. The baseline always runs; candidates an earlier search did not plan
    (an unlabelled pool's heads, when the pool is new) are not in ``behind``, so they run.

    Example:
        >>> a, b = Candidate("lite0", "linear", "l2", "pretrained"), Candidate("lite0", "mlp", "l2", "pretrained")
        >>> kept, skipped = without([a, b], {("lite0", "mlp", "")})
        >>> [c.learner for c in kept], [r.candidate.learner for r in skipped]
        (['linear'], ['mlp'])
    """
    wanted = {tuple(c) for c in behind or ()}
    dropped = [c for c in planned if c.kind != "baseline" and (c.backbone, c.learner, c.augment) in wanted]
    return [c for c in planned if c not in dropped], [Result(c, status="skipped", message=NOT_AGAIN) for c in dropped]


def first_stage(planned: Iterable[Candidate], small_pool: bool = True) -> list[Candidate]:
    """The candidates of the search's first stage (:meth:`handful.selection.Search.staged`): cheap heads on plain
    features; those that learn from the unlabelled pool only where it is ``small_pool``, no larger than the labelled
    set (they need the pool embedded on every backbone)."""
    return [c for c in planned if not c.augment and not is_fused(c.backbone) and c.learner in LEARNERS
            and LEARNERS[c.learner].cheap and (small_pool or not uses_pool(c))]


def first_stage_backbones(planned: Iterable[Candidate]) -> list[str]:
    """The backbones the search's first stage embeds whatever happens (see :func:`first_stage`), so they can be
    embedded together, each example decoded once."""
    return list(dict.fromkeys(c.backbone for c in first_stage(planned)))


EXTRA_NETWORK_MS = 20.0  # a second network dearer than this per input is not run for the distance alone


def distance_backbone(chosen: str, default: str) -> str:
    """The frozen backbone a model measures its inputs' distance to the training data in (its out-of-distribution
    score): ``default`` (the preset's first backbone, where near-duplicates and clumps are found too), unless running
    it beside the chosen network would cost more than ``EXTRA_NETWORK_MS`` an input; then the chosen backbone's
    first part, frozen, when that is a pretrained network. Measured: serving a Lite2 model with its distances in
    Lite0 took 182 ms a photo at p50, in Lite2 itself 65 ms, and the other-domain photos were told apart as well
    (AUROC 0.990 and 0.987); MiniLM (4 ms a sentence) is kept beside e5-small, as it told other-domain sentences
    apart better (1.00 against 0.98).

    Example:
        >>> distance_backbone("efficientnet-lite2", "efficientnet-lite0"), distance_backbone("e5-small", "minilm-l6")
        ('efficientnet-lite2', 'minilm-l6')
    """
    first = frozen_name(parts_of(chosen)[0])
    if first == default or get_spec(default).ms_per_example <= EXTRA_NETWORK_MS:
        return default
    return first if get_spec(first).kind == "pretrained" else default


ONE_PASS_BYTES = 512 * 2**20  # trunk rows embedded beside their frozen twin are kept up to this size in all


def one_pass_trunks(planned: Iterable[Candidate], n_examples: int) -> list[str]:
    """The trunks of planned fine-tuning candidates whose frozen backbone the first stage embeds anyway and whose
    tail gives that backbone's features: embedded in the same forward pass (see
    :func:`handful.backbones.cache.embed_many`), so fine-tuning, if the search gets to it, embeds nothing again.
    While their rows for ``n_examples`` would take more than ``ONE_PASS_BYTES``, none (they are kept in memory).

    Example:
        >>> tune = Candidate("tiny-image:trunk", "finetune", "l2", "test")
        >>> one_pass_trunks([Candidate("tiny-image", "linear", "l2", "test"), tune], 100)
        ['tiny-image:trunk']
    """
    planned = list(planned)
    first = set(first_stage_backbones(planned))
    trunks = list(dict.fromkeys(c.backbone for c in planned if c.learner in LEARNERS
                                and LEARNERS[c.learner].tunes_backbone and not c.augment
                                and get_spec(c.backbone).tail_gives_frozen and frozen_name(c.backbone) in first))
    size = sum(get_spec(t).dim for t in trunks) * 4 * n_examples
    return trunks if size <= ONE_PASS_BYTES else []


def augmentation_record(cfg: Config, results: list[Result], winner: Result) -> dict[str, Any] | None:
    """What the model card says about augmentation: the settings, whether the chosen model used it, and the
    gain of each augmented candidate over the same candidate without augmentation."""
    if cfg.augment is None:
        return None
    plain = {(r.candidate.backbone, r.candidate.learner): r for r in results
             if not r.candidate.augment and r.status == "ok" and r.estimate is not None}
    gains = []
    for r in results:
        twin = plain.get((r.candidate.backbone, r.candidate.learner))
        if r.candidate.augment and r.status == "ok" and r.estimate is not None and twin and twin.estimate:
            gains.append({"backbone": r.candidate.backbone, "learner": r.candidate.learner,
                          "gain": round(r.estimate.mean - twin.estimate.mean, 6)})
    return {**cfg.augment, "used": bool(winner.candidate.augment),
            "tried": any(r.candidate.augment and r.status == "ok" for r in results), "gains": gains}

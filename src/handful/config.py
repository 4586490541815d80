"""Presets and the frozen configuration that every fit resolves and every saved model carries."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from handful.augment import Augmentation, parse_augment
from handful.backbones.registry import unknown_name_error

PRESETS: dict[str, dict[str, Any]] = {
    "fast": {
        "when": "a first look in a minute or two: the default backbone, linear and prototype heads",
        "backbones": {"image": ["efficientnet-lite0"], "text": ["minilm-l6"], "audio": ["aisfx"]},
        "learners": ["linear", "prototypes"],
        "cv_repeats": 1,
        "fusion": False,
        "augment": "off",
    },
    "best": {
        "when": "the default: every offline backbone for the modality and every head (fine-tuning the best "
                "backbone's last layers too; semi-supervised heads where there is an unlabelled pool) and a "
                "weighted ensemble of them, chosen by repeated CV",
        "backbones": {
            "image": ["efficientnet-lite0", "efficientnet-lite2"],
            "text": ["minilm-l6", "e5-small"],
            "audio": ["aisfx", "logmel-efficientnet-lite0", "resemblyzer", "mfcc-shape"],
        },
        # The pool learners run only when there is an unlabelled pool (Learner.uses_unlabelled). Co-training is
        # not among them: with it, SST-2 at 64 a class scored the same (0.827 against 0.827, 5 draws) and its
        # second backbone's pass over the pool cost a seventh of the fit (26 of 196 s on empty caches); it runs
        # when asked for (--learner co-training).
        "learners": ["linear", "mlp", "cosine", "prototypes", "finetune", "self-training", "align",
                     "label-spreading", "autoencoder", "vae", "vae-examples", "ensemble"],
        "cv_repeats": 2,
        "fusion": True,
        "augment": "light",  # tried last, on the best backbone with linear and the best head, kept only if it helps
    },
}

BASELINES = {"image": "colour-thumbnail", "text": "word-ngrams", "audio": "mfcc-stats"}
LARGE = 1000  # from this many examples one k-fold repetition already gives a stable estimate


@dataclass(frozen=True)
class Config:
    """Everything that decides how a model is trained; saved inside the model so it can be reproduced."""

    preset: str
    modality: str
    backbones: tuple[str, ...]
    learners: tuple[str, ...]
    baseline: str
    cv_folds: int
    cv_repeats: int
    time_budget: float | None
    seed: int
    fusion: bool = False
    augment: dict[str, Any] | None = None  # Augmentation.describe(modality); None: no augmented candidates

    def augmentation(self) -> Augmentation | None:
        """The augmentation that augmented candidates use, or None."""
        if not self.augment:
            return None
        return Augmentation(self.augment["strength"], frozenset(self.augment["disabled"]), int(self.augment["views"]),
                            self.augment.get("background", ""), self.augment.get("background_digest", ""))

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["backbones"], data["learners"] = list(self.backbones), list(self.learners)
        return data


def adaptive_repeats(preset_repeats: int, n_examples: int) -> int:
    """More repetitions of k-fold where data is tiny (each fit is cheap and one split says little), fewer where
    it is large (one repetition is already stable)."""
    if n_examples >= LARGE:
        return 1
    if n_examples < 50:
        return max(preset_repeats, 5)
    if n_examples < 200:
        return max(preset_repeats, 3)
    return preset_repeats


def preset(name: str) -> dict[str, Any]:
    """The preset called ``name``; an error lists the valid ones and the closest match."""
    if name not in PRESETS:
        raise unknown_name_error("preset", name, list(PRESETS))
    return PRESETS[name]


def resolve(
    preset_name: str,
    modality: str,
    backbone: str | Sequence[str] | None,
    learners: str | Sequence[str] | None,
    cv_folds: int,
    cv_repeats: int | None,
    time_budget: float | None,
    seed: int,
    n_examples: int = 0,
    augment: str | Path | Augmentation | None = None,
) -> Config:
    """Merge a preset with explicit arguments (an explicit argument always wins) and validate the result.

    ``augment`` is None (the preset decides), ``"off"``, or a setting for :func:`handful.augment.parse_augment`.
    """
    from handful.backbones.features import parts_of
    from handful.backbones.registry import get_spec, list_backbones, trunk_name
    from handful.learners import LEARNERS

    chosen = preset(preset_name)
    names = [backbone] if isinstance(backbone, str) else list(backbone or chosen["backbones"][modality])
    for name in names:
        for part in parts_of(name):  # "a+b" puts two feature sets side by side
            spec = get_spec(part)
            if spec.modality != modality:
                fits = ", ".join(s.name for s in list_backbones(modality) if s.kind != "test")
                raise ValueError(f"backbone {part!r} is for {spec.modality}, but the data is {modality}; "
                                 f"{modality} backbones: {fits}.")
    if backbone is None:  # preset backbones whose package is missing are left out, not fatal
        names = [n for n in names if all(get_spec(p).available() for p in parts_of(n))] or names[:1]
    learner_names = [learners] if isinstance(learners, str) else list(learners or chosen["learners"])
    for name in learner_names:
        if name not in LEARNERS:
            raise unknown_name_error("learner", name, list(LEARNERS))
        if learners is not None and LEARNERS[name].tunes_backbone and not any(trunk_name(n) for n in names):
            tunable = sorted(s.trunk_of or "" for s in list_backbones(modality, trunks=True) if s.trunk_of)
            raise ValueError(f"the {name!r} learner fine-tunes a backbone, and none of {', '.join(names)} can be "
                             f"fine-tuned. For {modality}, choose one of: {', '.join(tunable)}.")
    if not isinstance(cv_folds, int) or cv_folds < 2:
        raise ValueError(f"cv_folds must be an integer of at least 2, got {cv_folds!r}")
    if cv_repeats is not None and (not isinstance(cv_repeats, int) or cv_repeats < 1):
        raise ValueError(f"cv_repeats must be a positive integer or None, got {cv_repeats!r}")
    if time_budget is not None and time_budget <= 0:
        raise ValueError(f"time_budget is in seconds and must be positive, got {time_budget!r}")
    augmentation = parse_augment(chosen.get("augment", "off") if augment is None else augment)
    return Config(
        preset=preset_name,
        modality=modality,
        backbones=tuple(names),
        learners=tuple(learner_names),
        baseline=BASELINES[modality],
        cv_folds=cv_folds,
        cv_repeats=cv_repeats or adaptive_repeats(int(chosen["cv_repeats"]), n_examples),
        time_budget=time_budget,
        seed=seed,
        # Pretrained embedding + classical features side by side: for sound, MFCC statistics carry what a
        # sound-event embedding misses (phonetic detail, voice); colour histograms add nothing to an ImageNet CNN,
        # and the sparse text n-grams do not mix with dense embeddings.
        fusion=bool(chosen["fusion"]) and modality == "audio",
        augment=augmentation.validate(modality).describe(modality) if augmentation is not None else None,
    )


def jobs(n_jobs: int) -> int:
    """Processes for ``n_jobs`` (-1: one per CPU core), refusing what is not a count."""
    if not isinstance(n_jobs, int) or n_jobs == 0 or n_jobs < -1:
        raise ValueError(f"n_jobs must be a positive integer or -1 (one per CPU core), got {n_jobs!r}")
    return (os.cpu_count() or 1) if n_jobs == -1 else n_jobs


def seed_of(random_state: int | np.random.Generator | None) -> int:
    """The integer seed a fit uses for ``random_state`` (None: a fresh one; a Generator: drawn from it)."""
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(2**31 - 1))
    if random_state is None:
        return int(np.random.default_rng().integers(2**31 - 1))
    if isinstance(random_state, bool) or not isinstance(random_state, int | np.integer):
        raise TypeError(f"random_state must be None, an int or a numpy Generator, got {type(random_state).__name__}")
    return int(random_state)

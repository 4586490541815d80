"""The manifest of a saved model (``manifest.json``): written and read here only, by ``Classifier.save`` and
``load``, the model store's summaries and the server.

A manifest is plain JSON: the model's classes, backbone (each part with its preprocessing version, package and
licence), head parameters (its tensors go to ``head.safetensors``), configuration, scores, leaderboard, review
and where its data came from. :mod:`handful.artifacts.folder` writes and verifies the folder around it.
"""

from __future__ import annotations

import datetime
import logging
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from handful._version import __version__
from handful.artifacts import schema
from handful.artifacts.evaluations import read_evaluations
from handful.artifacts.folder import ModelFileError, read_model, write_model
from handful.backbones.features import parts_of
from handful.backbones.registry import get_spec
from handful.config import Config
from handful.data.labels import typed_classes
from handful.evaluation import noise
from handful.evaluation.curve import LearningCurve
from handful.evaluation.diagnosis import Diagnosis
from handful.evaluation.metrics import Estimate
from handful.evaluation.trust import Trust
from handful.learners import Learner, learner_from_state

logger = logging.getLogger(__name__)

Model = TypeVar("Model")


def save(model: Any, path: str | Path) -> Path:
    """Write fitted ``model`` (a :class:`handful.Classifier`) as a model folder at ``path``, atomically."""
    params, tensors = model.head_.state()
    parts = [get_spec(name) for name in parts_of(model.backbone_)]
    trust = getattr(model, "trust_", None)
    trust_params: dict[str, Any] | None = None
    if trust is not None:
        trust_params, trust_tensors = trust.state()
        trust_params["ood_backbone"] = model.ood_backbone_
        tensors = {**tensors, **trust_tensors}
    manifest = {
        "handful_version": __version__,
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "modality": model.modality_,
        "classes": [str(c) for c in model.classes_],
        "label_type": getattr(model, "label_type_", "str"),
        "backbone": {
            "name": model.backbone_,
            "licence": "; ".join(f"{spec.name}: {spec.licence}" for spec in parts),
            "parts": [
                {"name": spec.name, "kind": spec.kind, "version": spec.version, "package": spec.package,
                 "package_version": spec.package_version(), "licence": spec.licence,
                 "preprocessing": spec.preprocessing, "dim": spec.dim}
                for spec in parts
            ],
        },
        "learner": {"name": model.learner_, "params": params},
        "augmentation": getattr(model, "augmentation_", None),
        "unlabelled": getattr(model, "unlabelled_", None),
        "params": _jsonable_params(model.get_params()),
        "config": model.config_.as_dict(),
        "metrics": {
            "cv_balanced_accuracy": model.cv_score_.as_dict() if model.cv_score_ else None,
            "cv_accuracy": model.cv_accuracy_.as_dict() if model.cv_accuracy_ else None,
            "n_folds": model.n_folds_,
            "holdout": model.holdout_,
            "baseline": model.baseline_,
        },
        "leaderboard": model.leaderboard_,
        "label_issues": model.label_issues_,
        "learning_curve": model.learning_curve_.as_dict() if model.learning_curve_ else None,
        "diagnosis": model.diagnosis_.as_dict() if model.diagnosis_ else None,
        "out_of_fold": {"metrics": model.oof_metrics_, "misclassified": model.misclassified_},
        "data": {
            "fingerprint": model.data_fingerprint_, "n_examples": model.n_examples_,
            "class_counts": model.class_counts_, "problems": [str(p) for p in model.problems_[:1000]],
            "n_problems": len(model.problems_), "sources": getattr(model, "data_sources_", []),
            "unlabelled_sources": getattr(model, "unlabelled_sources_", []),
        },
        "update": getattr(model, "update_", None),
        "fit_seconds": round(model.fit_seconds_, 2),
        "timings": getattr(model, "timings_", None),
        "timings_cpu": getattr(model, "timings_cpu_", None),
        "trust": trust_params,
        "protocol": getattr(model, "protocol_", None),
        "leakage": getattr(model, "leakage_", None),
        "groups": getattr(model, "groups_", None),
    }
    return write_model(path, manifest, tensors)


def load(cls: type[Model], path: str | Path) -> Model:
    """Read the model folder at ``path`` into a new ``cls`` (a :class:`handful.Classifier`), checked: a missing,
    damaged or incompatible model raises :class:`ModelFileError` saying why."""
    manifest, tensors = read_model(path)
    try:
        schema.validate_manifest(manifest)
    except schema.SchemaError as error:
        raise ModelFileError(f"{path} is not a valid handful model: {error}. The folder is damaged or "
                             "was altered; retrain or restore it.") from error
    params, dropped = schema.safe_params(manifest["params"])
    if dropped:
        logger.warning("%s: ignored the saved %s (a model file does not choose places on disk)", path,
                       ", ".join(dropped))
    try:
        clf: Any = cls(**params)
        backbone = manifest["backbone"]
        parts = [(get_spec(part["name"]), part) for part in backbone["parts"]]
        head: Learner = learner_from_state(manifest["learner"]["name"], manifest["learner"]["params"], tensors)
        metrics = manifest["metrics"]
        clf.evaluations_ = read_evaluations(path)
        clf.label_type_ = manifest.get("label_type", "str")
        clf.classes_ = typed_classes(manifest["classes"], clf.label_type_)
        clf.modality_ = manifest["modality"]
        clf.backbone_ = backbone["name"]
        clf.learner_ = manifest["learner"]["name"]
        clf.augmentation_ = manifest.get("augmentation")
        clf.unlabelled_ = manifest.get("unlabelled")
        clf.augment_ = (clf.augmentation_ or {}).get("key", "") if (clf.augmentation_ or {}).get("used") else ""
        clf.head_ = head
        saved = {k: v for k, v in manifest["config"].items() if k != "extra"}  # "extra": always empty, dropped
        clf.config_ = Config(**{**saved, "backbones": tuple(saved["backbones"]), "learners": tuple(saved["learners"])})
        clf.leaderboard_ = manifest["leaderboard"]
        clf.cv_score_ = Estimate(**metrics["cv_balanced_accuracy"]) if metrics["cv_balanced_accuracy"] else None
        clf.cv_accuracy_ = Estimate(**metrics["cv_accuracy"]) if metrics["cv_accuracy"] else None
        clf.n_folds_ = metrics["n_folds"]
        clf.holdout_ = metrics["holdout"]
        clf.baseline_ = metrics["baseline"]
        data = manifest["data"]
        clf.data_fingerprint_, clf.n_examples_ = data["fingerprint"], data["n_examples"]
        clf.class_counts_ = data["class_counts"]
        clf.problems_ = data["problems"]
        clf.data_sources_ = list(data.get("sources") or [])
        clf.unlabelled_sources_ = [str(s) for s in data.get("unlabelled_sources") or []]
        clf.update_ = manifest.get("update")
        trust = manifest.get("trust")
        clf.trust_ = Trust.from_state(trust, tensors) if trust else None
        clf.ood_backbone_ = (trust or {}).get("ood_backbone")
        clf.protocol_ = manifest.get("protocol")
        clf.leakage_ = manifest.get("leakage")
        clf.groups_ = manifest.get("groups")
        clf.fit_seconds_ = manifest.get("fit_seconds", 0.0)
        clf.timings_ = manifest.get("timings") or {}
        clf.timings_cpu_ = manifest.get("timings_cpu") or {}
        clf.oof_proba_ = None
        clf.label_issues_ = manifest.get("label_issues") or noise.summarize(None, np.zeros(0), [], [])
        curve, diagnosis, out_of_fold = (manifest.get(k) for k in ("learning_curve", "diagnosis", "out_of_fold"))
        clf.learning_curve_ = LearningCurve.from_dict(curve) if curve else None
        clf.diagnosis_ = Diagnosis.from_dict(diagnosis) if diagnosis else None
        clf.oof_metrics_ = (out_of_fold or {}).get("metrics")
        clf.misclassified_ = (out_of_fold or {}).get("misclassified", [])
        dim = sum(get_spec(name).dim for name in parts_of(clf.backbone_))
        schema.check_head(head.predict_proba(np.zeros((2, dim), dtype=np.float32)), len(clf.classes_))
    except ModelFileError:
        raise
    except schema.SchemaError as error:
        raise ModelFileError(f"{path} is not a valid handful model: {error}. Retrain or restore it.") from error
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
        raise ModelFileError(
            f"{path} cannot be loaded by this handful ({type(error).__name__}: {error})."
        ) from error
    for spec, saved in parts:
        if spec.version != saved["version"]:
            raise ModelFileError(
                f"{path} was trained with {spec.name} preprocessing version {saved['version']}; this handful "
                f"has version {spec.version}. Retrain the model."
            )
        if saved.get("package_version") not in (None, spec.package_version()):
            logger.warning(
                "%s was trained with %s %s; %s is installed. Predictions may differ slightly.",
                path, spec.package, saved["package_version"], spec.package_version(),
            )
    return clf  # type: ignore[no-any-return]


def licence(manifest: dict[str, Any]) -> str:
    """The licence(s) of the backbone a manifest's model was trained on."""
    return str((manifest.get("backbone") or {}).get("licence", "unknown"))


def summarise(manifest: dict[str, Any]) -> dict[str, Any]:
    """The metrics a registry row keeps from a model manifest: scores with intervals, the choice, the data size."""
    metrics = manifest.get("metrics") or {}
    holdout = metrics.get("holdout") or None
    return {
        "cv_balanced_accuracy": metrics.get("cv_balanced_accuracy"),
        "cv_accuracy": metrics.get("cv_accuracy"),
        "holdout": {k: holdout.get(k) for k in ("accuracy", "accuracy_interval", "balanced_accuracy", "n")}
        if isinstance(holdout, dict) else None,
        "backbone": (manifest.get("backbone") or {}).get("name"),
        "learner": (manifest.get("learner") or {}).get("name"),
        "modality": manifest.get("modality"),
        "classes": manifest.get("classes"),
        "n_examples": (manifest.get("data") or {}).get("n_examples"),
    }


def _jsonable_params(params: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in params.items():
        if isinstance(value, np.random.Generator):
            value = None
        elif isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[key] = value
    return out

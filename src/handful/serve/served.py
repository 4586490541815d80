"""One model as the server holds it: the loaded classifier, its name, licence and registry version, and its lock."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

from handful.artifacts.folder import MANIFEST
from handful.classifier import Classifier
from handful.serve.schemas import Accuracy, ModelCard, ModelInfo


@dataclass
class Served:
    """One loaded model, with the lock that serialises its predictions and the licence from its manifest."""

    name: str
    clf: Classifier
    licence: str
    version: str | None = None  # the registry version ("v3"), None for a plain model folder
    lock: threading.Lock = field(default_factory=threading.Lock)

    def accuracy(self) -> Accuracy | None:
        holdout = self.clf.holdout_
        if holdout and holdout.get("accuracy") is not None:
            low, high = holdout["accuracy_interval"]
            return Accuracy(value=holdout["accuracy"], low=low, high=high, source="holdout")
        score = self.clf.cv_score_
        if score is None:
            return None
        return Accuracy(value=score.mean, low=score.low, high=score.high, source="cross-validation")

    def info(self) -> ModelInfo:
        return ModelInfo(name=self.name, modality=self.clf.modality_, classes=[str(c) for c in self.clf.classes_],
                         accuracy=self.accuracy(), version=self.version)

    def card(self) -> ModelCard:
        summary = self.clf.summary()
        metrics = {k: summary[k] for k in ("cv_balanced_accuracy", "cv_accuracy", "holdout", "baseline")}
        return ModelCard(**self.info().model_dump(), backbone=self.clf.backbone_, learner=self.clf.learner_,
                         licence=self.licence, n_examples=int(self.clf.n_examples_), metrics=metrics)


def load_served(name: str, folder: Path, version: str | None = None) -> Served:
    """Load the model in ``folder`` to serve as ``name``. Raises ModelFileError (a ValueError) if it cannot."""
    clf = Classifier.load(folder)
    clf.set_params(cache_dir=False, verbose=0)  # uploads are not kept in the feature cache
    manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    return Served(name, clf, str(manifest.get("backbone", {}).get("licence", "unknown")), version)

"""One model as the server holds it: the loaded classifier, its name, licence and registry version, and its lock."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from handful.artifacts.folder import read_manifest
from handful.artifacts.manifest import licence
from handful.backbones.features import encoder, parts_of
from handful.classifier import Classifier
from handful.serve.schemas import Accuracy, ModelCard, ModelInfo

logger = logging.getLogger(__name__)
MAX_BATCH = 64  # inputs run through the network together at most
INFERENCE = ThreadPoolExecutor(max_workers=1, thread_name_prefix="handful-inference")  # every model's batches


class Batcher:
    """Requests that wait for the same model go through the network together, as one batch.

    A caller queues its inputs and takes the model's lock; whoever holds the lock predicts everything queued by
    then (its own inputs and other callers') in one call and hands each caller its rows. While a batch runs, new
    requests queue and go together in the next one. No timer: a lone request waits for nothing. The batch itself
    runs on the one thread that runs every model of the server (``INFERENCE``): torch keeps a pool of worker threads
    per calling thread, and pools of several threads take turns badly. Measured on 2 cores: a request that landed
    on another of the server's worker threads took 31 ms a photo instead of 19 (Lite0); requests alternating
    between a photo model (Lite2) and a text model (MiniLM) took 89-92 ms a photo and 29 ms a sentence with a
    thread per model, 51-72 ms and 16-22 ms with one thread for both. The price: one model's long batch delays
    the other models' requests, as the cores would be shared anyway. If a batch fails, its requests are retried
    one by one, so only the request at fault gets the error.

    Example:
        >>> batcher = Batcher(lambda inputs: np.array([[len(x)] for x in inputs]), threading.Lock())
        >>> batcher(["ab", "c"]).tolist()
        [[2], [1]]
    """

    def __init__(self, predict: Callable[[list[Any]], np.ndarray], lock: threading.Lock,
                 max_batch: int = MAX_BATCH) -> None:
        self.predict = predict
        self.lock = lock
        self.max_batch = max_batch
        self._queue: list[_Ticket] = []
        self._queue_lock = threading.Lock()
        self.batches = 0  # how many network calls were made, for tests and metrics

    def __call__(self, inputs: Sequence[Any]) -> np.ndarray:
        ticket = _Ticket(list(inputs))
        with self._queue_lock:
            self._queue.append(ticket)
        while not ticket.done.is_set():
            with self.lock:
                if ticket.done.is_set():  # another caller's batch carried it
                    break
                with self._queue_lock:
                    batch: list[_Ticket] = []
                    size = 0
                    while self._queue and (not batch or size + len(self._queue[0].inputs) <= self.max_batch):
                        size += len(self._queue[0].inputs)
                        batch.append(self._queue.pop(0))
                self._run(batch)
        if ticket.error is not None:
            raise ticket.error
        return np.asarray(ticket.result)

    def _run(self, batch: list[_Ticket]) -> None:
        try:
            proba = np.asarray(INFERENCE.submit(self.predict, [x for t in batch for x in t.inputs]).result())
            start = 0
            for ticket in batch:
                ticket.result = proba[start : start + len(ticket.inputs)]
                start += len(ticket.inputs)
        except Exception as error:
            if len(batch) == 1:
                batch[0].error = error
            else:
                logger.info("a batch of %d requests failed (%s); retrying them one by one", len(batch), error)
                for ticket in batch:
                    self._run([ticket])
                return
        self.batches += 1
        for ticket in batch:
            ticket.done.set()


@dataclass
class _Ticket:
    inputs: list[Any]
    done: threading.Event = field(default_factory=threading.Event)
    result: np.ndarray | None = None
    error: BaseException | None = None


@dataclass
class Served:
    """One loaded model, with the lock that serialises its predictions and the licence from its manifest."""

    name: str
    clf: Classifier
    licence: str
    version: str | None = None  # the registry version ("v3"), None for a plain model folder
    lock: threading.Lock = field(default_factory=threading.Lock)
    batcher: Batcher = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.batcher = Batcher(self.clf.predict_with_distance, self.lock)

    def predict_proba(self, inputs: Sequence[Any]) -> np.ndarray:
        """Class probabilities of ``inputs``, batched with the other requests waiting for this model."""
        return self.batcher(inputs)[:, :-1]

    def predict_with_distance(self, inputs: Sequence[Any]) -> np.ndarray:
        """Class probabilities and, in a last column, the distance to the training data (batched)."""
        return self.batcher(inputs)

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
        trust = getattr(self.clf, "trust_", None)
        summary_of_trust = None if trust is None else {
            "calibration": {k: v for k, v in trust.summary["calibration"].items() if not k.startswith("reliability")},
            "sets": trust.summary["sets"], "ood": trust.summary["ood"]}
        return ModelCard(**self.info().model_dump(), backbone=self.clf.backbone_, learner=self.clf.learner_,
                         licence=self.licence, n_examples=int(self.clf.n_examples_), metrics=metrics,
                         protocol=getattr(self.clf, "protocol_", None), leakage=getattr(self.clf, "leakage_", None),
                         trust=summary_of_trust)


def load_served(name: str, folder: Path, version: str | None = None) -> Served:
    """Load the model in ``folder`` to serve as ``name``. Raises ModelFileError (a ValueError) if it cannot."""
    clf = Classifier.load(folder)
    clf.set_params(cache_dir=False, verbose=0)  # uploads are not kept in the feature cache
    ood = getattr(clf, "ood_backbone_", None)
    for part in dict.fromkeys([*parts_of(clf.backbone_), *parts_of(ood or clf.backbone_)]):
        encoder(part).load()  # the weights now, not on the first request (MiniLM: 8 s)
    return Served(name, clf, licence(read_manifest(folder)[1]), version)

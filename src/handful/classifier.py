"""``handful.Classifier``: a scikit-learn compatible estimator from a folder, a table or lists to a chosen model."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import NotFittedError as SklearnNotFittedError

from handful import _timing, config, selection
from handful._lists import listed
from handful._progress import progress_bar, scored_note, status_bar
from handful._timing import stage
from handful.artifacts import manifest, safety
from handful.backbones.features import Features, cache_root, embed_all, fuse, parts_of, stack
from handful.backbones.registry import frozen_name, get_spec
from handful.data import Dataset, summarise
from handful.data.checks import check_trainable, unknown_labels
from handful.data.groups import codes as group_codes
from handful.data.groups import known_groups, resolve_groups, sub_folder_hint
from handful.data.inputs import labelled_data, prediction_inputs, suggestion_inputs, training_data
from handful.data.labels import class_positions, label_kind, typed_classes
from handful.data.pool import gather as gather_pool
from handful.evaluation import noise
from handful.evaluation import suggest as next_to_label
from handful.evaluation.answers import answers, prediction_sets
from handful.evaluation.duplicates import merge_near_duplicates
from handful.evaluation.ood import unlike_labelled
from handful.evaluation.review import label_issues, review
from handful.evaluation.trust import Trust, fit_trust, held_out_scores
from handful.learners import LEARNERS, FitContext
from handful.selection import estimate, plan
from handful.selection.embedding import cluster_embedder
from handful.selection.leakage import chosen_leakage

logger = logging.getLogger(__name__)


class NotFittedError(SklearnNotFittedError):
    """The classifier was used before ``fit`` (or ``handful.load``)."""


class Classifier(ClassifierMixin, BaseEstimator):
    """Train the best model that a handful of labelled examples supports, and say how far to trust it.

    Candidates (pretrained backbone x head, plus a classical baseline) are scored by repeated stratified
    cross-validation; the winner is refit on all labelled data.

    Args:
        preset: ``"best"`` (every offline backbone and head) or ``"fast"`` (the default backbone, simple heads).
        backbone: a backbone name or list of names, overriding the preset (see ``handful backbones``).
        learners: head names overriding the preset: ``linear``, ``mlp``, ``cosine``, ``prototypes``, ``finetune``
            (trains the backbone's last layers too, on its trunk; see :mod:`handful.learners.finetune`).
        modality: ``"image"``, ``"text"`` or ``"audio"``; inferred from the data when ``None``.
        time_budget: seconds for the search; candidates not started by then are skipped (the baseline and the
            first pretrained candidate always run).
        cv_folds: folds per repetition (reduced to the size of the smallest class).
        cv_repeats: repetitions of the k-fold split; ``None`` takes the preset's.
        random_state: ``None``, an int or a ``numpy.random.Generator``; the same int gives the same model.
        cache_dir: where features are cached; ``None`` for the default (``~/.cache/handful``), ``False`` for none.
        n_jobs: processes scoring cross-validation folds; -1 for one per CPU core.
        ray: address of a Ray cluster (``host:port``) to score the candidates' folds on instead of local
            processes; ``None`` reads ``$HANDFUL_RAY_ADDRESS`` (unset: local). Needs ``pip install "handful[ray]"``.
        text_column, label_column: column names in a table, when they cannot be guessed.
        verbose: 0 for silence, 1 for progress bars.
        augment: label-preserving augmentation for the frozen-backbone heads: ``None`` lets the preset decide
            (``best``: ``"light"``, tried on the best backbone and kept only if cross-validation says it helps;
            ``fast``: off), ``"off"``, a strength (``"light"``, ``"medium"``, ``"strong"``), transforms to switch
            off (``"no-flip,no-rotate"``: for text in images, left/right, steering), ``"views=8"``, a mix of
            these, or a JSON/TOML file (see :func:`handful.augment.parse_augment`).
        unlabelled_cap: the most unlabelled inputs used (see ``fit``'s ``unlabelled``); beyond it a random
            ``unlabelled_cap`` of them, drawn with the seed, and the model card says so. None: 4 for each labelled
            example, at least 500 and at most 2,000 (:func:`handful.data.pool.default_cap`).
        group_column: a table's column naming each row's group (see ``fit``'s ``groups``).

    Example:
        >>> import handful
        >>> clf = handful.Classifier(preset="fast", random_state=0).fit("photos/")  # doctest: +SKIP
        >>> clf.predict(["new.jpg"])  # doctest: +SKIP
        array(['bees'], dtype=object)
    """

    def __init__(
        self,
        preset: str = "best",
        backbone: str | Sequence[str] | None = None,
        learners: str | Sequence[str] | None = None,
        modality: str | None = None,
        time_budget: float | None = None,
        cv_folds: int = 5,
        cv_repeats: int | None = None,
        random_state: int | np.random.Generator | None = None,
        cache_dir: str | Path | bool | None = None,
        text_column: str | None = None,
        label_column: str | None = None,
        n_jobs: int = -1,
        verbose: int = 1,
        augment: str | Path | None = None,
        ray: str | None = None,
        unlabelled_cap: int | None = None,
        group_column: str | None = None,
    ) -> None:
        self.preset = preset
        self.backbone = backbone
        self.learners = learners
        self.modality = modality
        self.time_budget = time_budget
        self.cv_folds = cv_folds
        self.cv_repeats = cv_repeats
        self.random_state = random_state
        self.cache_dir = cache_dir
        self.text_column = text_column
        self.label_column = label_column
        self.n_jobs = n_jobs
        self.verbose = verbose
        self.augment = augment
        self.ray = ray
        self.unlabelled_cap = unlabelled_cap
        self.group_column = group_column

    # ------------------------------------------------------------------ fitting
    def fit(self, X: Any, y: Sequence[Any] | None = None, unlabelled: Any = None,
            groups: str | Sequence[Any] | None = None, *,
            behind: Collection[tuple[str, str, str]] | None = None) -> Classifier:
        """Train on a folder of class folders, a CSV/TSV/JSONL table, or a list of inputs with labels ``y``.

        ``groups`` says which examples belong together (one speaker's clips, one patient's scans): a list with one
        group per input, or for a folder a regular expression searched in each file's path relative to it (its
        named group ``group``, else its first capture group, is the group). No split then puts one group on both
        sides, so every score is for new groups. For a table, name the column with ``group_column``.

        A folder with ``train/`` and ``val/`` (or ``test/``) trains on the first and scores the second
        (``holdout_``). Problems with single files are recorded in ``problems_`` and those files skipped.
        The seconds of each stage of the fit are in ``timings_`` (see :mod:`handful._timing`).

        Unlabelled inputs (an ``unlabelled/`` folder beside the class folders, table rows without a label, or
        ``unlabelled``: a folder, a table or .txt file of texts, or a list of paths or texts) form a pool that
        semi-supervised candidates learn from (self-training, label spreading, autoencoders, generated rows; see
        :mod:`handful.data.pool`); what was used is in ``unlabelled_``. They are candidates like any other, kept
        only where cross-validation on the labelled examples says they help.

        ``behind`` (``(backbone, learner, augment)`` triples, as on a leaderboard) names candidates an earlier search
        of most of this data found behind: they are listed as not tried. ``handful update`` passes those its old
        version stopped or did not try.
        """
        with _timing.recording() as timings:
            self._fit(X, y, unlabelled, groups, behind)
        self.timings_ = timings.as_dict()
        self.timings_cpu_ = timings.cpu_dict()  # on a shared machine CPU seconds move less with the load
        return self

    def _fit(self, X: Any, y: Sequence[Any] | None, unlabelled: Any = None,
             groups: str | Sequence[Any] | None = None,
             behind: Collection[tuple[str, str, str]] | None = None) -> None:
        started = time.perf_counter()
        seed, executor = config.seed_of(self.random_state), selection.make_executor(self.n_jobs, self.ray)
        with stage("read"):
            loaded = training_data(X, y, self.modality, self.text_column, self.label_column,
                                   None if isinstance(groups, str) else groups, self.group_column)
        train = loaded.train
        labelled = [i for i, label in enumerate(train.labels) if label is not None]
        found = loaded.unlabelled
        if len(labelled) < len(train):  # inputs given without a label join the pool
            found = found or train.subset([i for i, label in enumerate(train.labels) if label is None])
            train = train.subset(labelled)
        check_trainable(train, self.cv_folds)
        names, source = resolve_groups(train, groups, str(X) if isinstance(X, str | Path) else None)  # before embedding
        with stage("unlabelled pool"):
            pool, pool_record = gather_pool(found, unlabelled, train, self.unlabelled_cap, seed, self.text_column)
        cfg = config.resolve(
            self.preset, train.modality, self.backbone, self.learners, self.cv_folds, self.cv_repeats,
            self.time_budget, seed, len(train), augment=self.augment,
        )
        self.label_type_ = label_kind(y) if y is not None and not isinstance(X, str | Path | Dataset) else "str"
        self.classes_ = typed_classes(train.classes, self.label_type_)
        y_index = np.asarray([class_positions(self.classes_)[str(label)] for label in train.labels], dtype=np.int64)
        classes = [str(c) for c in self.classes_]
        candidates = plan.candidates(cfg, with_pool=pool is not None)
        candidates, not_again = plan.without(candidates, behind)
        features = Features(train.examples, self.cache_dir, self.verbose)
        self.estimate_ = estimate.estimate_fit(candidates, train.examples, cfg.cv_folds * cfg.cv_repeats, cache_root(
            self.cache_dir), cfg.augment["views"] if cfg.augment else 0, cfg.time_budget,
            pool.examples if pool is not None else ())
        estimate.announce(self.estimate_, len(candidates), self.verbose)
        if cfg.time_budget is None:  # the first stage embeds every plain backbone: decode each example once for all
            features.prefetch(plan.first_stage_backbones(candidates) + plan.one_pass_trunks(candidates, len(train)))
        features_for = features.__getitem__
        pool_features = None if pool is None else Features(pool.examples, self.cache_dir, self.verbose)

        def unlabelled_for(name: str) -> Any:  # embedded once per backbone, through the same cache
            return None if pool_features is None else pool_features[name]

        embedding = frozen_name(parts_of(cfg.backbones[0])[0])  # near-duplicates, clusters, distances
        names, merged = merge_near_duplicates(names, features_for(embedding), train)
        group_index = group_codes(names) if names is not None else None
        folds = selection.make_folds(y_index, selection.n_folds(y_index, cfg.cv_folds, group_index), cfg.cv_repeats,
                                     seed, groups=group_index)

        augmentation = cfg.augmentation()

        def views_for(name: str, key: str) -> selection.Views:
            if augmentation is None or key != augmentation.key():
                raise ValueError(f"no augmentation {key!r} in this fit")
            return features.views(name, augmentation, seed)

        # Augmented candidates run on one backbone with at most two heads (Search.augmented).
        planned = sum(not c.augment for c in candidates) + min(2, sum(bool(c.augment) for c in candidates))
        with status_bar("Scoring candidates", planned, self.verbose, remaining=True) as advance:
            search = selection.Search(
                features_for, y_index, len(self.classes_), folds, seed, cfg.time_budget,
                on_result=lambda r: advance(1, scored_note(r)), executor=executor,
                scores=selection.score_cache(cache_root(self.cache_dir), train, y_index, folds, seed, pool),
                views_for=views_for, unlabelled_for=unlabelled_for if pool is not None else None, groups=group_index,
                pool_rows=0 if pool is None else len(pool),
                headroom=self.learners is None,  # heads the user named all run
                adaptive=self.cv_repeats is None,  # repetitions the user set all run
            )
            with stage("search"):
                results = search.staged(candidates)
                for r in results:  # each candidate's cross-validation (its features were timed as they came)
                    if r.status in ("ok", "stopped") and not r.cached:  # a cached one's seconds were spent before
                        label = f"{r.candidate.backbone}+{r.candidate.learner}"
                        _timing.add(f"cv {label}" + (" augmented" if r.candidate.augment else ""), r.seconds)
        results += not_again
        planned_repeats, folds = cfg.cv_repeats, search.folds  # repetitions stop once more would not narrow it
        cfg = dataclasses.replace(cfg, cv_repeats=len(selection.repetition_ends(folds, len(y_index))) or 1)
        if any(LEARNERS[name].combines for name in cfg.learners):
            results += selection.ensemble_candidates(results, y_index, len(self.classes_), folds)
        winner = selection.best(results, y_index, selection.test_fraction(folds, len(y_index)))
        chosen_views = views_for(winner.candidate.backbone, winner.candidate.augment) if winner.candidate.augment \
            else None
        refit_budget = None if cfg.time_budget is None else max(  # fine-tuning: what is left, or a fold's share
            cfg.time_budget - (time.perf_counter() - started), cfg.time_budget / len(folds))
        chosen = features_for(winner.candidate.backbone)
        with stage(f"refit {winner.candidate.learner}"):
            context = FitContext(seed, groups=group_index, time_budget=refit_budget, verbose=self.verbose,
                                 unlabelled=selection.refit_pool(winner.candidate, unlabelled_for))  # on every core
            with selection.one_thread():
                head = selection.fit_learner(winner.candidate, chosen, y_index, len(self.classes_),
                                             np.arange(len(y_index)), context, chosen_views)

        self.config_ = cfg
        self.modality_ = train.modality
        self.backbone_ = winner.candidate.backbone
        self.learner_ = winner.candidate.learner
        self.augment_ = winner.candidate.augment
        self.augmentation_ = plan.augmentation_record(cfg, results, winner)
        self.head_ = head
        pool_record.gains, pool_record.untried = selection.pool_gains(results), selection.pool_untried(results)
        if pool_features is not None and pool_features.embedded:  # embedded for its candidates: measured for free
            seen = pool_features.embedded[0]
            pool_record.note_unlike(unlike_labelled(features_for(seen), pool_features[seen], seen, folds))
        self.unlabelled_: dict[str, Any] | None = {**pool_record.as_dict(),
                                                   "used_by_model": selection.uses_pool(winner.candidate)}
        self.leaderboard_ = selection.leaderboard(results, pool_record.gains)
        self.cv_score_, self.cv_accuracy_ = winner.estimate, winner.accuracy_estimate
        baselines = [r for r in results if r.candidate.kind == "baseline" and r.status == "ok"]
        self.baseline_ = {**baselines[0].row(), "chosen": baselines[0] is winner} if baselines else None
        self.oof_proba_ = winner.oof_proba
        # A fine-tuned model's trunk rows are raw activations: outliers, duplicates and the learning curve (with a
        # linear proxy) are measured on the frozen backbone's embeddings instead.
        frozen = list(dict.fromkeys(frozen_name(p) for p in parts_of(winner.candidate.backbone)))
        frozen_blocks = [features_for(p) for p in frozen]
        with stage("label check"):
            content = noise.content_view(features_for(cfg.baseline), "tfidf" if cfg.modality == "text"
                                         else get_spec(cfg.baseline).normalize)
            self.label_issues_ = label_issues(train, y_index, winner.oof_proba, classes, frozen_blocks, content)
        self.problems_ = list(loaded.train.problems)
        self.n_examples_ = len(train)
        self.class_counts_ = train.class_counts()
        self.data_fingerprint_ = train.fingerprint()
        self.training_sources_ = [e.source for e in train.examples]
        # Where the data (and a pool given beside it) came from, so handful update can retrain on it plus new data.
        self.data_sources_, self.unlabelled_sources_ = (
            [str(Path(p).expanduser().resolve())] if isinstance(p, str | Path) else [] for p in (X, unlabelled))
        self.update_: dict[str, Any] | None = None
        self.n_folds_ = len(folds)
        self.groups_ = None if names is None else [str(g) for g in names]
        self.protocol_: dict[str, Any] | None = selection.describe_protocol(
            folds, cfg.cv_repeats, names, source, merged, planned_repeats, sub_folder_hint(train))
        if isinstance(groups, str):  # handful update applies it again to the old and the new data
            self.protocol_["pattern"] = groups
        distances = plan.distance_backbone(winner.candidate.backbone, embedding)
        with stage("trust"):
            self.trust_: Trust | None = fit_trust(
                winner.oof_proba, y_index, features_for(distances), folds, seed, groups=group_index,
                fold_proba=winner.fold_proba, group_names=self.groups_) if winner.oof_proba is not None else None
            self.ood_backbone_: str | None = distances
            self.leakage_ = None
            if source is None:  # no groups given: do the examples come in clumps?
                self.leakage_ = chosen_leakage(results, winner, features_for, embedding, y_index, len(self.classes_),
                                              (cfg.cv_folds, cfg.cv_repeats), seed, self.verbose)
        reviewed = review(train, y_index, classes, self.oof_proba_, head, chosen, self.learner_,
                          winner.candidate.scaling, (cfg.cv_folds, cfg.cv_repeats), self.cv_score_, self.baseline_,
                          self.label_issues_, seed, self.verbose, features_for(fuse(frozen)), search.executor,
                          group_index, self.augmentation_, self.leaderboard_)
        self.oof_metrics_, self.misclassified_ = reviewed.oof_metrics, reviewed.misclassified
        self.learning_curve_, self.diagnosis_ = reviewed.learning_curve, reviewed.diagnosis
        with stage("holdout"):
            try:
                self.holdout_ = self.evaluate(loaded.holdout) if loaded.holdout is not None else None
            except ValueError as error:  # a held-out set with nothing to score must not cost the model
                logger.warning("the held-out set was not scored: %s", error)
                self.holdout_ = None
        self.fit_seconds_ = time.perf_counter() - started

    @property
    def report_(self) -> Any:
        """The HTML report of this model: ``clf.report_.save("report.html")`` (see :mod:`handful.report`)."""
        self._check_fitted()
        from handful.report import Report

        return Report(self)

    # ------------------------------------------------------------------ predicting
    def _check_fitted(self) -> None:
        if not hasattr(self, "head_"):
            raise NotFittedError(
                "This Classifier is not fitted yet. Call fit(...) first, or load a model with handful.load(path)."
            )

    def _inputs(self, X: Any) -> Dataset:
        self._check_fitted()
        return prediction_inputs(X, self.modality_, self.text_column)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, one row per input, columns in the order of ``classes_``.

        Raises ValueError naming every input that could not be read.
        """
        dataset = self._inputs(X)
        skipped = [p for p in dataset.problems if p.action == "skipped"]
        if skipped:
            raise ValueError("cannot predict; some inputs are unusable:\n" + "\n".join(str(p) for p in skipped))
        return self._raw(dataset)[0]  # calibrated (see :mod:`handful.evaluation.calibration`)

    def _raw(self, dataset: Dataset, distances: bool = False, features: dict[str, Any] | None = None
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Calibrated and uncalibrated probabilities and, with ``distances``, each input's distance to the training
        data in the frozen backbone's embedding (None without a detector); ``features`` gets the embeddings."""
        if len(dataset) == 0:
            empty = np.zeros((0, len(self.classes_)))
            return empty, empty, np.zeros(0) if distances else None
        trust = getattr(self, "trust_", None)
        ood = distances and trust is not None and trust.ood is not None
        names = parts_of(self.backbone_)  # with the detector's backbone, each input decoded once for both
        with progress_bar("Embedding the inputs", len(dataset), self.verbose if len(dataset) >= 32 else 0) as done:
            found = embed_all([*names, *([str(self.ood_backbone_)] if ood else [])], dataset.examples, self.cache_dir,
                              done, cluster_embedder(getattr(self, "ray", None)))  # a Ray cluster, when given
        raw = self.head_.predict_proba(stack([found[p] for p in names]))
        (features if features is not None else {}).update(found)
        calibrated = trust.calibrator.transform(raw) if trust is not None else raw
        distance = trust.ood.score(found[str(self.ood_backbone_)]) if ood and trust is not None else None
        return calibrated, raw, distance

    def predict_sets(self, X: Any, coverage: float | None = None) -> list[list[Any]]:
        """The prediction set of each input: the classes that, together, hold the true one ``coverage`` of the time
        (90% by default; see :mod:`handful.evaluation.conformal`). One label means the model is sure; several, that
        it cannot tell them apart; none, that no label is likely enough for that coverage.

        Example:
            >>> clf.predict_sets(["ant.jpg", "blurry.jpg"])  # doctest: +SKIP
            [['ants'], ['ants', 'bees']]
        """
        proba = self.predict_proba(X)
        return [self.classes_[np.flatnonzero(row)].tolist() for row in self._sets(proba, coverage)]  # as predict's

    def _sets(self, proba: np.ndarray, coverage: float | None) -> np.ndarray:
        return prediction_sets(getattr(self, "trust_", None), proba, coverage)

    def predict(self, X: Any) -> np.ndarray:
        """The most likely class of each input."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def predict_records(self, X: Any, top_k: int = 3, coverage: float | None = None, abstain: bool = False
                        ) -> list[dict[str, Any]]:
        """One record per input (in order), with its top-k labels, its prediction set (``coverage``: 0.9 by
        default) and whether it is unlike anything the model learned (``ood``); or the error that kept it from a
        prediction. With ``abstain``, an input flagged as unlike anything learned gets the label ``unknown``."""
        dataset = self._inputs(X)
        proba, _, distance = self._raw(dataset, distances=True)
        records = self.records([e.source if e.text is None else e.text for e in dataset.examples], proba, distance,
                               top_k, coverage, abstain)
        records += [{"input": p.where, "error": p.message} for p in dataset.problems if p.action == "skipped"]
        return records

    def predict_with_distance(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities with one more column: each input's distance to the training data (NaN
        for a model without the detector). What the server batches; :meth:`records` turns it into answers."""
        dataset = self._inputs(X)
        skipped = [p for p in dataset.problems if p.action == "skipped"]
        if skipped:
            raise ValueError("cannot predict; some inputs are unusable:\n" + "\n".join(str(p) for p in skipped))
        proba, _, distance = self._raw(dataset, distances=True)
        column = np.full(len(proba), np.nan) if distance is None else distance
        return np.column_stack([proba, column])

    def records(self, inputs: Sequence[str], proba: np.ndarray, distance: np.ndarray | None, top_k: int = 3,
                coverage: float | None = None, abstain: bool = False) -> list[dict[str, Any]]:
        """Answers from calibrated probabilities and distances: top labels, the set in labels and words, the
        out-of-distribution score and flag."""
        return answers([str(c) for c in self.classes_], getattr(self, "trust_", None), inputs, proba, distance, top_k,
                       coverage, abstain)

    def suggest(self, X: Any, n: int = 20, method: str | None = None) -> list[dict[str, Any]]:
        """The ``n`` unlabelled inputs worth labelling next, best first: uncertain, and unlike each other.

        Args:
            X: a folder of unlabelled files (of data laid out for training, only its unlabelled/ folder or rows), for
                text models a CSV/TSV/JSONL table or a .txt file (one text a line), or a list of paths or texts.
            n: how many to suggest.
            method: the strategy; ``None`` for the default, ``"cluster"`` (the most uncertain of each of ``n``
                groups among the ``5 n`` most uncertain); ``"diverse"`` (uncertainty times distance to those
                already chosen); or uncertainty alone: ``"margin"``, ``"entropy"``, ``"least_confident"``.
                See :mod:`handful.evaluation.suggest`.

        Returns:
            One record per suggestion: ``rank``, ``input`` (path or text), ``source``, ``predicted``,
            ``probability`` and ``uncertainty`` (0 sure, 1 no idea). Unreadable inputs, and those it learned from, are
            logged and skipped.

        Example:
            >>> clf = handful.load("models/defects")  # doctest: +SKIP
            >>> clf.suggest("unlabelled_photos/", n=10)[0]["input"]  # doctest: +SKIP
            'unlabelled_photos/img_0412.jpg'
        """
        self._check_fitted()
        method = next_to_label.DEFAULT if method is None else method
        if method not in next_to_label.METHODS:
            raise ValueError(f"method must be one of {', '.join(next_to_label.METHODS)}, got {method!r}")
        pool = suggestion_inputs(X, self.modality_, list(map(str, self.classes_)), self.text_column, self.label_column)
        if len(pool) == 0:
            raise ValueError("no usable unlabelled input to choose from."
                             + "".join(f"\n{p}" for p in pool.problems[:10]))
        found: dict[str, Any] = {}
        raw = self._raw(pool, distances=True, features=found)[1]  # uncertainty is read before calibration
        kept = next_to_label.not_learned(getattr(getattr(self, "trust_", None), "ood", None),  # labelled already
                                         found.get(str(self.ood_backbone_)), len(pool))
        blocks = [found[p][kept] for p in parts_of(self.backbone_)]
        suggested = next_to_label.suggestions(raw[kept], blocks, [str(c) for c in self.classes_], pool.subset(kept), n,
                                              method, kept)  # type: ignore[arg-type]
        return [{"input": s.source if s.text is None else s.text, **s.as_dict()} for s in suggested]

    def evaluate(self, X: Any, y: Sequence[Any] | None = None, groups: Sequence[Any] | None = None) -> dict[str, Any]:
        """Accuracy (with a 95% Wilson interval), balanced accuracy and per-class scores on labelled data; under
        ``trust``, calibration error, set coverage and the share flagged as unlike anything it learned. Under
        ``problems``: examples of classes it does not know (left out), and of groups it learned from (``groups``, one
        per input as ``fit`` takes them; kept)."""
        self._check_fitted()
        dataset = labelled_data(X, y, self.modality_, self.text_column, self.label_column, groups)
        known = class_positions(self.classes_)
        problems = [p for p in dataset.problems if p.action == "skipped"] + unknown_labels(dataset, known)
        keep = [index for index, label in enumerate(dataset.labels) if label in known]
        if not keep:
            raise ValueError("no labelled example to evaluate on has a class the model knows: "
                             f"the model's classes are {listed(repr(c) for c in sorted(known))}.")
        dataset, trust = dataset.subset(keep), getattr(self, "trust_", None)
        found: dict[str, Any] = {}  # the embeddings, for the detector: which examples it learned from
        y_true = np.asarray([known[str(label)] for label in dataset.labels], dtype=np.int64)
        calibrated, raw, distances = self._raw(dataset, distances=True, features=found)
        metrics, learned = held_out_scores([str(c) for c in self.classes_], y_true, calibrated, raw, distances, trust,
                                           found.get(str(self.ood_backbone_)), dataset.root or "the data given")
        problems += known_groups(dataset, (self.protocol_ or {}).get("pattern"), self.groups_, self.group_column)
        metrics["problems"] = summarise(problems + learned)  # one line for a label on many rows
        return metrics

    # ------------------------------------------------------------------ saving
    def save(self, path: str | Path) -> Path:
        """Write the model folder (manifest.json + head.safetensors) atomically; returns its path.

        ``path`` must be new, an empty folder or a model folder handful saved, and not inside the data this model
        was fitted on: anything else raises OutputPathError (a ValueError) before a byte is written.
        """
        self._check_fitted()
        for source in getattr(self, "data_sources_", []) or []:
            safety.check_output(path, source)
        return manifest.save(self, path)

    @classmethod
    def load(cls, path: str | Path) -> Classifier:
        """Read a saved model (see :func:`handful.load`)."""
        return manifest.load(cls, path)

    def summary(self) -> dict[str, Any]:
        """The headline facts: classes, chosen backbone and head, cross-validated score, baseline, held-out score."""
        self._check_fitted()
        return {
            "modality": self.modality_, "classes": [str(c) for c in self.classes_], "backbone": self.backbone_,
            "learner": self.learner_, "n_examples": self.n_examples_,
            "cv_balanced_accuracy": self.cv_score_.as_dict() if self.cv_score_ else None,
            "cv_accuracy": self.cv_accuracy_.as_dict() if self.cv_accuracy_ else None,
            "baseline": self.baseline_, "holdout": self.holdout_,
        }

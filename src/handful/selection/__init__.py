"""Candidates (backbone x learner) scored on the same repeated stratified folds; the leaderboard; the winner.

Every candidate sees identical folds, so their scores are paired and comparable. Selection uses the mean
balanced accuracy (equal to accuracy on balanced data, honest on imbalanced data).

- :mod:`~handful.selection.results`: a candidate, its result, and :func:`best`, the rule that picks the winner;
- :mod:`~handful.selection.folds`: the folds, augmented views kept with their examples, cross-validation;
- :mod:`~handful.selection.scores`: cross-validation results cached on disk;
- :mod:`~handful.selection.search`: the search over candidates within a time budget;
- :mod:`~handful.selection.ensembles`: weighted ensembles of the scored candidates;
- :mod:`~handful.selection.pool`: candidates that learn from the unlabelled pool, and their gain.
"""

from handful.selection.ensembles import ensemble, ensemble_candidates
from handful.selection.executor import Executor, LocalExecutor, RayExecutor, make_executor, one_thread
from handful.selection.folds import (
    FoldJob,
    Folds,
    Views,
    cross_validate,
    describe_protocol,
    fit_learner,
    fit_predict,
    fold_probabilities,
    learner_fold_probabilities,
    make_folds,
    n_folds,
    repetition_ends,
    score_folds,
    test_fraction,
    view_rows,
    with_views,
)
from handful.selection.pool import leaderboard, pool_gains, pool_untried, refit_pool
from handful.selection.results import Candidate, Result, best, choice_note, log_loss, uses_pool
from handful.selection.scores import ScoreCache, score_cache, search_context
from handful.selection.search import Search

__all__ = [
    "Executor",
    "FoldJob",
    "LocalExecutor",
    "RayExecutor",
    "fit_predict",
    "fold_probabilities",
    "learner_fold_probabilities",
    "make_executor",
    "one_thread",
    "score_folds",
    "Candidate",
    "Folds",
    "Result",
    "ScoreCache",
    "score_cache",
    "Search",
    "Views",
    "best",
    "choice_note",
    "cross_validate",
    "describe_protocol",
    "ensemble",
    "ensemble_candidates",
    "fit_learner",
    "leaderboard",
    "log_loss",
    "make_folds",
    "n_folds",
    "pool_gains",
    "pool_untried",
    "refit_pool",
    "repetition_ends",
    "search_context",
    "test_fraction",
    "uses_pool",
    "view_rows",
    "with_views",
]

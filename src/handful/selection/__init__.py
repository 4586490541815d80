"""Candidates (backbone x learner) scored on the same repeated stratified folds; the leaderboard; the winner.

Every candidate sees identical folds, so their scores are paired and comparable. Selection uses the mean
balanced accuracy (equal to accuracy on balanced data, honest on imbalanced data).

- :mod:`~handful.selection.results`: a candidate, its result, and :func:`best`, the rule that picks the winner;
- :mod:`~handful.selection.folds`: the folds, augmented views kept with their examples, cross-validation;
- :mod:`~handful.selection.scores`: cross-validation results cached on disk;
- :mod:`~handful.selection.search`: the search over candidates within a time budget;
- :mod:`~handful.selection.ensembles`: a weighted ensemble of the scored candidates.
"""

from handful.selection.ensembles import ensemble
from handful.selection.folds import (
    Folds,
    Views,
    cross_validate,
    fit_learner,
    make_folds,
    n_folds,
    view_rows,
    with_views,
)
from handful.selection.results import Candidate, Result, best, log_loss
from handful.selection.scores import ScoreCache, search_context
from handful.selection.search import Search

__all__ = [
    "Candidate",
    "Folds",
    "Result",
    "ScoreCache",
    "Search",
    "Views",
    "best",
    "cross_validate",
    "ensemble",
    "fit_learner",
    "log_loss",
    "make_folds",
    "n_folds",
    "search_context",
    "view_rows",
    "with_views",
]

"""No split puts one group on both sides: a property test over random groupings (moved from tests/unit, where its
150 generated cases cost 2 s of the suite's CPU)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from handful.selection import make_folds, n_folds


@st.composite
def groupings(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray, int, int, int]:
    n = draw(st.integers(4, 60))
    n_groups = draw(st.integers(2, n))
    groups = np.array(draw(st.lists(st.integers(0, n_groups - 1), min_size=n, max_size=n)))
    if len(np.unique(groups)) < 2:
        groups[0] = (groups[1] + 1) % n_groups
    n_classes = draw(st.integers(2, 4))
    y = np.array(draw(st.lists(st.integers(0, n_classes - 1), min_size=n, max_size=n)))
    return y, groups, draw(st.integers(2, 6)), draw(st.integers(1, 3)), draw(st.integers(0, 2**16))


@settings(max_examples=150, deadline=None)
@given(groupings())
def test_no_split_puts_a_group_on_both_sides(case: tuple[np.ndarray, np.ndarray, int, int, int]) -> None:
    y, groups, wanted, repeats, seed = case
    folds = make_folds(y, n_folds(y, wanted, groups), repeats, seed, groups=groups)
    assert folds
    for train, test in folds:
        assert len(train) and len(test)
        assert not set(groups[train]) & set(groups[test])
        assert len(np.intersect1d(train, test)) == 0
    # every example is tested in each repetition
    per_repeat = len(folds) // repeats
    tested = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.bincount(tested, minlength=len(y)) >= 1, np.ones(len(y), dtype=bool))
    assert per_repeat >= 1

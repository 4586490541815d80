"""Whether the unlabelled pool is like the labelled examples (evaluation.ood.unlike_labelled): a pool drawn like
them is not told about, whatever its size; one with a fifth from elsewhere is."""

from __future__ import annotations

import numpy as np

from handful.evaluation.ood import unlike_labelled
from handful.selection import make_folds


def test_a_like_pool_is_not_told_and_one_with_a_fifth_from_elsewhere_is() -> None:
    rng = np.random.default_rng(0)
    centre = rng.normal(0, 1, 16)

    def draw(n: int) -> np.ndarray:
        return centre + rng.normal(0, 0.6, (n, 16))

    labelled = draw(400)
    folds = make_folds(np.arange(400) % 2, 5, 1, 0)
    like = unlike_labelled(labelled, draw(2000), "b", folds)
    assert like["warning"] == "" and like["share"] < 0.1 and like["n"] == 2000
    mixed = np.vstack([draw(200), -centre + rng.normal(0, 0.6, (50, 16))])
    told = unlike_labelled(labelled, mixed, "b", folds)
    assert 0.2 <= told["share"] <= 0.3
    assert told["warning"].startswith(f"{told['share']:.0%} of the unlabelled pool is unlike every labelled example")

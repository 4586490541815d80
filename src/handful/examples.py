"""Bundled examples made from datasets that dependencies ship (no download): scikit-learn's handwritten digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image


def write_digits(folder: str | Path, per_class: int = 20, seed: int = 0, test_per_class: int = 50) -> tuple[Path, Path]:
    """Write scikit-learn's 8x8 digits as 64x64 PNGs: ``folder/train/<digit>/`` and ``folder/test/<digit>/``.

    ``per_class`` images of each digit go to train and the next ``test_per_class`` to test. Files already there
    are left as they are, so running twice is harmless.

    Example:
        >>> from handful.examples import write_digits
        >>> train, test = write_digits("/tmp/digits", per_class=5)  # doctest: +SKIP
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    root = Path(folder)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(digits.target))
    taken = dict.fromkeys(range(10), 0)
    for index in order:
        label = int(digits.target[index])
        split = "train" if taken[label] < per_class else "test"
        taken[label] += 1
        if taken[label] > per_class + test_per_class:
            continue
        target = root / split / str(label) / f"{index:04d}.png"
        if target.exists():
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        pixels = (255 - digits.images[index] * 255 / 16).astype(np.uint8)  # dark ink on white paper
        Image.fromarray(pixels).resize((64, 64), Image.Resampling.BICUBIC).save(target)
    return root / "train", root / "test"

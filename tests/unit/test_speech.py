"""The per-utterance normalised MFCC shape: a fixed size, and blind to loudness (what the normalisation is for)."""

from __future__ import annotations

import numpy as np

from handful.backbones import get_backbone
from handful.data.decode import Audio


def _chirp(seconds: float = 0.8, rate: int = 8000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * (300 + 900 * t) * t) * np.hanning(len(t))).astype(np.float32)


def test_shape_is_fixed_and_loudness_is_divided_out() -> None:
    backbone = get_backbone("mfcc-shape")
    quiet, loud = _chirp(), 3.0 * _chirp()
    short = _chirp(0.3)
    rows = backbone.embed([Audio(quiet, 8000), Audio(loud, 8000), Audio(short, 8000), Audio(quiet, 16000)])
    assert rows.shape == (4, 320) and np.isfinite(rows).all()
    np.testing.assert_allclose(rows[0], rows[1], atol=1e-3)  # three times louder: the same features
    assert np.abs(rows[0] - rows[3]).max() > 0.1  # a different word (the chirp at twice the speed) differs

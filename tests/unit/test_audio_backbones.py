"""The MFCC baseline: registered spec, output contract, edge-case clips and sample-rate independence."""

from __future__ import annotations

import numpy as np
import pytest

from handful.backbones import get_backbone, get_spec, list_backbones
from handful.data.decode import Audio

RATE = 16000


def tone(frequency: float, seconds: float, rate: int = RATE, amplitude: float = 0.3) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    return Audio((amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32), rate)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_audio_backbones_are_registered() -> None:
    names = {spec.name for spec in list_backbones("audio")}
    assert {"mfcc-stats", "aisfx", "resemblyzer", "logmel-efficientnet-lite0"} <= names
    spec = get_spec("mfcc-stats")
    assert (spec.kind, spec.normalize, spec.dim) == ("baseline", "standard", 124)
    assert spec.preprocessing["sample_rate"] == RATE


def test_mfcc_stats_shape_dtype_and_determinism() -> None:
    backbone = get_backbone("mfcc-stats")
    rng = np.random.default_rng(0)
    batch = [
        tone(440, 1.0),
        Audio(rng.uniform(-0.5, 0.5, 22050).astype(np.float32), 22050),
        Audio(np.zeros(8000, dtype=np.float32), 8000),  # silence
        Audio(rng.uniform(-0.5, 0.5, 5).astype(np.float32), 44100),  # far shorter than one frame
    ]
    first = backbone.embed(batch)
    assert first.shape == (4, 124)
    assert first.dtype == np.float32
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, backbone.embed(batch))
    np.testing.assert_array_equal(first[1:2], backbone.embed(batch[1:2]))  # independent of the batch


def test_mfcc_stats_empty_batch() -> None:
    assert get_backbone("mfcc-stats").embed([]).shape == (0, 124)


def test_mfcc_stats_ignores_sample_rate_but_not_content() -> None:
    backbone = get_backbone("mfcc-stats")
    low, low_at_8k, high = backbone.embed([tone(300, 1.0), tone(300, 1.0, rate=8000), tone(2500, 1.0)])
    assert cosine(low, low_at_8k) > 0.99
    assert cosine(low, low_at_8k) > cosine(low, high)


def test_mfcc_stats_records_duration() -> None:
    short, long = get_backbone("mfcc-stats").embed([tone(440, 0.5), tone(440, 2.0)])
    assert long[120] == pytest.approx(np.log1p(2.0))
    assert short[120] == pytest.approx(np.log1p(0.5))

"""Every audio backbone with its real weights on real spoken digits (8 kHz): contract and a sanity check."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handful.backbones import Backbone, get_backbone, get_spec
from handful.data.decode import Audio, load_audio

pytestmark = pytest.mark.slow

DIGITS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "audio" / "spoken_digits"
NAMES = ["mfcc-stats", "aisfx", "resemblyzer", "logmel-efficientnet-lite0"]


@pytest.fixture(scope="module")
def clips() -> list[Audio]:
    """Two takes of "three" by george, then "seven" by jackson."""
    if not DIGITS.is_dir():
        pytest.skip(f"the spoken-digits data set is not at {DIGITS}")
    paths = [
        DIGITS / "3" / "3_george_0.wav",
        DIGITS / "3" / "3_george_1.wav",
        DIGITS / "7" / "7_jackson_0.wav",
    ]
    return [load_audio(path) for path in paths]


@pytest.fixture(scope="module", params=NAMES)
def backbone(request: pytest.FixtureRequest) -> Backbone:
    spec = get_spec(request.param)
    if not spec.available():
        pytest.skip(f"{spec.package} is not installed ({spec.install or 'pip install ' + str(spec.package)})")
    return get_backbone(request.param)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_real_clips_shape_finite_deterministic(backbone: Backbone, clips: list[Audio]) -> None:
    first = backbone.embed(clips)
    assert first.shape == (3, backbone.spec.dim)
    assert first.dtype == np.float32
    assert np.isfinite(first).all()
    np.testing.assert_array_equal(first, backbone.embed(clips))
    np.testing.assert_allclose(backbone.embed(clips[2:]), first[2:], rtol=1e-4, atol=1e-5)


def test_same_word_and_speaker_is_closer(backbone: Backbone, clips: list[Audio]) -> None:
    features = backbone.embed(clips)
    if backbone.spec.normalize == "standard":  # handcrafted stats: compare on a common scale
        features = (features - features.mean(axis=0)) / (features.std(axis=0) + 1e-6)
    take_a, take_b, other = features
    assert cosine(take_a, take_b) > cosine(take_a, other)


def test_edge_case_clips(backbone: Backbone) -> None:
    rng = np.random.default_rng(0)
    edge = [
        Audio(rng.uniform(-0.3, 0.3, 4410).astype(np.float32), 44100),  # 0.1 s
        Audio(np.zeros(16000, dtype=np.float32), 16000),  # 1 s of silence
        Audio((0.1 * np.sin(np.arange(20 * 22050) / 22050 * 2 * np.pi * 220)).astype(np.float32), 22050),
    ]
    features = backbone.embed(edge)
    assert features.shape == (3, backbone.spec.dim)
    assert np.isfinite(features).all()

"""Speech features that carry across speakers: the per-utterance normalised MFCC "shape".

Speech systems normalise each utterance's features (cepstral mean and variance normalisation): the speaker's
average timbre and the recording's loudness are divided out, and what is left is how the spectrum moves through
the word. Here silence is trimmed (30 dB below the peak), 20 MFCCs are taken at 8 kHz (256-sample FFT, 10 ms hop),
each coefficient is standardised over the utterance and resampled to 16 time points: 320 numbers. On spoken digits
trained on three speakers it scores 0.569 on the fourth (mean of four rotations), against 0.482 for MFCC statistics
(``benchmarks/speaker_shape.py``). Hand-written (librosa does the MFCCs): no package ships this as a backbone.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handful.backbones.registry import Backbone, BackboneSpec, register_backbone
from handful.data.decode import Audio, resample

SHAPE_RATE = 8000
SHAPE_COUNT = 20
SHAPE_POINTS = 16
SHAPE_N_FFT = 256
SHAPE_HOP = 80  # 10 ms
SHAPE_TRIM_DB = 30
SHAPE_MIN_SAMPLES = SHAPE_N_FFT  # at least one full frame after trimming


class MfccShape(Backbone):
    """Per-utterance standardised MFCCs resampled to a fixed number of time points."""

    batch_size = 64

    def embed(self, batch: Sequence[Audio]) -> np.ndarray:
        """Embed clips as their normalised MFCC shape.

        Example:
            >>> from handful.backbones import get_backbone
            >>> tone = np.sin(np.arange(8000) / 8000 * 2 * np.pi * 440).astype(np.float32)
            >>> get_backbone("mfcc-shape").embed([Audio(tone, 8000)]).shape
            (1, 320)
        """
        rows = [self._one(audio) for audio in batch]
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, SHAPE_COUNT * SHAPE_POINTS), np.float32)

    @staticmethod
    def _one(audio: Audio) -> np.ndarray:
        import librosa

        samples = resample(audio, SHAPE_RATE)
        trimmed, _ = librosa.effects.trim(samples, top_db=SHAPE_TRIM_DB)
        if len(trimmed) >= SHAPE_MIN_SAMPLES:
            samples = trimmed
        if len(samples) < SHAPE_MIN_SAMPLES:
            samples = np.pad(samples, (0, SHAPE_MIN_SAMPLES - len(samples)))
        mfcc = librosa.feature.mfcc(y=samples, sr=SHAPE_RATE, n_mfcc=SHAPE_COUNT, n_fft=SHAPE_N_FFT,
                                    hop_length=SHAPE_HOP)
        mfcc = (mfcc - mfcc.mean(axis=1, keepdims=True)) / (mfcc.std(axis=1, keepdims=True) + 1e-6)
        where = np.linspace(0, mfcc.shape[1] - 1, SHAPE_POINTS)
        return np.stack([np.interp(where, np.arange(mfcc.shape[1]), row) for row in mfcc]).ravel()


@register_backbone(
    BackboneSpec(
        name="mfcc-shape",
        modality="audio",
        dim=SHAPE_COUNT * SHAPE_POINTS,
        kind="engineered",
        description="per-utterance normalised MFCCs at 16 time points: how the spectrum moves through a word, with "
        "the speaker's timbre divided out (carries across speakers)",
        licence="ISC (librosa)",
        package="librosa",
        normalize="standard",
        preprocessing={
            "sample_rate": SHAPE_RATE, "n_mfcc": SHAPE_COUNT, "n_fft": SHAPE_N_FFT, "hop_length": SHAPE_HOP,
            "trim_db": SHAPE_TRIM_DB, "points": SHAPE_POINTS, "normalisation": "per-utterance mean and variance",
        },
    )
)
def _shape() -> Backbone:
    return MfccShape()

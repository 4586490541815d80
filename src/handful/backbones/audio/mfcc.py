"""MFCC statistics: the classical baseline."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from handful.backbones.audio.signal import AMIN, pad_to
from handful.backbones.registry import Backbone, BackboneSpec, register_backbone
from handful.data.decode import Audio, resample

MFCC_RATE = 16000
MFCC_COUNT = 20
MFCC_N_FFT = 512
MFCC_WIN = 400  # 25 ms
MFCC_HOP = 160  # 10 ms
MFCC_MELS = 40
MFCC_MIN_SAMPLES = MFCC_RATE // 10  # pad to 0.1 s: at least 11 frames, enough for 9-frame deltas
MFCC_DIM = 4 * MFCC_COUNT + 2 * MFCC_COUNT + 4


class MfccStats(Backbone):
    """Summary statistics of MFCCs and their deltas over time, plus duration, loudness and zero-crossing rate.

    Features, in order: mean, std, min and max over time of 20 MFCCs; mean and std of their deltas;
    ``log1p(seconds)``; mean and std of frame RMS in dB; mean zero-crossing rate (124 in all).
    """

    batch_size = 64

    def embed(self, batch: Sequence[Audio]) -> np.ndarray:
        """Embed clips as MFCC statistics.

        Args:
            batch: Decoded clips at any sample rate.

        Returns:
            Float32 array of shape ``(len(batch), 124)``.

        Example:
            >>> import numpy as np
            >>> from handful.backbones import get_backbone
            >>> from handful.data.decode import Audio
            >>> tone = np.sin(np.arange(8000) / 8000 * 2 * np.pi * 440).astype(np.float32)
            >>> get_backbone("mfcc-stats").embed([Audio(tone, 8000)]).shape
            (1, 124)
        """
        rows = [self._one(audio) for audio in batch]
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, MFCC_DIM), np.float32)

    @staticmethod
    def _one(audio: Audio) -> np.ndarray:
        import librosa

        samples = pad_to(resample(audio, MFCC_RATE), MFCC_MIN_SAMPLES)
        stft = librosa.stft(
            samples, n_fft=MFCC_N_FFT, hop_length=MFCC_HOP, win_length=MFCC_WIN, pad_mode="constant"
        )
        power = np.abs(stft) ** 2
        mel = librosa.feature.melspectrogram(S=power, sr=MFCC_RATE, n_mels=MFCC_MELS)
        mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, amin=AMIN), n_mfcc=MFCC_COUNT)
        delta = librosa.feature.delta(mfcc, width=9)
        rms = librosa.feature.rms(y=samples, frame_length=MFCC_WIN, hop_length=MFCC_HOP, pad_mode="constant")
        rms_db = 20 * np.log10(np.maximum(rms[0], 1e-5))
        zcr = librosa.feature.zero_crossing_rate(samples, frame_length=MFCC_WIN, hop_length=MFCC_HOP)
        return np.concatenate(
            [
                mfcc.mean(axis=1),
                mfcc.std(axis=1),
                mfcc.min(axis=1),
                mfcc.max(axis=1),
                delta.mean(axis=1),
                delta.std(axis=1),
                [np.log1p(audio.seconds), rms_db.mean(), rms_db.std(), zcr.mean()],
            ]
        )


@register_backbone(
    BackboneSpec(
        name="mfcc-stats",
        modality="audio",
        dim=MFCC_DIM,
        kind="baseline",
        description="MFCC + delta statistics with duration, loudness and zero-crossing rate; the classical "
        "baseline every audio result is held against",
        licence="ISC (librosa)",
        package="librosa",
        normalize="standard",
        preprocessing={
            "sample_rate": MFCC_RATE,
            "n_mfcc": MFCC_COUNT,
            "n_mels": MFCC_MELS,
            "n_fft": MFCC_N_FFT,
            "win_length": MFCC_WIN,
            "hop_length": MFCC_HOP,
            "delta_width": 9,
            "stats": "MFCC mean/std/min/max, delta mean/std, log1p(seconds), RMS dB mean/std, ZCR mean",
            "min_seconds": MFCC_MIN_SAMPLES / MFCC_RATE,
        },
    )
)
def _mfcc() -> Backbone:
    return MfccStats()

"""A candidate that generalises across speakers, measured before it is in handful (issue 10, follow-up).

Per-utterance normalised MFCC "shape": silence trimmed (30 dB), 20 MFCCs (8 kHz, 256-sample FFT, 10 ms hop), each
coefficient standardised over the utterance (cepstral mean and variance normalisation, as speech systems do per
utterance), then resampled to 16 time points: 320 numbers that describe how the spectrum moves through the word,
with the speaker's average timbre and loudness divided out. Logistic regression (C=0.1, one value, not tuned) on
three speakers, scored on the fourth, all four rotations: the protocol of benchmarks/trust.py.

Usage: python benchmarks/speaker_shape.py   (prints per-speaker accuracy and the mean)
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

DATA = Path("/work/shared/data/audio/spoken_digits")


def shape(path: Path, points: int = 16) -> np.ndarray:
    import librosa
    import soundfile

    samples, rate = soundfile.read(path, dtype="float32")
    samples, _ = librosa.effects.trim(samples, top_db=30)
    mfcc = librosa.feature.mfcc(y=samples, sr=rate, n_mfcc=20, n_fft=256, hop_length=80)
    mfcc = (mfcc - mfcc.mean(axis=1, keepdims=True)) / (mfcc.std(axis=1, keepdims=True) + 1e-6)
    where = np.linspace(0, mfcc.shape[1] - 1, points)
    return np.stack([np.interp(where, np.arange(mfcc.shape[1]), row) for row in mfcc]).ravel()


def main() -> None:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    files = sorted(DATA.glob("*/*.wav"))
    start = time.perf_counter()
    x = np.stack([shape(f) for f in files])
    y = np.array([f.parent.name for f in files])
    speaker = np.array([f.stem.split("_")[1] for f in files])
    print(f"features {x.shape} in {time.perf_counter() - start:.0f} s")
    scores = []
    for held in np.unique(speaker):
        train = speaker != held
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000)).fit(x[train], y[train])
        scores.append(float(np.mean(model.predict(x[~train]) == y[~train])))
        print(f"{held}: {scores[-1]:.3f}")
    print(f"mean {np.mean(scores):.3f} ± {np.std(scores, ddof=1):.3f}")


if __name__ == "__main__":
    main()

"""What the audio backbones share: padding short clips, windows over long ones, the power floor."""

from __future__ import annotations

import numpy as np

AMIN = 1e-10  # power floor before taking logs, so silence stays finite


def pad_to(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` zero-padded at the end to at least ``length`` samples (float32)."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) >= length:
        return samples
    return np.pad(samples, (0, length - len(samples)))


def window_starts(frames: int, window: int, hop: int) -> list[int]:
    """Starts of ``window``-frame windows every ``hop`` frames over ``frames``, the last one end-aligned."""
    if frames <= window:
        return [0]
    starts = list(range(0, frames - window + 1, hop))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return starts

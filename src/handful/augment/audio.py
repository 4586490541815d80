"""Label-preserving audio transforms on waveforms: noise at a chosen SNR (white, pink, or clips from a folder
such as the user's unlabelled pool), gain, time shift, time stretch, pitch shift, and SpecAugment-style time and
frequency masks.

Each transform takes :class:`handful.data.decode.Audio`, a numpy ``Generator`` and a strength and returns
``Audio`` at the same sample rate, float32, within [-1, 1]. Time stretch and pitch shift use librosa (phase
vocoder, resampling); the rest is numpy and scipy. The masks act on the waveform so that they work for every
audio backbone, spectrogram or not: a time mask silences a short span (what SpecAugment's time mask does to the
spectrogram), a frequency mask removes a band with a band-stop filter (what its frequency mask does).

audiomentations (numpy-based) does much of this, but it draws its randomness from the global ``random`` and
``numpy.random`` state, which handful never seeds; reproducible, order-independent views need a Generator.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from handful.data.decode import Audio

Transform = Callable[[Audio, np.random.Generator, str], Audio]

PROBABILITY = {"light": 0.5, "medium": 0.5, "strong": 0.7}
SNR_DB = {"light": (20.0, 35.0), "medium": (10.0, 25.0), "strong": (5.0, 15.0)}
GAIN_DB = {"light": 3.0, "medium": 6.0, "strong": 10.0}
SHIFT_FRACTION = {"light": 0.1, "medium": 0.2, "strong": 0.3}
STRETCH = {"light": 0.08, "medium": 0.15, "strong": 0.25}  # rate in [1 - s, 1 + s]
SEMITONES = {"light": 1.0, "medium": 2.0, "strong": 4.0}
MASKS = {"light": 1, "medium": 2, "strong": 3}  # how many masks
TIME_MASK_FRACTION = {"light": 0.05, "medium": 0.1, "strong": 0.15}  # longest mask, as a share of the clip
MIN_SAMPLES = 256  # shorter clips are not stretched or pitch-shifted: too few samples for a phase vocoder
BAND_OCTAVES = {"light": 0.25, "medium": 0.5, "strong": 1.0}  # widest removed band


def _out(samples: np.ndarray, rate: int) -> Audio:
    return Audio(np.clip(np.nan_to_num(samples), -1.0, 1.0).astype(np.float32), rate)


def _rms(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) if samples.size else 0.0


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of pink (1/f power) noise with unit RMS, shaped in the frequency domain."""
    spectrum = np.fft.rfft(rng.standard_normal(max(n, 2)))
    frequencies = np.arange(len(spectrum), dtype=np.float64)
    frequencies[0] = 1.0
    pink = np.fft.irfft(spectrum / np.sqrt(frequencies), n=max(n, 2))[:n]
    return pink / max(_rms(pink), 1e-12)


def background_segment(clip: Audio, n: int, rate: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples at ``rate`` Hz from a random place in ``clip`` (looped if short), scaled to unit RMS."""
    import librosa

    samples = clip.samples.astype(np.float32)
    if clip.sample_rate != rate and samples.size:
        samples = librosa.resample(samples, orig_sr=clip.sample_rate, target_sr=rate, res_type="soxr_hq")
    if _rms(samples) < 1e-6:  # a silent clip adds nothing: fall back to white noise
        return rng.standard_normal(n)
    start = int(rng.integers(0, len(samples)))
    segment = np.resize(np.roll(samples, -start), n).astype(np.float64)  # np.resize loops a short clip
    return segment / max(_rms(segment), 1e-12)


def noise(audio: Audio, rng: np.random.Generator, strength: str, backgrounds: Sequence[Audio] = ()) -> Audio:
    """Background noise at a signal-to-noise ratio drawn for the strength: white or pink (even odds), or, when
    ``backgrounds`` are given (clips from the user's unlabelled pool), one of them two times in three."""
    samples = audio.samples.astype(np.float64)
    low, high = SNR_DB[strength]
    level = _rms(samples) / 10 ** (float(rng.uniform(low, high)) / 20)
    draw = rng.random()
    if backgrounds and draw < 2 / 3:
        clip = backgrounds[int(rng.integers(len(backgrounds)))]
        background = background_segment(clip, len(samples), audio.sample_rate, rng)
    elif draw < (2 / 3 + 1 / 6 if backgrounds else 0.5):
        background = rng.standard_normal(len(samples))
    else:
        background = pink_noise(len(samples), rng)
    return _out(samples + level * background, audio.sample_rate)


def gain(audio: Audio, rng: np.random.Generator, strength: str) -> Audio:
    """Louder or quieter by a few decibels (clipped to [-1, 1])."""
    limit = GAIN_DB[strength]
    return _out(audio.samples * 10 ** (float(rng.uniform(-limit, limit)) / 20), audio.sample_rate)


def shift(audio: Audio, rng: np.random.Generator, strength: str) -> Audio:
    """Move the sound earlier or later by up to 10-30% of the clip; the gap is filled with silence."""
    samples = audio.samples
    limit = int(SHIFT_FRACTION[strength] * len(samples))
    offset = int(rng.integers(-limit, limit + 1)) if limit else 0
    out = np.zeros_like(samples)
    if offset >= 0:
        out[offset:] = samples[: len(samples) - offset]
    else:
        out[:offset] = samples[-offset:]
    return _out(out, audio.sample_rate)


def _fft_size(n: int) -> int:
    return int(min(2048, 2 ** int(np.floor(np.log2(max(n, MIN_SAMPLES))))))


def stretch(audio: Audio, rng: np.random.Generator, strength: str) -> Audio:
    """Faster or slower without a change of pitch (librosa's phase vocoder); the clip's length changes."""
    import librosa

    rate = float(rng.uniform(1 - STRETCH[strength], 1 + STRETCH[strength]))
    samples = audio.samples.astype(np.float32)
    if len(samples) < MIN_SAMPLES:
        return _out(samples, audio.sample_rate)
    n_fft = _fft_size(len(samples))
    stretched = librosa.effects.time_stretch(samples, rate=rate, n_fft=n_fft, hop_length=n_fft // 4)
    return _out(stretched if stretched.size else samples, audio.sample_rate)


def pitch(audio: Audio, rng: np.random.Generator, strength: str) -> Audio:
    """Higher or lower by up to 1, 2 or 4 semitones, same length (librosa: stretch, then resample)."""
    import librosa

    steps = float(rng.uniform(-SEMITONES[strength], SEMITONES[strength]))
    samples = audio.samples.astype(np.float32)
    if len(samples) < MIN_SAMPLES:
        return _out(samples, audio.sample_rate)
    n_fft = _fft_size(len(samples))
    shifted = librosa.effects.pitch_shift(samples, sr=audio.sample_rate, n_steps=steps, n_fft=n_fft,
                                         hop_length=n_fft // 4, res_type="soxr_hq")
    return _out(shifted, audio.sample_rate)


def timemask(audio: Audio, rng: np.random.Generator, strength: str) -> Audio:
    """Silence one to three short spans (SpecAugment's time mask on the waveform), with 5 ms fades at the edges."""
    samples = audio.samples.copy()
    n = len(samples)
    fade = max(1, int(0.005 * audio.sample_rate))
    for _ in range(MASKS[strength]):
        width = int(float(rng.uniform(0.2, 1.0)) * TIME_MASK_FRACTION[strength] * n)
        if width < 1:
            continue
        start = int(rng.integers(0, n - width + 1))
        envelope = np.zeros(width, dtype=np.float32)
        ramp = min(fade, width // 2)
        if ramp:
            envelope[:ramp] = np.linspace(1.0, 0.0, ramp)
            envelope[width - ramp :] = np.linspace(0.0, 1.0, ramp)
        samples[start : start + width] *= envelope
    return _out(samples, audio.sample_rate)


def freqmask(audio: Audio, rng: np.random.Generator, strength: str) -> Audio:
    """Remove one to three frequency bands with a band-stop filter (SpecAugment's frequency mask on the
    waveform); band centres are drawn evenly on a log-frequency scale between 150 Hz and 0.8 x Nyquist."""
    from scipy.signal import butter, sosfiltfilt

    samples = audio.samples.astype(np.float64)
    nyquist = audio.sample_rate / 2
    if len(samples) < 64 or nyquist * 0.8 <= 150:
        return _out(samples, audio.sample_rate)
    for _ in range(MASKS[strength]):
        centre = float(np.exp(rng.uniform(np.log(150.0), np.log(0.8 * nyquist))))
        half = float(rng.uniform(0.1, 1.0)) * BAND_OCTAVES[strength] / 2
        low, high = centre / 2**half, min(centre * 2**half, 0.95 * nyquist)
        if high <= low:
            continue
        sos = butter(4, [low / nyquist, high / nyquist], btype="bandstop", output="sos")
        padding = min(len(samples) - 1, 3 * 2 * len(sos))
        samples = sosfiltfilt(sos, samples, padlen=padding)
    return _out(samples, audio.sample_rate)


# In the order they are applied: timing and pitch first, then level, masks and noise last.
TRANSFORMS: dict[str, Transform] = {
    "stretch": stretch, "pitch": pitch, "shift": shift, "gain": gain, "timemask": timemask, "freqmask": freqmask,
    "noise": noise,
}
RATE = {"stretch": 0.6, "pitch": 0.6, "shift": 1.0, "gain": 1.0, "timemask": 0.6, "freqmask": 0.6, "noise": 1.0}


def augment_audio(audio: Audio, rng: np.random.Generator, strength: str, enabled: list[str],
                  backgrounds: Sequence[Audio] = ()) -> Audio:
    """One augmented view: each enabled transform applied with its probability, in the fixed order above;
    ``backgrounds`` are clips the noise transform may mix in."""
    out = _out(audio.samples, audio.sample_rate)
    for name, transform in TRANSFORMS.items():
        chance = rng.random()
        child = np.random.default_rng(rng.integers(2**63))
        if name in enabled and chance < PROBABILITY[strength] * RATE[name]:
            out = noise(out, child, strength, backgrounds) if name == "noise" else transform(out, child, strength)
    return out

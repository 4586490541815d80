"""aiSFX: a 9-layer CNN pretrained on sound-effects libraries (Ma et al., ISMIR 2022)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from handful.backbones.audio.signal import pad_to, window_starts
from handful.backbones.registry import Backbone, BackboneSpec, register_backbone
from handful.data.decode import Audio, resample

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
            y=pad_to(samples, AISFX_N_FFT),
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
            for start in window_starts(len(spec), AISFX_BLOCK, AISFX_BLOCK_HOP):
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
        ms_per_example=70,  # CPU ms per example on 2 cores (shared/BACKBONES.md)
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

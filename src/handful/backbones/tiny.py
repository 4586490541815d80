"""Tiny randomly initialised backbones, one per modality, for fast unit tests. Not for real use.

Their weights come from a fixed private generator, so they are deterministic without touching global seeds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from handful.backbones.registry import Backbone, BackboneSpec, register_backbone
from handful.data.decode import Audio, resample

TINY_DIM = 32


def _projection(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((rows, TINY_DIM)).astype(np.float32) / np.sqrt(rows)


class TinyImage(Backbone):
    """A 16x16 RGB thumbnail through a fixed random projection."""

    def __init__(self) -> None:
        self.weights = _projection(16 * 16 * 3, 1)

    def embed(self, batch: Sequence[Image.Image]) -> np.ndarray:
        return np.tanh(self.trunk(batch) @ self.weights)

    @staticmethod
    def trunk(batch: Sequence[Image.Image]) -> np.ndarray:
        return np.stack([np.asarray(i.resize((16, 16)), dtype=np.float32).ravel() / 255 - 0.5 for i in batch])


class TinyText(Backbone):
    """Hashed character trigrams through a fixed random projection."""

    def __init__(self) -> None:
        self.buckets = 1024
        self.weights = _projection(self.buckets, 2)

    def embed(self, batch: Sequence[str]) -> np.ndarray:
        return np.tanh(self.trunk(batch) @ self.weights)

    def trunk(self, batch: Sequence[str]) -> np.ndarray:
        counts = np.zeros((len(batch), self.buckets), dtype=np.float32)
        for row, text in enumerate(batch):
            padded = f"  {text.lower()}  "
            for i in range(len(padded) - 2):
                bucket = int.from_bytes(hashlib.blake2b(padded[i : i + 3].encode(), digest_size=4).digest())
                counts[row, bucket % self.buckets] += 1.0
        return counts


class TinyAudio(Backbone):
    """Band energies of an 8 kHz magnitude spectrum through a fixed random projection."""

    def __init__(self) -> None:
        self.weights = _projection(64, 3)

    def embed(self, batch: Sequence[Audio]) -> np.ndarray:
        return np.tanh(self.trunk(batch) @ self.weights)

    @staticmethod
    def trunk(batch: Sequence[Audio]) -> np.ndarray:
        rows = []
        for clip in batch:
            samples = resample(clip, 8000)
            spectrum = np.abs(np.fft.rfft(samples, n=2048))[:1024]
            bands = np.log1p(spectrum.reshape(64, 16).mean(axis=1))
            rows.append(bands)
        return np.asarray(rows, dtype=np.float32).reshape(len(batch), 64)


def _tiny_spec(modality: str) -> BackboneSpec:
    return BackboneSpec(
        name=f"tiny-{modality}",
        modality=modality,
        dim=TINY_DIM,
        kind="test",
        description=f"Tiny random {modality} net for unit tests; meaningless features",
        licence="Apache-2.0 (handful)",
        preprocessing={"sample_rate": 8000} if modality == "audio" else {},
    )


@register_backbone(_tiny_spec("image"))
def _tiny_image() -> Backbone:
    return TinyImage()


@register_backbone(_tiny_spec("text"))
def _tiny_text() -> Backbone:
    return TinyText()


@register_backbone(_tiny_spec("audio"))
def _tiny_audio() -> Backbone:
    return TinyAudio()


# Trunks of the tiny backbones, so fine-tuning has a fast unit test: the trunk is the input of the projection
# (thumbnail pixels, trigram counts, band energies) and the tail the projection and tanh, made trainable.

class TinyTrunk(Backbone):
    """The input of a tiny backbone's projection; its tail (:class:`handful.backbones.tails.ProjectionTail`)
    gives back the tiny backbone's features."""

    def __init__(self, inner: TinyImage | TinyText | TinyAudio) -> None:
        self.inner = inner

    def embed(self, batch: Sequence[Any]) -> np.ndarray:
        return np.asarray(self.inner.trunk(batch), dtype=np.float32)


_TINY = {"image": (16 * 16 * 3, 1), "text": (1024, 2), "audio": (64, 3)}  # projection rows, seed


def _tiny_trunk_spec(modality: str) -> BackboneSpec:
    spec = _tiny_spec(modality)
    return BackboneSpec(name=f"{spec.name}:trunk", modality=modality, dim=_TINY[modality][0], kind="test",
                        description=f"Input of the tiny {modality} net's projection, for fine-tuning unit tests",
                        licence=spec.licence, trunk_of=spec.name, tail_gives_frozen=True)


def _tiny_tail(modality: str) -> Any:
    from handful.backbones.tails import ProjectionTail

    rows, seed = _TINY[modality]
    return ProjectionTail(_projection(rows, seed))


@register_backbone(_tiny_trunk_spec("image"), tail=lambda: _tiny_tail("image"))
def _tiny_image_trunk() -> Backbone:
    return TinyTrunk(TinyImage())


@register_backbone(_tiny_trunk_spec("text"), tail=lambda: _tiny_tail("text"))
def _tiny_text_trunk() -> Backbone:
    return TinyTrunk(TinyText())


@register_backbone(_tiny_trunk_spec("audio"), tail=lambda: _tiny_tail("audio"))
def _tiny_audio_trunk() -> Backbone:
    return TinyTrunk(TinyAudio())

"""Decode one image or audio file into a clean in-memory value, or say exactly why it cannot be used.

Every reader of user files goes through here, so the limits (decompression bombs, absurd sizes, empty files)
are enforced in one place. Files are opened read-only and never written.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"})
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif", ".opus"})

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_IMAGE_PIXELS = 64_000_000  # ~8000 x 8000; larger is refused as a likely decompression bomb
MAX_AUDIO_SECONDS = 600.0


MAX_SAMPLE_RATE = 384_000


class BadInputError(ValueError):
    """A single input that cannot be used; the message names the reason and, where it helps, the fix."""


class TooLargeError(BadInputError):
    """A readable input over a size limit (pixels, seconds): a service answers it with 413, not 415."""


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at ``sample_rate`` Hz."""

    samples: np.ndarray
    sample_rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / float(self.sample_rate)


def read_bytes(path: Path) -> bytes:
    """Read a file whole, refusing empty and absurdly large ones."""
    try:
        size = path.stat().st_size
    except OSError as error:
        raise BadInputError(f"cannot read the file ({error.strerror or error})") from error
    if size == 0:
        raise BadInputError("the file is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise BadInputError(f"the file is {size / 1e6:.0f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB limit")
    return path.read_bytes()


def decode_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS) -> Image.Image:
    """Decode image bytes to an RGB image: EXIF rotation applied, transparency put on white, first frame only.

    The size is checked from the header before any pixel is decoded: over ``max_pixels`` raises TooLargeError.
    """
    image: Image.Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > max_pixels:
                raise TooLargeError(
                    f"the image is {width}x{height} pixels, over the {max_pixels:,}-pixel limit "
                    "(a possible decompression bomb); resize it first"
                )
            image.seek(0)
            image.load()
    except BadInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise TooLargeError(f"refused as a possible decompression bomb ({error})") from error
    except Exception as error:  # PIL raises many types for corrupt data; all mean the same to the user
        raise BadInputError(f"not a readable image ({type(error).__name__}: {error})") from error
    try:
        image = ImageOps.exif_transpose(image) or image
    except Exception:  # a broken EXIF block should not lose an otherwise good image
        pass
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def load_image(path: str | Path) -> Image.Image:
    """Read and decode one image file.

    Example:
        >>> from handful.data.decode import load_image
        >>> load_image("photo.jpg").mode  # doctest: +SKIP
        'RGB'
    """
    return decode_image(read_bytes(Path(path)))


def decode_audio(data: bytes, max_seconds: float = MAX_AUDIO_SECONDS) -> Audio:
    """Decode audio bytes (anything libsndfile reads) to mono float32 at the file's own rate.

    A clip over ``max_seconds`` raises TooLargeError. The length is checked from the header and again while
    reading (block by block, mixed to mono as it goes), so a header that lies about it cannot fill the memory.
    """
    import soundfile

    def too_long(frames: int, rate: int) -> TooLargeError:
        return TooLargeError(f"the clip is {frames / rate:.0f} s long, over the {max_seconds:g} s limit; "
                             "cut it into shorter clips")

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as handle:
            rate = int(handle.samplerate)
            if not 1 <= rate <= MAX_SAMPLE_RATE:
                raise BadInputError(f"the sample rate is {rate} Hz, outside 1 to {MAX_SAMPLE_RATE:,} Hz")
            limit = int(max_seconds * rate)
            if handle.frames > limit:
                raise too_long(handle.frames, rate)
            blocks, frames = [], 0
            for block in handle.blocks(blocksize=65_536, dtype="float32", always_2d=True):
                frames += len(block)
                if frames > limit:
                    raise too_long(frames, rate)
                blocks.append(block.mean(axis=1, dtype=np.float32))
    except BadInputError:
        raise
    except Exception as error:
        raise BadInputError(f"not a readable audio file ({type(error).__name__}: {error})") from error
    mono = np.concatenate(blocks).astype(np.float32, copy=False) if blocks else np.zeros(0, np.float32)
    if mono.size == 0:
        raise BadInputError("the audio file holds no samples")
    if not np.isfinite(mono).all():
        raise BadInputError("the audio holds NaN or infinite samples")
    return Audio(samples=mono, sample_rate=rate)


def load_audio(path: str | Path) -> Audio:
    """Read and decode one audio file to mono float32.

    Example:
        >>> from handful.data.decode import load_audio
        >>> load_audio("clip.wav").sample_rate  # doctest: +SKIP
        8000
    """
    return decode_audio(read_bytes(Path(path)))


def resample(audio: Audio, rate: int) -> np.ndarray:
    """Samples of ``audio`` at ``rate`` Hz (no copy when the rate already matches)."""
    if audio.sample_rate == rate:
        return audio.samples
    import librosa

    return librosa.resample(audio.samples, orig_sr=audio.sample_rate, target_sr=rate).astype(np.float32)

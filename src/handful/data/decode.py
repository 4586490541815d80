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
        if size == 0:
            raise BadInputError("the file is empty (0 bytes)")
        if size > MAX_FILE_BYTES:
            raise BadInputError(f"the file is {size / 1e6:.0f} MB, over the {MAX_FILE_BYTES / 1e6:.0f} MB limit")
        with path.open("rb") as handle:
            return handle.read(MAX_FILE_BYTES + 1)
    except PermissionError as error:
        raise BadInputError("cannot read the file: permission denied (check its owner and mode, "
                            "e.g. chmod a+r)") from error
    except OSError as error:
        raise BadInputError(f"cannot read the file ({error.strerror or error})") from error


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height from an image's header, without decoding a pixel (BadInputError if unreadable)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception as error:  # PIL raises many types for corrupt data; all mean the same to the user
        raise BadInputError(f"not a readable image ({type(error).__name__}: {error})") from error


def decode_image(data: bytes, max_pixels: int = MAX_IMAGE_PIXELS, max_side: int | None = None) -> Image.Image:
    """Decode image bytes to an RGB image: EXIF rotation applied, transparency put on white, first frame only.

    The size is checked from the header before any pixel is decoded: over ``max_pixels`` raises TooLargeError.
    16-bit and 32-bit grey images are scaled to 8 bits (not clipped to white). With ``max_side``, an image whose
    longer side is over it is shrunk while decoding (a JPEG decodes at 1/2, 1/4 or 1/8 scale directly), so a
    server holds a small copy, never the full-size one, for longer than one file.
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
            if max_side is not None and max(width, height) > max_side and image.format == "JPEG":
                image.draft("RGB", (max_side, max_side))  # DCT scaling: never holds the full-size pixels
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
    if image.mode.startswith("I") or image.mode == "F":
        image = _to_8bit(image)
    if max_side is not None and max(image.size) > max_side:
        if image.mode == "P":
            image = image.convert("RGBA")
        image.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("RGB")


def _to_8bit(image: Image.Image) -> Image.Image:
    """A 16-bit, 32-bit integer or float grey image as 8-bit grey, scaled (PIL's own convert clips at 255).

    16-bit modes use their full range (0..65535); a 32-bit integer image (how PIL opens some 16-bit PNG and TIFF
    files) is read as 16-bit when its values fit, else stretched between its minimum and maximum; a float image
    in [0, 1] is scaled by 255, any other float range stretched.
    """
    values = np.asarray(image, dtype=np.float64)
    if image.mode.startswith("I;16"):
        low, high = 0.0, 65535.0
    elif image.mode == "F" and values.size and np.nanmin(values) >= 0 and np.nanmax(values) <= 1:
        low, high = 0.0, 1.0
    elif image.mode == "I" and values.size and values.min() >= 0 and values.max() <= 65535:
        low, high = 0.0, 65535.0 if values.max() > 255 else 255.0
    else:
        finite = values[np.isfinite(values)]
        low, high = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    scaled = np.nan_to_num((values - low) * (255.0 / max(high - low, 1e-12)), nan=0.0)
    return Image.fromarray(np.clip(np.rint(scaled), 0, 255).astype(np.uint8), mode="L")


def load_image(path: str | Path) -> Image.Image:
    """Read and decode one image file.

    Example:
        >>> from handful.data.decode import load_image
        >>> load_image("photo.jpg").mode  # doctest: +SKIP
        'RGB'
    """
    return decode_image(read_bytes(Path(path)))


def audio_size(data: bytes) -> tuple[int, int, int]:
    """(frames, channels, sample rate) from an audio file's header, before decoding (BadInputError if unreadable)."""
    import soundfile

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as handle:
            return int(handle.frames), int(handle.channels), int(handle.samplerate)
    except Exception as error:
        raise BadInputError(f"not a readable audio file ({type(error).__name__}: {error})") from error


def decode_audio(data: bytes, max_seconds: float = MAX_AUDIO_SECONDS, max_samples: int | None = None) -> Audio:
    """Decode audio bytes (anything libsndfile reads) to mono float32 at the file's own rate.

    A clip over ``max_seconds`` raises TooLargeError, as does one holding more than ``max_samples`` samples
    (frames x channels: what decoding costs). Both are checked from the header before decoding and again while
    reading (block by block, mixed to mono as it goes), so a header that lies about them cannot fill the memory.
    """
    import soundfile

    def too_long(frames: int, rate: int) -> TooLargeError:
        return TooLargeError(f"the clip is {frames / rate:.0f} s long, over the {max_seconds:g} s limit; "
                             "cut it into shorter clips")

    def too_many(frames: int, channels: int, limit: int) -> TooLargeError:
        return TooLargeError(f"the clip holds {frames * channels:,} samples ({frames:,} frames x {channels} "
                             f"channels), over the {limit:,}-sample limit; send shorter or lower-rate clips")

    try:
        with soundfile.SoundFile(io.BytesIO(data)) as handle:
            rate = int(handle.samplerate)
            if not 1 <= rate <= MAX_SAMPLE_RATE:
                raise BadInputError(f"the sample rate is {rate} Hz, outside 1 to {MAX_SAMPLE_RATE:,} Hz")
            limit = int(max_seconds * rate)
            channels = max(int(handle.channels), 1)
            sample_limit = max_samples
            if handle.frames > limit:
                raise too_long(handle.frames, rate)
            if sample_limit is not None and handle.frames * channels > sample_limit:
                raise too_many(handle.frames, channels, sample_limit)
            blocks, frames = [], 0
            for block in handle.blocks(blocksize=65_536, dtype="float32", always_2d=True):
                frames += len(block)
                if frames > limit:
                    raise too_long(frames, rate)
                if sample_limit is not None and frames * channels > sample_limit:
                    raise too_many(frames, channels, sample_limit)
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
